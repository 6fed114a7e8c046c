// The dead-letters view: the router's dead-letter file (newest first, the letters' heads), one
// letter's JSON fetched whole when its row is opened, and replay for one event or all, with what
// happened to each. Values go on the page as text.
"use strict";

(() => {
  const token = () => document.querySelector('meta[name="csrf-token"]').content;

  function say(text, bad) {
    $("dlq-result").textContent = text;
    $("dlq-result").className = bad ? "result bad" : "result";
  }

  async function load() {
    let doc;
    try {
      const r = await fetch("dead-letters", { cache: "no-store" });
      doc = await r.json();
      if (!r.ok) throw new Error(doc.error || r.statusText);
    } catch (e) {
      say(`Cannot list the dead letters: ${e.message}`, true);
      return;
    }
    const body = $("dlq-rows");
    body.replaceChildren();
    if (!doc.configured) {
      $("dlq-count").textContent = "This router writes no dead-letter file (set deadLetterFile, or checkpointing on a vCenter).";
      $("dlq-replay-all").disabled = true;
      return;
    }
    $("dlq-file").textContent = doc.file;
    $("dlq-count").textContent = doc.total === doc.letters.length
      ? `${doc.total} dead letters` : `newest ${doc.letters.length} of ${doc.total} dead letters`;
    $("dlq-replay-all").disabled = doc.total === 0;
    for (const l of doc.letters) {
      const tr = document.createElement("tr");
      const ev = l.event || {};
      tr.dataset.id = ev.id || "";
      if (!l.event) {
        cell(tr, `line ${l.line}`);
        cell(tr, "");
        cell(tr, "");
        cell(tr, "");
        cell(tr, l.unreadable || "", "error");
        cell(tr, "");
      } else {
        cell(tr, l.time || "");
        cell(tr, l.processor || "");
        cell(tr, ev.type || "");
        cell(tr, ev.subject || "");
        cell(tr, l.error || "", "error");
        const td = cell(tr, "");
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = "Replay";
        b.className = "replay";
        b.addEventListener("click", (e) => { e.stopPropagation(); replay(ev.id); });
        td.appendChild(b);
      }
      tr.addEventListener("click", () => show(l));
      body.appendChild(tr);
    }
  }

  // One letter whole, as the file holds it (a list carries only each letter's head).
  async function show(l) {
    $("dlq-json").textContent = "Loading…";
    $("dlq-detail").hidden = false;
    if (!l.event) {
      $("dlq-json").textContent = JSON.stringify(l, null, 2);
      return;
    }
    try {
      const q = `line=${encodeURIComponent(l.line)}&id=${encodeURIComponent(l.event.id)}`;
      const r = await fetch(`dead-letters/letter?${q}`, { cache: "no-store" });
      const doc = await r.json();
      if (!r.ok) throw new Error(doc.error || r.statusText);
      $("dlq-json").textContent = JSON.stringify(doc, null, 2);
    } catch (e) {
      $("dlq-json").textContent = `Cannot show line ${l.line}: ${e.message}`;
    }
  }

  async function replay(id) {
    say(id ? `Replaying event ${id}…` : "Replaying every dead letter…");
    try {
      const r = await fetch("dead-letters/replay", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token() }, body: JSON.stringify(id ? { event: id } : {}),
      });
      const s = await r.json();
      if (!r.ok) throw new Error(s.error || r.statusText);
      const lines = s.outcomes.map((o) => `${o.event || `line ${o.line}`} → ${o.processor || "?"}: ${o.result}${o.detail ? ` (${o.detail})` : ""}`);
      say(`Replayed ${s.replayed}, failed again ${s.failed}, kept ${s.kept}. ${lines.join("; ")}`, s.failed + s.kept > 0);
    } catch (e) {
      say(`Replay failed: ${e.message}`, true);
    }
    $("dlq-detail").hidden = true;
    await load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("dlq-refresh").addEventListener("click", load);
    $("dlq-replay-all").addEventListener("click", () => replay(null));
    $("dlq-close").addEventListener("click", () => { $("dlq-detail").hidden = true; });
    document.addEventListener("console:view", (e) => { if (e.detail === "dead-letters") load(); });
  });
})();
