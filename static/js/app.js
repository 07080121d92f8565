/* AX CRM: the little behaviour the pages need, kept out of the HTML so the CSP can forbid inline script.
   Forms with data-confirm="question" ask before they are sent (the browser's own dialog: keyboard operable,
   Esc cancels). On narrow screens the main menu folds behind a "Menu" button; without script it wraps.
   A table too wide for its box scrolls inside it; such a box is made focusable (and named) so that keyboard
   users can scroll it with the arrow keys. */
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

  function setUpMenu() {
    var toggle = document.querySelector(".nav-toggle");
    var menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (!menu || !window.matchMedia) { return; }
    var narrow = window.matchMedia("(max-width: 640px)");

    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-collapsed", !open);
    }
    function follow() {
      toggle.hidden = !narrow.matches;
      setOpen(!narrow.matches);
    }
    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    // Esc closes the open menu and gives the focus back to its button.
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && narrow.matches) {
        setOpen(false);
        toggle.focus();
      }
    });
    if (narrow.addEventListener) { narrow.addEventListener("change", follow); }
    follow();
  }

  function nameOf(box) {
    var caption = box.querySelector("caption");
    if (caption && caption.textContent.trim()) { return caption.textContent.trim(); }
    // Else the nearest heading before the box, looking outwards up to <main>.
    for (var node = box; node && node.tagName !== "MAIN"; node = node.parentElement) {
      for (var before = node.previousElementSibling; before; before = before.previousElementSibling) {
        if (/^H[1-6]$/.test(before.tagName)) { return before.textContent.trim(); }
        var inner = before.querySelectorAll("h1, h2, h3, h4, h5, h6");
        if (inner.length) { return inner[inner.length - 1].textContent.trim(); }
      }
    }
    return document.title;
  }

  function markScrollingTables() {
    var boxes = document.querySelectorAll(".table-wrap");
    for (var i = 0; i < boxes.length; i += 1) {
      var box = boxes[i];
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("data-scrolls")) {
        box.setAttribute("data-scrolls", box.hasAttribute("aria-label") ? "" : "named");
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label")) { box.setAttribute("aria-label", nameOf(box)); }
      } else if (!scrolls && box.hasAttribute("data-scrolls")) {
        if (box.getAttribute("data-scrolls") === "named") { box.removeAttribute("aria-label"); }
        box.removeAttribute("data-scrolls");
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
      }
    }
  }

  function setUp() {
    setUpMenu();
    markScrollingTables();
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(markScrollingTables, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
}());
