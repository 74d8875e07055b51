/*
 * The dashboard (/dashboard): one Alpine component made of parts, one file each —
 * dashboard-search.js (the search box), dashboard-list.js (the list, its view and pages),
 * dashboard-live.js (the event stream), dashboard-detail.js (the ticket dialog and its actions),
 * dashboard-triage.js (correcting the AI), dashboard-presence.js (who else is there),
 * dashboard-reply.js (the reply, saved as it is typed), dashboard-resolve.js (resolve, with
 * undo), dashboard-preview.js (rendered markdown), dashboard-engine.js (what triages: the LLM's
 * outage banner, confidence, Retry with the LLM), dashboard-deliveries.js (what became of the
 * reply), dashboard-keys.js (the keyboard) and
 * feedback.js (toasts, the tab title, notifications).
 * Each part is `TH.parts.NAME(inner)`: it returns its state and methods, and
 * may use any other part's through `this`; `inner` holds plain (non-reactive) state such as
 * timers. A part's `setup` runs on init, in the order below.
 */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const PARTS = [
    "feedback",
    "search",
    "list",
    "live",
    "detail",
    "triage",
    "presence",
    "reply",
    "resolve",
    "preview",
    "engine",
    "deliveries",
    "keys",
  ];

  TH.component("dashboard", function dashboard() {
    const inner = {};
    const component = { config: TH.config() };
    const setups = [];
    for (const name of PARTS) {
      const part = TH.parts[name](inner);
      for (const key of Object.keys(part)) {
        if (key === "setup") continue;
        // Two parts with one name would silently replace each other's method.
        if (key in component) throw new Error("dashboard part " + name + " redefines " + key);
        component[key] = part[key];
      }
      if (part.setup) setups.push(part.setup);
    }
    component.init = function () {
      for (const setup of setups) setup.call(this);
    };
    return component;
  });
})();
