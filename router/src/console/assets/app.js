// The live view: CloudEvents from the router's server-sent events, newest first; the router's
// last events come first on connect, marked as history. Every value is put on the page as text
// (textContent), never as markup. A bounded list: the oldest rows go.
"use strict";

const MAX_ROWS = 500;
const rows = [];
// Events that happened before this page connected (the router's last ones), and every
// event's source and id, so a reconnect's history adds nothing twice.
const historic = new WeakSet();
const seen = new Set();
let paused = false;
let selected = null;

/// The names of the vSphere entities an event is about (data.Vm.Name, data.Host.Name, ...).
function entities(ev) {
  const d = ev && typeof ev.data === "object" && ev.data !== null ? ev.data : {};
  const names = [];
  for (const k of ["Datacenter", "ComputeResource", "Host", "Vm", "Ds", "Net", "Dvs"]) {
    const v = d[k];
    if (v && typeof v === "object" && typeof v.Name === "string" && v.Name && !names.includes(v.Name)) names.push(v.Name);
  }
  return names.join(", ");
}

function matches(ev) {
  const want = (id) => $(id).value.trim().toLowerCase();
  const has = (value, needle) => !needle || String(value || "").toLowerCase().includes(needle);
  return has(ev.type, want("f-type")) && has(ev.subject, want("f-subject")) && has(ev.source, want("f-source"));
}

function show(ev, tr) {
  if (selected) selected.classList.remove("selected");
  selected = tr;
  tr.classList.add("selected");
  $("json").textContent = JSON.stringify(ev, null, 2);
  $("detail").hidden = false;
}

function render() {
  const body = $("rows");
  body.replaceChildren();
  let shown = 0;
  for (const ev of rows) {
    if (!matches(ev)) continue;
    const tr = document.createElement("tr");
    cell(tr, ev.time || "");
    cell(tr, ev.source || "");
    cell(tr, ev.type || "");
    cell(tr, ev.subject || "");
    cell(tr, entities(ev));
    tr.dataset.id = ev.id || "";
    if (historic.has(ev)) {
      tr.classList.add("history");
      tr.title = "before this page opened";
    }
    tr.addEventListener("click", () => show(ev, tr));
    body.appendChild(tr);
    shown += 1;
  }
  $("count").textContent = `${shown} of ${rows.length} events` + (paused ? " (paused)" : "");
}

function add(ev, past) {
  const key = `${ev.source}\u0000${ev.id}`;
  if (seen.has(key)) return;
  seen.add(key);
  if (past) historic.add(ev);
  rows.unshift(ev);
  if (rows.length > MAX_ROWS) {
    for (const gone of rows.splice(MAX_ROWS)) seen.delete(`${gone.source}\u0000${gone.id}`);
  }
  if (!paused) render();
}

function connect() {
  const source = new EventSource("stream");
  source.onopen = () => {
    $("status").textContent = "live";
    $("status").className = "status live";
  };
  source.onerror = () => {
    $("status").textContent = "reconnecting…";
    $("status").className = "status down";
  };
  source.onmessage = (m) => {
    try {
      add(JSON.parse(m.data), false);
    } catch (e) {
      // Not an event: ignore.
    }
  };
  source.addEventListener("history", (m) => {
    try {
      add(JSON.parse(m.data), true);
    } catch (e) {
      // Not an event: ignore.
    }
  });
  let missed = 0;
  const notice = (n, why) => {
    missed += Number(n) || 0;
    $("notice").hidden = false;
    $("notice").textContent = `${missed} events were not shown (${why}); every one was delivered.`;
  };
  source.addEventListener("lagged", (m) => notice(m.data, "this page fell behind the router"));
  source.addEventListener("skipped", (m) => notice(m.data, "more than 200 a second: the view shows the first 200 of each second"));
}

/// The views: `#live` (default), `#health`, `#dead-letters`, `#appliance`; each shows
/// `#view-<name>` and tells its script with a `console:view` event.
const VIEWS = ["live", "health", "dead-letters", "appliance"];
function route() {
  const hash = location.hash.slice(1);
  const view = VIEWS.includes(hash) ? hash : "live";
  for (const v of VIEWS) {
    $(`view-${v}`).hidden = v !== view;
    $(`nav-${v}`).classList.toggle("current", v === view);
  }
  document.dispatchEvent(new CustomEvent("console:view", { detail: view }));
}

document.addEventListener("DOMContentLoaded", () => {
  window.addEventListener("hashchange", route);
  setTimeout(route);
  for (const id of ["f-type", "f-subject", "f-source"]) $(id).addEventListener("input", render);
  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(paused));
    render();
  });
  $("clear").addEventListener("click", () => {
    rows.length = 0;
    seen.clear();
    $("detail").hidden = true;
    render();
  });
  $("close").addEventListener("click", () => { $("detail").hidden = true; });
  $("copy").addEventListener("click", () => {
    if (navigator.clipboard) navigator.clipboard.writeText($("json").textContent);
  });
  render();
  connect();
});
