// Progressive enhancement of the task editor: live points total, adding criteria,
// and saving the draft when the page is hidden or left. Every feature works without it.
(function () {
  "use strict";

  const form = document.getElementById("task-editor");
  if (form) {
    enhanceEditor(form);
  }
  document.querySelectorAll("[data-filter-select]").forEach(enhanceFilter);

  function enhanceEditor(form) {
    const total = document.getElementById("positive-total");
    const list = document.getElementById("criteria");
    const template = document.getElementById("criterion-template");
    const addButton = document.getElementById("add-criterion");
    const totalForms = form.querySelector('input[name="criteria-TOTAL_FORMS"]');
    const revision = form.querySelector('input[name="revision"]');
    const status = document.getElementById("autosave-status");
    let dirty = false;
    let submitting = false;

    function updateTotal() {
      let sum = 0;
      list.querySelectorAll(".criterion-row").forEach(function (row) {
        const points = row.querySelector('input[name$="-points"]');
        const removed = row.querySelector('input[name$="-DELETE"]');
        const value = parseInt(points && points.value, 10);
        if (value > 0 && !(removed && removed.checked)) {
          sum += value;
        }
      });
      total.textContent = String(sum);
    }

    addButton.hidden = false;
    addButton.addEventListener("click", function () {
      const index = parseInt(totalForms.value, 10);
      const html = template.innerHTML.replace(/__prefix__/g, String(index));
      list.insertAdjacentHTML("beforeend", html);
      totalForms.value = String(index + 1);
      const added = list.lastElementChild.querySelector("textarea");
      if (added) {
        added.focus();
      }
    });

    form.addEventListener("input", function () {
      dirty = true;
      updateTotal();
    });
    form.addEventListener("submit", function () {
      submitting = true;
    });
    updateTotal();

    function autosave(keepalive) {
      if (!dirty || submitting) {
        return;
      }
      dirty = false;
      const data = new FormData(form);
      data.append("save", "1");
      fetch(form.action || window.location.href, {
        method: "POST",
        body: data,
        keepalive: keepalive,
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      })
        .then(function (response) {
          return response.json().then(function (body) {
            if (response.ok) {
              revision.value = String(body.revision);
              status.textContent = "Draft saved automatically.";
            } else {
              dirty = true;
              status.textContent = body.error || "The draft could not be saved automatically.";
            }
          });
        })
        .catch(function () {
          dirty = true;
          status.textContent = "The draft could not be saved automatically.";
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        autosave(true);
      }
    });
    window.addEventListener("pagehide", function () {
      autosave(true);
    });
  }

  // Filters the options of a select as the user types in the search box beside it.
  function enhanceFilter(input) {
    const select = document.getElementById(input.dataset.filterSelect);
    if (!select) {
      return;
    }
    input.addEventListener("input", function () {
      const needle = input.value.toLowerCase();
      Array.prototype.forEach.call(select.options, function (option) {
        option.hidden = needle !== "" && option.text.toLowerCase().indexOf(needle) === -1;
      });
    });
  }
})();
