// postwatch dashboard: theme toggle (remembered in localStorage) and auto-submitting
// period selectors. Everything works without JavaScript except the toggle.
(function () {
  "use strict";
  var KEY = "postwatch-theme";
  var root = document.documentElement;
  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function current() {
    var t = root.getAttribute("data-theme");
    if (t) return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  var saved = stored();
  if (saved === "dark" || saved === "light") root.setAttribute("data-theme", saved);
  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.getElementById("theme-toggle");
    function label() {
      if (!btn) return;
      var dark = current() === "dark";
      btn.setAttribute("aria-pressed", dark ? "true" : "false");
      btn.textContent = dark ? "Light theme" : "Dark theme";
    }
    label();
    if (btn) btn.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem(KEY, next); } catch (e) { /* private mode */ }
      label();
    });
    var forms = document.querySelectorAll("form[data-autosubmit] select");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("change", function (ev) { ev.target.form.submit(); });
    }
  });
})();
