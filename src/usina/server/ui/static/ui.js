// usina console: a little progressive enhancement; every page works without it.
// - forms with data-confirm ask before they are sent (the rollback button);
// - selects with data-autosubmit send their form when changed;
// - the runs table's "Compare" boxes fill the two run ids the compare form sends.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
    if (target.matches && target.matches("input[data-pick]") && target.form) {
      var picked = Array.prototype.filter.call(
        target.form.querySelectorAll("input[data-pick]"),
        function (box) { return box.checked; }
      ).map(function (box) { return box.value; });
      target.form.elements.a.value = picked[0] || "";
      target.form.elements.b.value = picked[1] || "";
    }
  });
})();
