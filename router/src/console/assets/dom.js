// What every view's script shares, loaded first: the element by id, a table cell and a
// definition-list row, each putting its value on the page as text (never as markup).
"use strict";

const $ = (id) => document.getElementById(id);

/// Appends a cell with `text` (also its tooltip) to the row `tr`; `cls` sets its class.
function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  td.title = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

/// Appends `name` and its `value` to the definition list `dl`.
function row(dl, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}
