"""The page's one inline script: sortable table columns and a row filter.

Plain DOM code with no library and no request, so the page stays one self-contained file that
works offline. Without script the page is still complete: the tables are in rank order.

* ``table.sortable``: each header becomes a button; a click sorts the rows by that column,
  again reverses the order, and ``aria-sort`` on that header alone says which way (none on
  load but where the page was generated in a column's order). Cells that start with a number
  sort by it (``0.642 [0.561, 0.712]`` by 0.642, a shared rank ``1–3`` by 1), the others as text
  (numbers inside compared as numbers); cells with no number (``n/a``, ``–``, ``error``) stay
  below the numbers either way, and equal cells (two ranks 1–2) keep the order the page was
  generated in. A table of several bodies (groups) sorts each body on its own, its
  ``tr.summary`` rows last, so a group's summary stays with its group.
* ``input.filter[aria-controls=ID]``: shows only the rows of table ``ID`` (every body's)
  whose text contains what is typed (case-insensitive), and says how many are shown.
"""

from __future__ import annotations

SCRIPT = r"""
(function () {
  "use strict";
  var NUMBER = /^[-+\u2212]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?/i;
  function key(cell) {
    var text = cell ? cell.textContent.trim() : "";
    var m = NUMBER.exec(text);
    return {num: m ? parseFloat(m[0].replace("\u2212", "-")) : null, text: text};
  }
  function compare(a, b) {
    if (a.num !== null && b.num !== null) return a.num - b.num;
    return a.text.localeCompare(b.text, undefined, {numeric: true});
  }
  function sortBy(table, column, th) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var all = Array.prototype.slice.call(body.rows);
      var rows = all.filter(function (row) { return !row.classList.contains("summary"); })
        .map(function (row) {
          return {row: row, key: key(row.cells[column]), i: +row.getAttribute("data-order")};
        });
      rows.sort(function (a, b) {
        var an = a.key.num !== null, bn = b.key.num !== null;
        if (an !== bn) return an ? -1 : 1;  // numbers first in both directions
        var d = compare(a.key, b.key);
        return (ascending ? d : -d) || a.i - b.i;  // ties: the page's own order
      });
      rows.forEach(function (r) { body.appendChild(r.row); });
      all.forEach(function (row) {  // a group's summary after its rows
        if (row.classList.contains("summary")) body.appendChild(row);
      });
    });
  }
  function allRows(table) {
    return table.querySelectorAll(":scope > tbody > tr");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(allRows(table), function (row, i) {
      row.setAttribute("data-order", i);
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.title = "sort by this column";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, column, th); });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("input.filter"), function (input) {
    var table = document.getElementById(input.getAttribute("aria-controls"));
    var count = input.closest(".filter-box").querySelector(".count");
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase(), rows = allRows(table), shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var hit = !query || row.textContent.toLowerCase().indexOf(query) >= 0;
        row.hidden = !hit;
        shown += hit ? 1 : 0;
      });
      count.textContent = query ? shown + " of " + rows.length + " rows" : "";
    });
  });
})();
""".strip()
