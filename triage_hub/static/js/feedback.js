/*
 * The dashboard's feedback: toasts after actions, words for screen readers, the tab title's count
 * of tickets that arrived while the tab was hidden, and (when the agent turns it on) a desktop
 * notification for each new High-urgency ticket.
 *
 * While the dialog is open (modal) the rest of the page is inert: hidden from screen readers.
 * So the toasts and the spoken words each have two live regions, one on the page and one in the
 * dialog, and go to whichever is in front.
 */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const TOAST_MS = 5000;
  const ERROR_TOAST_MS = 10000;
  const NOTIFY_KEY = "triage-hub.notify-high"; // localStorage: "on" when the agent asked for it

  TH.parts.feedback = function (inner) {
    const config = TH.config();
    const supported = typeof window.Notification === "function";
    Object.assign(inner, {
      announceTimer: null,
      toastSeq: 0,
      titleBase: document.title,
      since: null, // a promise of the newest created_at when the tab was hidden
      countBusy: false,
      countAgain: false,
      notified: {}, // ticket ids already notified (or seen) as High
    });

    return {
      announcement: "",
      dialogAnnouncement: "",
      pageToasts: [],
      dialogToasts: [],
      arrivals: 0,
      notifySupported: supported,
      notifyHigh: false,

      setup() {
        inner.titleBase = document.title;
        document.addEventListener("visibilitychange", () => this.onVisibility());
        if (document.hidden) this.onVisibility();
        this.notifyHigh =
          supported && localStorage.getItem(NOTIFY_KEY) === "on" && Notification.permission === "granted";
        this.$watch("notifyHigh", (on) => this.onNotifyToggle(on));
        this.$refs.dialog.addEventListener("close", () => {
          this.dialogToasts = []; // they went with the dialog
        });
      },

      inDialog() {
        return Boolean(this.$refs.dialog && this.$refs.dialog.open);
      },
      announce(text) {
        const key = this.inDialog() ? "dialogAnnouncement" : "announcement";
        // Cleared first, so the same words twice are still read out.
        this.announcement = this.dialogAnnouncement = "";
        clearTimeout(inner.announceTimer);
        inner.announceTimer = setTimeout(() => {
          this[key] = text;
        }, 50);
      },

      /* ---- toasts ---- */

      toast(text, kind) {
        const place = this.inDialog() ? "dialogToasts" : "pageToasts";
        const error = kind === "error";
        const toast = { id: ++inner.toastSeq, text: text, cls: error ? "toast toast-error" : "toast" };
        this[place] = this[place].concat([toast]);
        setTimeout(() => this.dismissToast(toast), error ? ERROR_TOAST_MS : TOAST_MS);
      },
      dismissToast(toast) {
        this.pageToasts = this.pageToasts.filter((item) => item.id !== toast.id);
        this.dialogToasts = this.dialogToasts.filter((item) => item.id !== toast.id);
      },

      /* ---- the tab title: "(3) Dashboard · Triage Hub" while hidden ---- */

      onVisibility() {
        if (document.hidden) {
          this.arrivals = 0;
          inner.since = this.newestCreatedAt();
        } else {
          inner.since = null;
          this.arrivals = 0;
          document.title = inner.titleBase;
        }
      },
      async newestCreatedAt() {
        const result = await TH.request(config.api.tickets + "?sort=newest&limit=1");
        if (result.ok && result.body) {
          const [newest] = result.body.tickets;
          return newest ? newest.created_at : new Date(0).toISOString();
        }
        return new Date().toISOString(); // the server's clock is out of reach: ours, then
      },
      // New tickets were announced: while hidden, count those newer than when the tab was left.
      async noticeArrivals() {
        if (!document.hidden || inner.since === null) return;
        if (inner.countBusy) {
          inner.countAgain = true;
          return;
        }
        inner.countBusy = true;
        const since = await inner.since;
        const most = Math.max.apply(null, config.page_sizes);
        const result = await TH.request(
          config.api.tickets + "?sort=newest&limit=" + most
        );
        inner.countBusy = false;
        if (result.ok && result.body && inner.since !== null) {
          const fresh = result.body.tickets.filter((t) => TH.format.later(t.created_at, since));
          this.arrivals = fresh.length;
          const count = fresh.length >= most ? most + "+" : String(fresh.length);
          document.title = fresh.length ? "(" + count + ") " + inner.titleBase : inner.titleBase;
        }
        if (inner.countAgain) {
          inner.countAgain = false;
          this.noticeArrivals();
        }
      },

      /* ---- desktop notifications for new High-urgency tickets ---- */

      async onNotifyToggle(on) {
        if (!on) {
          localStorage.removeItem(NOTIFY_KEY);
          return;
        }
        // The browser asks the agent only now, when they turned it on.
        const permission =
          Notification.permission === "default"
            ? await Notification.requestPermission()
            : Notification.permission;
        if (permission === "granted") {
          localStorage.setItem(NOTIFY_KEY, "on");
          this.toast("Desktop notifications on for new High-urgency tickets.");
        } else {
          this.notifyHigh = false;
          this.toast("Notifications are blocked for this site in the browser's settings.", "error");
        }
      },
      async noticeTriaged(change) {
        if (change.status !== "COMPLETED" || change.urgency !== "High") return;
        if (inner.notified[change.id]) return;
        inner.notified[change.id] = true;
        // Only when the agent is elsewhere: a page in front shows the row itself.
        if (!this.notifyHigh || (!document.hidden && document.hasFocus())) return;
        const result = await TH.request(config.api.tickets + "/" + encodeURIComponent(change.id));
        const ticket = result.ok && result.body ? result.body : {};
        const notice = new Notification("High urgency: " + (change.category || "new ticket"), {
          body: ticket.subject || "A new ticket needs a reply.",
          tag: "ticket-" + change.id,
        });
        notice.addEventListener("click", () => {
          window.focus();
          this.openTicket(change.id);
          notice.close();
        });
      },
    };
  };
})();
