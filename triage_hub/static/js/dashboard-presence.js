/* Who else has the open ticket: "dana is viewing", "dana is typing…", live from the event
 * stream's `presence` events (any replica), each forgotten when its page has been silent for
 * the server's lapse. This page says it is there on open, every few seconds while open, that it
 * types while the reply gets input, and that it left on close or when the tab goes away. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const TYPING_EVERY_MS = 3000; // "typing" is said at most this often
  const TYPING_IDLE_MS = 5000; // back to "viewing" after this long without input

  TH.parts.presence = function (inner) {
    const config = TH.config();
    const everyMs = config.presence_every_seconds * 1000;
    const lapseMs = config.presence_seconds * 1000;
    Object.assign(inner, {
      presenceId: null, // the ticket this page says it has open
      myState: "viewing",
      typingSaidAt: 0,
      heartbeat: null,
      idleTimer: null,
      lapses: {}, // viewer -> the timer that forgets them
    });

    function say(id, state, keepalive) {
      TH.request(config.api.tickets + "/" + encodeURIComponent(id) + "/presence", {
        method: "POST",
        json: { state: state },
        keepalive: Boolean(keepalive), // "left" must outlive the page that sends it
      });
    }

    return {
      others: [], // [{viewer, state}] of the open ticket, this agent excluded

      setup() {
        window.addEventListener("pagehide", () => this.leaveTicket());
        window.addEventListener("pageshow", (event) => {
          if (event.persisted && inner.openId) this.enterTicket(inner.openId); // back from bfcache
        });
      },

      enterTicket(id) {
        if (inner.presenceId === id) return;
        this.leaveTicket();
        inner.presenceId = id;
        inner.myState = "viewing";
        say(id, "viewing");
        inner.heartbeat = setInterval(() => say(id, inner.myState), everyMs);
      },
      leaveTicket() {
        const id = inner.presenceId;
        if (!id) return;
        inner.presenceId = null;
        clearInterval(inner.heartbeat);
        clearTimeout(inner.idleTimer);
        say(id, "left", true);
        this.forgetAll();
      },
      // The reply got input: "typing" (throttled), and "viewing" again once the agent pauses.
      typed() {
        const id = inner.presenceId;
        if (!id) return;
        const now = Date.now();
        if (inner.myState !== "typing" || now - inner.typingSaidAt >= TYPING_EVERY_MS) {
          inner.myState = "typing";
          inner.typingSaidAt = now;
          say(id, "typing");
        }
        clearTimeout(inner.idleTimer);
        inner.idleTimer = setTimeout(() => {
          if (inner.presenceId !== id) return;
          inner.myState = "viewing";
          say(id, "viewing");
        }, TYPING_IDLE_MS);
      },

      /* ---- the others ---- */

      // The ticket as read (GET): who is there now, each for what remains of their lapse.
      seePresence(entries, serverDate) {
        this.forgetAll();
        const serverNow = serverDate ? Date.parse(serverDate) : Date.now();
        for (const entry of entries || []) {
          const age = Math.max(0, serverNow - Date.parse(entry.seen_at));
          this.see(entry.viewer, entry.state, lapseMs - age);
        }
      },
      onPresenceEvent(data) {
        if (!data || data.id !== inner.presenceId || data.viewer === config.me) return;
        if (data.state === "left") this.forget(data.viewer);
        else this.see(data.viewer, data.state, lapseMs);
      },
      see(viewer, state, forMs) {
        if (forMs <= 0) return;
        clearTimeout(inner.lapses[viewer]);
        inner.lapses[viewer] = setTimeout(() => this.forget(viewer), forMs);
        const rest = this.others.filter((other) => other.viewer !== viewer);
        this.others = rest.concat([{ viewer: viewer, state: state }]);
      },
      forget(viewer) {
        clearTimeout(inner.lapses[viewer]);
        delete inner.lapses[viewer];
        this.others = this.others.filter((other) => other.viewer !== viewer);
      },
      forgetAll() {
        for (const viewer of Object.keys(inner.lapses)) clearTimeout(inner.lapses[viewer]);
        inner.lapses = {};
        this.others = [];
      },
      hasOthers() {
        return this.others.length > 0;
      },
      presenceText() {
        return this.others
          .map((other) => other.viewer + (other.state === "typing" ? " is typing…" : " is viewing"))
          .join(" · ");
      },
      // Someone else has a reply to this ticket saved (GET's other_drafts).
      otherDraftsText() {
        const drafts = this.detail.other_drafts || [];
        return drafts
          .map((d) => d.author + " has a reply saved " + TH.format.ago(d.saved_at, this.now))
          .join(" · ");
      },
      hasOtherDrafts() {
        return (this.detail.other_drafts || []).length > 0;
      },
    };
  };
})();
