/* The customer's status page (/submit/{id}): polls its JSON twin until the ticket is answered. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const FAST_MS = 3000; // every 3 s for the first two minutes,
  const FAST_FOR_MS = 2 * 60 * 1000;
  const SLOW_MS = 15000; // then every 15 s,
  const GIVE_UP_MS = 30 * 60 * 1000; // for half an hour at most

  TH.component("ticketStatus", function ticketStatus() {
    const config = TH.config(); // {status, label, final, status_url, statuses}
    let timer = null;
    let started = Date.now();
    return {
      status: config.status,
      label: config.label,
      final: config.final,
      note: "",

      init() {
        // Times in the customer's own time zone (the page says UTC for readers without JS).
        for (const el of document.querySelectorAll("time[data-local]")) {
          const when = new Date(el.getAttribute("datetime"));
          if (!Number.isNaN(when.getTime())) {
            el.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
          }
        }
        started = Date.now();
        this.schedule();
        document.addEventListener("visibilitychange", () => {
          if (!document.hidden) this.schedule();
        });
      },
      // An object, so the class the server rendered is switched off when the status moves on.
      statusClass() {
        const classes = {};
        for (const status of config.statuses) {
          classes["status-" + status.toLowerCase()] = status === this.status;
        }
        return classes;
      },
      schedule() {
        clearTimeout(timer);
        const elapsed = Date.now() - started;
        if (this.final || elapsed > GIVE_UP_MS) return;
        timer = setTimeout(() => this.check(), elapsed < FAST_FOR_MS ? FAST_MS : SLOW_MS);
      },
      async check() {
        if (document.hidden) return; // resumed by visibilitychange
        const result = await TH.request(config.status_url);
        if (result.ok && result.body) {
          if (result.body.reply && !document.querySelector(".answer")) {
            window.location.reload(); // the answer came: show it, rendered by the server
            return;
          }
          this.status = result.body.status;
          this.label = result.body.label;
          this.final = result.body.final;
          this.note = this.final ? "" : "This page updates by itself.";
        }
        this.schedule();
      },
    };
  });
})();
