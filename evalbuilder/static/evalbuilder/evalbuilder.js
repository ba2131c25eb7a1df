// Progressive enhancement, loaded on every page: the error summary takes focus, the
// occupation list filters as you type, and the task editor gets a live points total,
// criteria added in place, and drafts saved when the page is hidden or left.
// Every page works without it.
(function () {
  "use strict";

  const summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
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

    // Saves the draft in the background; resolves true when the draft is saved (or clean).
    function saveDraft(keepalive) {
      if (!dirty || submitting) {
        return Promise.resolve(true);
      }
      dirty = false;
      const data = new FormData(form);
      data.append("save", "1");
      return fetch(form.action || window.location.href, {
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
              status.classList.remove("error");
              status.removeAttribute("role");
              return true;
            }
            dirty = true;
            warn(body.error || "The draft could not be saved automatically.");
            return false;
          });
        })
        .catch(function () {
          dirty = true;
          warn("The draft could not be saved automatically: save it before you leave.");
          return false;
        });
    }

    function warn(message) {
      status.textContent = message;
      status.classList.add("error");
      status.setAttribute("role", "alert");
    }

    // A save every minute while there are changes, and a prompt before leaving with any:
    // the save on leaving is best effort (browsers cap what a closing page may send).
    window.setInterval(function () {
      saveDraft(false);
    }, 60000);
    window.addEventListener("beforeunload", function (event) {
      if (dirty && !submitting) {
        event.preventDefault();
        event.returnValue = "";
      }
    });

    // Forms beside the editor (attach a file, calibrate) act on the saved draft: save the
    // edits first, so that what they see is what is on screen and nothing is lost.
    document.querySelectorAll("form[data-save-draft-first]").forEach(function (other) {
      other.addEventListener("submit", function (event) {
        if (!dirty) {
          return;
        }
        event.preventDefault();
        saveDraft(false).then(function (saved) {
          if (saved) {
            submitting = true;
            other.submit();
          }
        });
      });
    });

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        saveDraft(true);
      }
    });
    window.addEventListener("pagehide", function () {
      saveDraft(true);
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
