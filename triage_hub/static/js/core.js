/*
 * Triage Hub's front end: plain deferred scripts, no build step. Each file adds its part to the
 * one namespace below; the Alpine components are registered on `alpine:init` (Alpine's CSP
 * build is loaded last, so every part is there by then). The pages carry no inline code:
 * directives only name properties and methods, and server data arrives as JSON — the page's one
 * <script type="application/json" id="page-config"> block, or fetch.
 */
(function () {
  "use strict";

  const TH = (window.TriageHub = window.TriageHub || {});
  TH.parts = TH.parts || {}; // the dashboard's parts, by name (see dashboard.js)
  let config = null;

  // The page's config block (labels, limits, page sizes, API paths), parsed once.
  TH.config = function () {
    if (config === null) {
      const el = document.getElementById("page-config");
      config = el ? JSON.parse(el.textContent) : {};
    }
    return config;
  };

  // x-show reveals an element on the next animation frame; a hidden one cannot take the focus.
  TH.focusWhenShown = function focusWhenShown(el, frames) {
    const left = frames === undefined ? 20 : frames;
    if (!el) return;
    if (el.offsetParent !== null || left <= 0) {
      el.focus();
      return;
    }
    requestAnimationFrame(() => focusWhenShown(el, left - 1));
  };

  TH.isTextField = function (target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  };

  // Register an Alpine component once Alpine starts.
  TH.component = function (name, factory) {
    document.addEventListener("alpine:init", () => window.Alpine.data(name, factory));
  };
})();
