// clinnlp pages: the one script. Everything works without it (links jump, forms post); it adds marking the span
// a link points at, layer switches, file drops, the job's live progress and confirmations. It only ever sets text
// (never HTML), it stores nothing in the browser, and it sends nothing but same-origin requests for a job's status.
"use strict";

(function () {
  const FINISHED = ["COMPLETED", "PARTIAL_SUCCESS", "FAILED", "CANCELLED"];

  // A link to a span of the note (a summary sentence, a term's first place): scroll to it and mark all of it.
  function showSpan(link) {
    const ref = link.dataset.target;
    const anchor = document.getElementById(ref);
    if (!anchor) return false;
    const note = anchor.closest(".note");
    note.querySelectorAll(".current").forEach((el) => el.classList.remove("current"));
    const parts = note.querySelectorAll("[data-regions]");
    parts.forEach((el) => {
      if (el.dataset.regions.split(" ").includes(ref)) el.classList.add("current");
    });
    anchor.scrollIntoView({ block: "center", behavior: "instant" });
    anchor.focus({ preventScroll: true });
    return true;
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.source-link[data-target]");
    if (link && showSpan(link)) event.preventDefault();
  });

  // After an analysis, go to its results (on a phone they are below the form);
  // After a form came back with an error, go to the message.
  const arrived = document.getElementById("form-error") || document.getElementById("results");
  if (arrived) {
    arrived.focus({ preventScroll: true });
    arrived.scrollIntoView({ block: "start", behavior: "instant" });
  }

  // A term's tooltip (label and weight) beside it, kept inside the window, for the pointer and the keyboard alike;
  // Escape hides it. Without this script a stylesheet rule shows the same text under the term.
  document.documentElement.classList.add("js");
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.id = "tip";
  tip.setAttribute("role", "tooltip");
  tip.hidden = true;
  document.body.appendChild(tip);
  let shown = null;
  function showTip(mark) {
    shown = mark;
    // Overlapping terms: one line each (text only, never HTML).
    tip.replaceChildren(...mark.dataset.tip.split(" | ").map((line) => {
      const row = document.createElement("div");
      row.textContent = line;
      return row;
    }));
    tip.hidden = false;
    const box = mark.getBoundingClientRect();
    const width = tip.offsetWidth;
    const height = tip.offsetHeight;
    const left = Math.max(8, Math.min(box.left, window.innerWidth - width - 8));
    const below = box.bottom + 6 + height <= window.innerHeight - 8;
    tip.style.left = left + "px";
    tip.style.top = (below ? box.bottom + 6 : Math.max(8, box.top - height - 6)) + "px";
  }
  const hideTip = () => { tip.hidden = true; shown = null; };
  const followTip = () => { if (shown) showTip(shown); };  // the term moved (scrolling, a resized window)
  document.addEventListener("mouseover", (event) => {
    const mark = event.target.closest && event.target.closest("mark.hl[data-tip]");
    if (mark) showTip(mark);
  });
  document.addEventListener("mouseout", (event) => {
    const mark = event.target.closest && event.target.closest("mark.hl[data-tip]");
    if (mark && !mark.contains(event.relatedTarget) && document.activeElement !== mark) hideTip();
  });
  document.addEventListener("focusin", (event) => {
    if (event.target.matches && event.target.matches("mark.hl[data-tip]")) showTip(event.target);
  });
  document.addEventListener("focusout", (event) => {
    if (event.target.matches && event.target.matches("mark.hl[data-tip]")) hideTip();
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") hideTip(); });
  document.querySelectorAll(".note").forEach((note) => note.addEventListener("scroll", followTip, { passive: true }));
  window.addEventListener("scroll", followTip, { passive: true });
  window.addEventListener("resize", followTip);

  // Layer switches ("Highlight terms"): shown only when this script runs.
  document.querySelectorAll(".layers").forEach((box) => {
    box.hidden = false;
    box.querySelectorAll("input[data-layer]").forEach((input) => {
      input.addEventListener("change", () => {
        const note = document.getElementById(input.dataset.note);
        note.classList.toggle("hide-" + input.dataset.layer, !input.checked);
      });
    });
  });

  // Drop a file on a drop zone: it becomes the zone's file input's file.
  document.querySelectorAll(".drop[data-input]").forEach((zone) => {
    const input = document.getElementById(zone.dataset.input);
    ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    }));
    ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });

  // The analysis form: an analysis that is not ticked has its options switched off.
  document.querySelectorAll("fieldset.run input[name=run]").forEach((box) => {
    const options = document.getElementById("options-" + box.value);
    const sync = () => { if (options) options.disabled = !box.checked; };
    box.addEventListener("change", sync);
    sync();
  });

  // The job form: only the chosen operation's options are shown.
  const radios = document.querySelectorAll(".operation-choice input[name=operation]");
  function showChosen() {
    radios.forEach((radio) => {
      const options = document.getElementById(radio.dataset.options);
      if (options) {
        options.hidden = !radio.checked;
        options.disabled = !radio.checked;
      }
    });
  }
  radios.forEach((radio) => radio.addEventListener("change", showChosen));
  if (radios.length) showChosen();

  // Busy buttons, and confirmations before deleting.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    if (button && form.matches(".analyze-form, .job-form")) {
      button.setAttribute("aria-busy", "true");
      button.textContent = "Working…";
    }
  });

  // A job's page: poll its status until it finishes, then reload to show the final state and the downloads.
  const job = document.getElementById("job");
  if (job && job.dataset.finished === "false") {
    const bar = document.getElementById("job-progress");
    const counts = document.getElementById("job-counts");
    const status = document.getElementById("job-status");
    let failures = 0;
    let polls = 0;
    const poll = async () => {
      polls += 1;
      try {
        const response = await fetch(job.dataset.progressUrl, {
          credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
        });
        if (!response.ok) throw new Error(String(response.status));
        const state = await response.json();
        const p = state.progress;
        bar.max = Math.max(p.total, 1);
        bar.value = p.processed + p.failed;
        counts.textContent = `${p.processed} done, ${p.failed} failed, of ${p.total} records`;
        const badge = status.querySelector(".status");
        badge.textContent = state.status;
        badge.className = "status status-" + state.status.toLowerCase();
        failures = 0;
        if (FINISHED.includes(state.status)) {
          window.location.reload();
          return;
        }
      } catch (error) {
        failures += 1;
        if (failures > 5) {
          counts.textContent += " (status unavailable: reload the page)";
          return;
        }
      }
      // Every second at first, then less often (each poll is a request in the audit trail).
      window.setTimeout(poll, Math.min(5000, 1000 + 100 * polls));
    };
    window.setTimeout(poll, 500);
  }
})();
