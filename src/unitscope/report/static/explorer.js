/* unitscope explorer: search box on every page, sort and filter on layer pages.
   Data is only ever inserted with textContent, never innerHTML. */
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";
  var kinds = { unit: 0, layer: 1, concept: 2, tree: 3 };

  function normalize(text) {
    var q = text.trim().toLowerCase();
    var spaced = /^(\S+)\s+(\d+)$/.exec(q);
    return spaced ? spaced[1] + ":" + spaced[2] : q;
  }

  function search(text, limit) {
    var q = normalize(text);
    if (!q) { return []; }
    var index = window.UNITSCOPE_INDEX || [];
    var scored = [];
    for (var i = 0; i < index.length; i++) {
      var name = index[i].name.toLowerCase();
      var rank = name === q ? 0 : name.indexOf(q) === 0 ? 1 : name.indexOf(q) > 0 ? 2 : -1;
      if (rank >= 0) { scored.push([rank, kinds[index[i].kind], i]); }
    }
    scored.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1] || a[2] - b[2]; });
    return scored.slice(0, limit).map(function (s) { return index[s[2]]; });
  }

  function showResults(list, found) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    found.forEach(function (entry) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + entry.url;
      a.className = "result " + entry.kind;
      var name = document.createElement("span");
      name.className = "result-name";
      name.textContent = entry.name;
      var detail = document.createElement("span");
      detail.className = "result-detail";
      detail.textContent = entry.kind + (entry.detail ? " · " + entry.detail : "");
      a.appendChild(name);
      a.appendChild(detail);
      li.appendChild(a);
      list.appendChild(li);
    });
    list.hidden = found.length === 0;
  }

  function setupSearch(form) {
    var input = form.querySelector(".search-input");
    var list = form.querySelector(".search-results");
    input.addEventListener("input", function () { showResults(list, search(input.value, 12)); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { list.hidden = true; }
      if (event.key === "ArrowDown" && list.firstChild) {
        event.preventDefault();
        list.firstChild.firstChild.focus();
      }
    });
    list.addEventListener("keydown", function (event) {
      var item = document.activeElement && document.activeElement.parentNode;
      if (!item || item.parentNode !== list) { return; }
      var next = event.key === "ArrowDown" ? item.nextSibling : event.key === "ArrowUp" ? item.previousSibling : null;
      if (next) { event.preventDefault(); next.firstChild.focus(); }
      if (event.key === "ArrowUp" && !item.previousSibling) { event.preventDefault(); input.focus(); }
      if (event.key === "Escape") { list.hidden = true; input.focus(); }
    });
    document.addEventListener("click", function (event) {
      if (!form.contains(event.target)) { list.hidden = true; }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var found = search(input.value, 1);
      if (found.length) {
        window.location.href = root + found[0].url;
      } else {
        showResults(list, []);
        input.setCustomValidity("nothing matches; try conv5:0, a layer name or a concept");
        input.reportValidity();
        input.setCustomValidity("");
      }
    });
  }

  function setupGrid(grid) {
    var sort = document.querySelector(".grid-sort");
    var filter = document.querySelector(".grid-filter");
    var count = document.querySelector(".grid-count");
    var cards = Array.prototype.slice.call(grid.querySelectorAll(".card"));
    var keys = {
      unit: function (a, b) { return Number(a.dataset.unit) - Number(b.dataset.unit); },
      iou: function (a, b) { return Number(b.dataset.iou) - Number(a.dataset.iou) || keys.unit(a, b); },
      category: function (a, b) {
        var ca = a.dataset.category || "\uffff", cb = b.dataset.category || "\uffff";
        return ca < cb ? -1 : ca > cb ? 1 : keys.iou(a, b);
      }
    };
    function update() {
      var q = filter ? filter.value.trim().toLowerCase() : "";
      cards.sort(keys[sort ? sort.value : "unit"] || keys.unit);
      var shown = 0;
      cards.forEach(function (card) {
        var label = (card.dataset.label || "").toLowerCase();
        card.hidden = q !== "" && label.indexOf(q) < 0;
        if (!card.hidden) { shown += 1; }
        grid.appendChild(card);
      });
      if (count) { count.textContent = shown + " of " + cards.length + " units"; }
    }
    if (sort) { sort.addEventListener("change", update); }
    if (filter) { filter.addEventListener("input", update); }
    update();
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.search"), setupSearch);
  var grid = document.querySelector(".grid[data-sortable]");
  if (grid) { setupGrid(grid); }
})();
