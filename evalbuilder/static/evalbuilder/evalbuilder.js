// Progressive enhancement, loaded on every page: the error summary takes focus, the
// occupation list filters as you type, the task editor gets a live points total,
// criteria added in place, and drafts saved when the page is hidden or left, and a run's
// page follows its progress live. Every page works without it.
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
  document.querySelectorAll("[data-progress-url]").forEach(followProgress);
  document.querySelectorAll("form[data-confirm]").forEach(function (other) {
    other.addEventListener("submit", function (event) {
      if (!window.confirm(other.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

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

  // Polls a run's progress.json every 2 s until the run is finished and updates the page in
  // place: numbers ([data-progress]), the bar, errors by kind, which controls are shown, and
  // the status, which sits in a live region so that a change of status is announced.
  function followProgress(section) {
    const url = section.dataset.progressUrl;
    const bar = section.querySelector("progress");
    const errors = section.querySelector("[data-progress-errors]");
    const status = document.querySelector("[data-progress-status]");
    const reload = document.getElementById("run-reload");
    const pollMs = 2000;
    const retryMs = 10000;
    let shownErrors = null;

    function format(value, kind, empty) {
      if (value === null || value === undefined || value === "") {
        return empty || "";
      }
      if (kind === "money") {
        return Number(value).toFixed(4);
      }
      if (kind === "count") {
        return Number(value).toLocaleString("en-US");
      }
      return String(value);
    }

    function showErrors(byKind) {
      const key = JSON.stringify(byKind);
      if (key === shownErrors) {
        return;
      }
      shownErrors = key;
      const kinds = Object.keys(byKind);
      errors.replaceChildren();
      kinds.forEach(function (kind) {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.className = "code";
        name.textContent = kind || "other";
        item.append(name, ": " + byKind[kind]);
        errors.append(item);
      });
      if (kinds.length === 0) {
        const none = document.createElement("li");
        none.className = "muted";
        none.textContent = "none";
        errors.append(none);
      }
    }

    function show(data) {
      document.querySelectorAll("[data-progress]").forEach(function (element) {
        const text = format(
          data[element.dataset.progress],
          element.dataset.format,
          element.dataset.empty
        );
        if (element.textContent !== text) {
          element.textContent = text;
        }
      });
      document.querySelectorAll("[data-progress-show]").forEach(function (element) {
        element.hidden = !data[element.dataset.progressShow];
      });
      document.querySelectorAll("[data-run-control]").forEach(function (form) {
        form.hidden = !data["can_" + form.dataset.runControl];
      });
      bar.max = Math.max(data.planned, 1);
      bar.value = data.written;
      if (errors) {
        showErrors(data.errors_by_kind);
      }
      // Only a change of status touches the live region, so only that is announced.
      if (status && status.dataset.progressStatus !== data.status) {
        status.dataset.progressStatus = data.status;
        status.className = "status status-" + data.status;
        status.textContent = data.status_display;
        if (reload && data.is_finished) {
          reload.hidden = false;
        }
      }
    }

    function poll() {
      if (document.visibilityState === "hidden") {
        window.setTimeout(poll, pollMs);
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("progress answered " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          show(data);
          if (!data.is_finished) {
            window.setTimeout(poll, pollMs);
          }
        })
        .catch(function () {
          // Signed out, a restart, a network blip: the page stays as it was; try again later.
          window.setTimeout(poll, retryMs);
        });
    }

    window.setTimeout(poll, pollMs);
  }
})();
