(function () {
  "use strict";
  var hidden = {}, running = [];
  function all(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }
  function apply() {
    all("[data-filter]").forEach(function (box) { box.checked = !hidden[box.getAttribute("data-filter")]; });
    all("#matrix td.cell, section.repo").forEach(function (el) { el.hidden = !!hidden[el.getAttribute("data-state")]; });
    all("#matrix tr[data-ticket]").forEach(function (row) {
      var cells = row.querySelectorAll("td.cell");
      row.hidden = cells.length > 0 && !row.querySelector("td.cell:not([hidden])");
    });
    var list = document.getElementById("running");
    if (list) {
      list.textContent = "";
      running.forEach(function (name) {
        var item = document.createElement("li");
        item.textContent = name;
        list.appendChild(item);
      });
    }
    all("td.cell, section.repo").forEach(function (el) {
      var own = el.getAttribute("data-ticket") + "/" + el.getAttribute("data-repo");
      var busy = running.some(function (name) {
        var task = name.slice(name.indexOf(":") + 1);
        return task === own || task.indexOf(own + "/") === 0;
      });
      el.classList.toggle("running", busy);
    });
  }
  document.addEventListener("change", function (event) {
    var box = event.target, word = box.getAttribute && box.getAttribute("data-filter");
    if (word) { hidden[word] = !box.checked; apply(); }
  });
  document.addEventListener("DOMContentLoaded", apply);
  if (location.protocol.indexOf("http") !== 0 || !window.EventSource) { return; }
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { cache: "no-store" }).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (text) {
      if (text !== null) {
        var open = all("details[open][id]").map(function (d) { return d.id; });
        var page = new DOMParser().parseFromString(text, "text/html");
        document.body.innerHTML = page.body.innerHTML;
        open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
      }
      apply();
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  new EventSource("/events").onmessage = function (event) {
    try { running = JSON.parse(event.data).running || []; } catch (e) { running = []; }
    refresh();
  };
})();
