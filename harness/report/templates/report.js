(function () {
  "use strict";
  var table = document.getElementById("outcome-table");
  var input = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);

  function applyFilter() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var tags = (row.getAttribute("data-tags") + " " + row.textContent).toLowerCase();
      var keep = words.every(function (w) { return tags.indexOf(w) !== -1; });
      row.hidden = !keep;
      if (keep) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " shown";
  }

  function sortBy(header, index) {
    var ascending = !header.classList.contains("asc");
    Array.prototype.forEach.call(header.parentNode.children, function (th) { th.classList.remove("asc", "desc"); });
    header.classList.add(ascending ? "asc" : "desc");
    var numeric = header.classList.contains("num");
    rows.sort(function (a, b) {
      var x = a.cells[index].textContent, y = b.cells[index].textContent;
      var order = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y, undefined, {numeric: true});
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    th.addEventListener("click", function () { sortBy(th, i); });
  });
  input.addEventListener("input", applyFilter);
  document.getElementById("clear").addEventListener("click", function () { input.value = ""; applyFilter(); });
  Array.prototype.forEach.call(document.querySelectorAll("[data-filter]"), function (link) {
    link.addEventListener("click", function () { input.value = link.getAttribute("data-filter"); applyFilter(); });
  });
  if (window.location.hash.indexOf("#filter=") === 0) { input.value = decodeURIComponent(window.location.hash.slice(8)); }
  applyFilter();
})();
