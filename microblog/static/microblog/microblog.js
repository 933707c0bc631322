// Progressive enhancement only: every feature works without this file.
// - a character counter under the compose text box;
// - a confirmation before deleting a post.
(function () {
  "use strict";
  function setupCounter(textarea) {
    var limit = parseInt(textarea.getAttribute("data-max-chars"), 10);
    var form = textarea.form;
    var counter = form && form.querySelector(".counter");
    if (!limit || !counter) { return; }
    function update() {
      var left = limit - Array.from(textarea.value).length;
      counter.textContent = String(left);
      counter.classList.toggle("over", left < 0);
    }
    counter.hidden = false;
    textarea.addEventListener("input", update);
    update();
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-max-chars]").forEach(setupCounter);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
