// pgdiag HTML report: selecting a plan node (in the flame graph, the tree or a finding) shows its
// details in the statement's panel. Everything stays readable without this script.
(function () {
  "use strict";
  var selected = [];
  function select(id) {
    var detail = document.getElementById("detail-" + id);
    var panel = document.getElementById("panel-" + id.slice(0, id.lastIndexOf("-n")));
    if (!detail || !panel) { return; }
    for (var i = 0; i < selected.length; i++) { selected[i].classList.remove("selected"); }
    selected = Array.prototype.slice.call(document.querySelectorAll('[data-node="' + id + '"]'));
    for (var j = 0; j < selected.length; j++) { selected[j].classList.add("selected"); }
    var copy = detail.cloneNode(true);
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
    if (el && el.classList && el.classList.contains("fg-node")) {
      event.preventDefault();
      select(el.getAttribute("data-node"));
    }
  });
})();
