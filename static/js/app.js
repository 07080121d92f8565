/* AX CRM: the little behaviour the pages need, kept out of the HTML so the CSP can forbid inline script.
   Forms with data-confirm="question" ask before they are sent. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
}());
