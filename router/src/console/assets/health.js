// The health view: one card per source and processor from /ui/health, green when ready and
// red with the reason /readyz gives (a processor: while its sink fails), and charts of the last 15 minutes drawn from the router's
// own samples. Refreshed every 5 s while the view is open. Values go on the page as text.
"use strict";

(() => {
  let timer = null;

  // One series per sample gap: the rate of a counter, or a level as it is.
  function series(history, index, field, rate) {
    const out = [];
    for (let i = rate ? 1 : 0; i < history.length; i++) {
      const v = history[i].values[index];
      if (!v) continue;
      if (!rate) { out.push(v[field]); continue; }
      const prev = history[i - 1].values[index];
      const dt = history[i].t - history[i - 1].t;
      out.push(prev && dt > 0 ? Math.max(0, v[field] - prev[field]) / dt : 0);
    }
    return out;
  }

  function chart(card, caption, values, color) {
    const fig = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 50;
    const max = Math.max(1, ...values);
    const cap = document.createElement("figcaption");
    cap.textContent = values.length < 2 ? `${caption}: collecting…` : `${caption} (max ${Math.round(max * 100) / 100}), last 15 min`;
    fig.append(canvas, cap);
    card.appendChild(fig);
    if (values.length < 2) return;
    const g = canvas.getContext("2d");
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    values.forEach((v, i) => {
      const x = (i / (values.length - 1)) * (canvas.width - 2) + 1;
      const y = canvas.height - 2 - (v / max) * (canvas.height - 4);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }

  function card(c, index, history) {
    const el = document.createElement("article");
    el.className = "card";
    el.dataset.name = c.name;
    el.dataset.role = c.role;
    const h = document.createElement("h3");
    h.textContent = c.name;
    const kind = document.createElement("small");
    kind.textContent = `${c.kind} ${c.role === "EventProvider" ? "source" : "processor"}`;
    h.appendChild(kind);
    el.appendChild(h);
    const dl = document.createElement("dl");
    row(dl, "address", c.address);
    const s = c.stream;
    if (s) {
      if (s.not_ready) {
        el.classList.add("bad");
        const p = document.createElement("p");
        p.className = "reason";
        p.textContent = `not ready: ${s.not_ready}`;
        el.insertBefore(p, null);
      }
      row(dl, "session", s.session_up ? "up" : "down");
      row(dl, "last poll", s.seconds_since_poll == null ? "never" : `${s.seconds_since_poll} s ago`);
      row(dl, "last event read", s.last_event_key == null ? "none yet" : `key ${s.last_event_key} at ${s.last_event_time}`);
      if (s.newest_event_key != null) {
        row(dl, "newest in vCenter", `key ${s.newest_event_key} at ${s.newest_event_time}`);
      }
      if (s.behind_events != null) {
        row(dl, "behind vCenter", `${s.behind_events} events, ${s.behind_seconds == null ? "?" : s.behind_seconds} s`);
      }
      if (s.checkpoint) {
        row(dl, "checkpoint", `key ${s.checkpoint.key} at ${s.checkpoint.event_time} (written ${s.checkpoint.written})`);
      }
    }
    row(dl, c.role === "EventProvider" ? "events read" : "delivered", String(c.events));
    row(dl, "events/s (60 s)", String(c.events_per_sec));
    row(dl, "errors", String(c.errors));
    if (c.role !== "EventProvider") {
      if (c.failing) {
        el.classList.add("bad");
        const p = document.createElement("p");
        p.className = "reason";
        const since = c.unavailable_since ? `sink unavailable since ${c.unavailable_since}, ${c.queued} events waiting; ` : "";
        p.textContent = `${since}failing, retrying: ${c.last_error ? c.last_error.text : "no answer"}`;
        el.insertBefore(p, null);
      }
      row(dl, "retries", String(c.retries));
      row(dl, "dead letters", String(c.dead_letters));
      row(dl, "queue", `${c.queued} of ${c.capacity}`);
    }
    if (c.last_error) row(dl, "last error", `${c.last_error.time}: ${c.last_error.text}`);
    el.appendChild(dl);
    chart(el, "events/s", series(history, index, 0, true), "#0b6fb8");
    if (c.role !== "EventProvider") chart(el, "queued", series(history, index, 3, false), "#8a5a00");
    return el;
  }

  async function load() {
    let doc;
    try {
      const r = await fetch("health", { cache: "no-store" });
      doc = await r.json();
    } catch (e) {
      $("health-summary").textContent = `Cannot read the router's health: ${e.message}`;
      $("health-summary").className = "summary bad";
      return;
    }
    $("health-summary").textContent = doc.ready ? "Ready" : `Not ready: ${doc.problems.join("; ")}`;
    $("health-summary").className = doc.ready ? "summary ok" : "summary bad";
    $("health-cards").replaceChildren(...doc.components.map((c, i) => card(c, i, doc.history)));
  }

  document.addEventListener("console:view", (e) => {
    clearInterval(timer);
    timer = null;
    if (e.detail !== "health") return;
    load();
    timer = setInterval(load, 5000);
  });
})();
