// The appliance view: firstboot's last run (each step, its result, duration and detail), the
// appliance's version and commit, and links to the Knative functions, from /ui/appliance.
// Shown only when the router is told where the appliance's facts are. Refreshed every 10 s
// while the view is open. Values go on the page as text; only http(s) URLs become links.
"use strict";

(() => {
  let timer = null;

  function list(id, items) {
    const ul = $(id);
    ul.replaceChildren();
    for (const item of items || []) {
      const li = document.createElement("li");
      li.textContent = String(item);
      ul.appendChild(li);
    }
    ul.hidden = !items || items.length === 0;
  }

  function release(v) {
    const dl = $("app-release");
    dl.replaceChildren();
    if (v.release_error) row(dl, "release", v.release_error);
    if (v.release) {
      row(dl, "version", v.release.version || "unknown");
      row(dl, "commit", v.release.commit || "unknown");
    }
  }

  function firstboot(v) {
    const summary = $("fb-summary");
    const body = $("fb-rows");
    body.replaceChildren();
    const s = v.firstboot;
    if (!s) {
      summary.textContent = v.firstboot_error || "firstboot's status is not shown here";
      summary.className = "summary bad";
      list("fb-warnings", []);
      list("fb-problems", []);
      $("fb-error").textContent = "";
      return;
    }
    const finished = s.finished ? `finished ${s.finished}` : "did not finish (still running, or it was killed)";
    summary.textContent = `Last run ${s.result}: started ${s.started}, ${finished}; properties from ${s.source}`;
    summary.className = `summary ${s.result === "ok" ? "ok" : "bad"}`;
    for (const step of s.steps || []) {
      const tr = document.createElement("tr");
      cell(tr, step.name);
      cell(tr, step.result, step.result === "failed" ? "error" : "");
      cell(tr, `${Number(step.seconds).toFixed(1)} s`);
      cell(tr, step.detail || "");
      body.appendChild(tr);
    }
    list("fb-warnings", s.warnings);
    list("fb-problems", (s.problems || []).map((p) => `invalid property: ${p}`));
    $("fb-error").textContent = s.error ? `error: ${s.error}` : "";
  }

  function functions(v) {
    const body = $("fn-rows");
    body.replaceChildren();
    $("fn-title").textContent = `Functions in ${v.functions_namespace || "?"}`;
    $("fn-error").textContent = v.functions_error || "";
    for (const f of v.functions || []) {
      const tr = document.createElement("tr");
      tr.dataset.name = f.name;
      cell(tr, f.name);
      const td = cell(tr, "");
      if (f.url && /^https?:\/\//i.test(f.url)) {
        const a = document.createElement("a");
        a.href = f.url;
        a.textContent = f.url;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        td.appendChild(a);
      } else {
        td.textContent = f.url || "no URL yet";
      }
      const state = f.ready === true ? "ready" : f.ready === false ? `not ready: ${f.reason || "?"}` : "unknown";
      cell(tr, state, f.ready === false ? "error" : "");
      body.appendChild(tr);
    }
    $("fn-none").hidden = !v.functions || v.functions.length > 0;
  }

  async function fetchView() {
    const r = await fetch("appliance", { cache: "no-store" });
    if (!r.ok) throw new Error(r.statusText);
    return r.json();
  }

  async function load() {
    try {
      const v = await fetchView();
      // The view's own answer also sets the link, so the two never disagree.
      $("nav-appliance").hidden = !v.enabled;
      release(v);
      firstboot(v);
      $("fn-section").hidden = !v.functions_namespace;
      if (v.functions_namespace) functions(v);
    } catch (e) {
      $("fb-summary").textContent = `cannot load: ${e.message}`;
      $("fb-summary").className = "summary bad";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    fetchView().then((v) => { $("nav-appliance").hidden = !v.enabled; }).catch(() => {});
    document.addEventListener("console:view", (e) => {
      clearInterval(timer);
      timer = null;
      if (e.detail !== "appliance") return;
      load();
      timer = setInterval(load, 10000);
    });
  });
})();
