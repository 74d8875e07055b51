/* The dashboard's live updates: one EventSource; every (re)connect fetches what is shown again,
 * a changed row is patched in place, anything that may move rows re-fetches the list. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const fmt = TH.format;
  const MAX_BACKOFF_MS = 30000;

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return null;
    }
  }

  TH.parts.live = function (inner) {
    const config = TH.config();
    Object.assign(inner, { source: null, sourceFailures: 0, reconnectTimer: null });

    return {
      live: "connecting",

      setup() {
        this.connect();
      },
      connect() {
        if (inner.source) inner.source.close();
        const source = new EventSource(config.api.events);
        inner.source = source;
        source.addEventListener("open", () => {
          const wasDown = this.live !== "live" && this.live !== "connecting";
          this.live = "live";
          inner.sourceFailures = 0;
          // Whatever changed while we were not listening: fetch what we show again.
          this.scheduleRefresh();
          if (inner.openId) this.scheduleDetail();
          this.checkEngine();
          if (wasDown) this.announce("Live updates are back.");
        });
        source.addEventListener("error", () => {
          if (source !== inner.source) return;
          if (source.readyState === EventSource.CLOSED) {
            // The browser gave up (an HTTP error, not a dropped stream): retry with backoff.
            inner.sourceFailures += 1;
            this.live = "offline";
            const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(5, inner.sourceFailures - 1));
            clearTimeout(inner.reconnectTimer);
            inner.reconnectTimer = setTimeout(() => this.connect(), delay);
          } else {
            this.live = "reconnecting";
          }
        });
        source.addEventListener("ticket", (event) => this.onTicketEvent(parse(event)));
        source.addEventListener("tickets", () => this.onNewTickets());
        source.addEventListener("draft", (event) => this.onDraftEvent(parse(event)));
        source.addEventListener("presence", (event) => this.onPresenceEvent(parse(event)));
        source.addEventListener("delivery", (event) => this.onDeliveryEvent(parse(event)));
      },
      liveText() {
        if (this.live === "live") return "Live";
        if (this.live === "connecting") return "Connecting…";
        if (this.live === "reconnecting") return "Reconnecting…";
        return "Offline — retrying";
      },
      liveClass() {
        return "live-" + this.live;
      },
      onTicketEvent(change) {
        if (!change || !change.id) return;
        const index = this.rows.findIndex((row) => row.id === change.id);
        let exact = false;
        if (index !== -1) {
          const row = this.rows[index];
          if (!(change.updated_at && fmt.later(row.updated_at, change.updated_at))) {
            // Most urgent first ranks by urgency, and a FAILED ticket right after High.
            const failed = (row.status === "FAILED") === (change.status === "FAILED");
            const urgentOrder = this.sort === "urgent" && row.urgency === change.urgency && failed;
            // (Low confidence first: a new triage may bring a new confidence; the event has none.)
            const sameOrder = this.sort === "newest" || urgentOrder;
            exact = this.matchesFilter(change.status) && sameOrder;
            this.rows[index] = fmt.decorate(
              Object.assign({}, row, {
                status: change.status,
                category: change.category,
                sentiment: change.sentiment,
                urgency: change.urgency,
                attempts: change.attempts === undefined ? row.attempts : change.attempts,
                updated_at: change.updated_at || row.updated_at,
                isNew: false,
              })
            );
          }
        }
        // A row that stays where it is needs no re-fetch; anything else may move rows or totals.
        if (!exact) this.scheduleRefresh();
        if (inner.openId === change.id) this.onOpenTicketChanged(change);
        this.noticeTriaged(change);
      },
      onNewTickets() {
        if (this.matchesFilter("PENDING")) this.scheduleRefresh();
        this.noticeArrivals();
      },
      onDraftEvent(data) {
        if (!data || data.id !== inner.openId) return;
        this.onStreamedDraft(data.draft || "");
      },
    };
  };
})();
