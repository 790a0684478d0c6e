// pgdiag HTML report: selecting a plan node (in the flame graph, the tree or a finding) shows its
// details in the statement's panel. Everything stays readable without this script. A large plan's
// details are not written under its tree rows but kept as JSON (script.plan-data, one array per
// node: id, title, [label, value] rows, conditions, [severity, rule, summary] findings), read once
// on the first selection.
(function () {
  "use strict";
  var selected = [];
  var data = {};
  function planData(key) {
    if (!Object.prototype.hasOwnProperty.call(data, key)) {
      var byId = {};
      var island = document.getElementById("nodes-" + key);
      if (island) {
        var list = JSON.parse(island.textContent);
        for (var i = 0; i < list.length; i++) { byId[list[i][0]] = list[i]; }
      }
      data[key] = byId;
    }
    return data[key];
  }
  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  // The same markup as a static node-detail, built from a node's data with textContent only.
  function built(key, node) {
    var d = planData(key)[node];
    if (!d) { return null; }
    var div = el("div", "node-detail");
    div.appendChild(el("h4", "", d[1]));
    var table = el("table", "kv");
    for (var i = 0; i < d[2].length; i++) {
      var tr = el("tr");
      tr.appendChild(el("th", "", d[2][i][0]));
      tr.appendChild(el("td", "", d[2][i][1]));
      table.appendChild(tr);
    }
    div.appendChild(table);
    if (d[3].length) {
      var ul = el("ul", "conds");
      for (var j = 0; j < d[3].length; j++) { ul.appendChild(el("li", "", d[3][j])); }
      div.appendChild(ul);
    }
    for (var k = 0; k < d[4].length; k++) {
      var p = el("p");
      p.appendChild(el("span", "badge sev-" + d[4][k][0], d[4][k][0]));
      p.appendChild(document.createTextNode(" " + d[4][k][1] + " " + d[4][k][2]));
      div.appendChild(p);
    }
    return div;
  }
  function select(id) {
    var cut = id.lastIndexOf("-n");
    var key = id.slice(0, cut);
    var panel = document.getElementById("panel-" + key);
    var detail = document.getElementById("detail-" + id);
    var copy = detail ? detail.cloneNode(true) : built(key, id.slice(cut + 2));
    if (!copy || !panel) { return; }
    for (var i = 0; i < selected.length; i++) { selected[i].classList.remove("selected"); }
    selected = Array.prototype.slice.call(document.querySelectorAll('[data-node="' + id + '"]'));
    for (var j = 0; j < selected.length; j++) { selected[j].classList.add("selected"); }
    copy.removeAttribute("id");
    panel.textContent = "";
    panel.appendChild(copy);
    panel.setAttribute("data-shows", id);
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    var el = target && target.closest ? target.closest("[data-node]") : null;
    if (el) { select(el.getAttribute("data-node")); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") { return; }
    var el = document.activeElement;
    var node = el && el.closest ? el.closest("[data-node]") : null;
    if (node && el.getAttribute("tabindex") === "0") {
      event.preventDefault();
      select(node.getAttribute("data-node"));
    }
  });
})();
