/* The dashboard's list: the view (status, order, page size, page) kept in the address, the
 * latest fetch winning, new arrivals marked, the intake backlog when it matters. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const fmt = TH.format;
  const REFRESH_GAP_MS = 250; // at most one list re-fetch per this long, however many events
  const CLOCK_TICK_MS = 15000; // how often the "3 min ago" ages are recomputed (no fetch)

  TH.parts.list = function (inner) {
    const config = TH.config();
    Object.assign(inner, {
      refreshTimer: null,
      lastRefresh: 0,
      listSeq: 0,
      refocusAfterLoad: false,
      scrollAfterLoad: false,
      newestSeen: null,
      baseline: false,
    });

    return {
      rows: [],
      pagination: { page: 1, limit: config.page_size, total: 0, total_pages: 0 },
      filter: "active",
      sort: "newest",
      page: 1,
      pageSize: String(config.page_size), // a <select>'s value is a string
      loaded: false,
      loading: false,
      listError: "",
      backlog: null,
      now: Date.now(),
      cursor: -1,

      setup() {
        const params = new URLSearchParams(window.location.search);
        const status = (params.get("status") || "active").toUpperCase();
        if (status === "ALL") this.filter = "all";
        else if (config.statuses.includes(status)) this.filter = status;
        const sort = params.get("sort");
        if (sort === "urgent" || sort === "confidence") this.sort = sort;
        const limit = parseInt(params.get("limit") || "", 10);
        if (config.page_sizes.includes(limit)) this.pageSize = String(limit);
        const page = parseInt(params.get("page") || "1", 10);
        this.page = page > 0 ? page : 1;
        this.$watch("filter", () => this.changeView());
        this.$watch("sort", () => this.changeView());
        this.$watch("pageSize", () => this.changeView());
        this.loadList();
        setInterval(() => {
          this.now = Date.now();
        }, CLOCK_TICK_MS);
      },

      statusQuery() {
        if (this.filter === "all") return "";
        if (this.filter === "active") return config.active.join(",");
        return this.filter;
      },
      matchesFilter(status) {
        if (this.sort === "confidence") return status === "COMPLETED"; // what it lists
        if (this.filter === "all") return true;
        if (this.filter === "active") return config.active.includes(status);
        return this.filter === status;
      },
      listUrl() {
        const params = new URLSearchParams();
        params.set("page", String(this.page));
        params.set("limit", this.pageSize);
        const status = this.statusQuery();
        if (status) params.set("status", status);
        params.set("sort", this.sort);
        if (this.searchTerm()) params.set("q", this.searchTerm());
        return config.api.tickets + "?" + params.toString();
      },
      // The view lives in the address, so a reload or a shared link shows the same.
      syncUrl() {
        const params = new URLSearchParams();
        if (this.searchTerm()) params.set("q", this.searchTerm());
        if (this.filter !== "active") params.set("status", this.filter.toLowerCase());
        if (this.sort !== "newest") params.set("sort", this.sort);
        if (this.pageSize !== String(config.page_size)) params.set("limit", this.pageSize);
        if (this.page > 1) params.set("page", String(this.page));
        if (inner.openId) params.set("ticket", inner.openId);
        const query = params.toString();
        window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
      },
      changeView() {
        this.page = 1;
        this.cursor = -1;
        inner.newestSeen = null;
        inner.baseline = false;
        this.syncUrl();
        this.loadList();
      },
      reload() {
        this.loadList();
      },

      // The latest request wins: an answer to an older one is dropped.
      async loadList() {
        const seq = ++inner.listSeq;
        inner.lastRefresh = Date.now();
        this.loading = true;
        const result = await TH.request(this.listUrl());
        if (seq !== inner.listSeq) return;
        this.loading = false;
        if (!result.ok || !result.body) {
          this.listError = "Could not load the tickets: " + TH.describeError(result).join(" ");
          return;
        }
        this.listError = "";
        const pagination = result.body.pagination;
        if (pagination.total_pages > 0 && this.page > pagination.total_pages) {
          this.page = pagination.total_pages; // the last rows of the last page went away
          this.syncUrl();
          this.loadList();
          return;
        }
        this.applyRows(result.body.tickets);
        this.pagination = pagination;
        this.backlog = result.body.backlog || null;
        this.loaded = true;
        if (inner.scrollAfterLoad) {
          inner.scrollAfterLoad = false;
          this.$nextTick(() => this.$refs.listTop.scrollIntoView({ block: "start" }));
        }
        if (inner.refocusAfterLoad) {
          // The resolved ticket's row (which had the focus) is gone: focus its successor.
          inner.refocusAfterLoad = false;
          this.restoreFocus();
        }
      },
      applyRows(tickets) {
        const previous = {};
        for (const row of this.rows) previous[row.id] = row;
        const newestBefore = inner.newestSeen;
        let fresh = 0;
        this.rows = tickets.map((ticket) => {
          const known = previous[ticket.id];
          // An event may have told us something newer than this answer (sent before it).
          if (known && fmt.later(known.updated_at, ticket.updated_at)) {
            ticket = Object.assign({}, ticket, {
              status: known.status,
              category: known.category,
              sentiment: known.sentiment,
              urgency: known.urgency,
              updated_at: known.updated_at,
            });
          }
          let isNew = Boolean(known && known.isNew); // keeps the class: the flash plays once
          if (!known && inner.baseline && (!newestBefore || fmt.later(ticket.created_at, newestBefore))) {
            isNew = true;
            fresh += 1;
          }
          return fmt.decorate(Object.assign({}, ticket, { isNew: isNew }));
        });
        for (const row of this.rows) {
          if (!inner.newestSeen || fmt.later(row.created_at, inner.newestSeen)) {
            inner.newestSeen = row.created_at;
          }
        }
        inner.baseline = true; // from now on, rows newer than newestSeen are new arrivals
        if (fresh) this.announce(fmt.count(fresh, "new ticket", "new tickets"));
        if (this.cursor >= this.rows.length) this.cursor = this.rows.length - 1;
      },
      // Coalesce bursts of events into at most one re-fetch per REFRESH_GAP_MS.
      scheduleRefresh() {
        if (inner.refreshTimer !== null) return;
        const wait = Math.max(0, inner.lastRefresh + REFRESH_GAP_MS - Date.now());
        inner.refreshTimer = setTimeout(() => {
          inner.refreshTimer = null;
          this.loadList();
        }, wait);
      },
      // A list row with a new state (after an action of this page), until the next fetch.
      markRow(id, state) {
        if (!state) return;
        const index = this.rows.findIndex((row) => row.id === id);
        if (index === -1) return;
        this.rows[index] = fmt.decorate(
          Object.assign({}, this.rows[index], { status: state.status, updated_at: state.updated_at })
        );
      },

      /* ---- pages ---- */

      turnPage(delta) {
        const page = this.page + delta;
        if (page < 1 || page > Math.max(1, this.pagination.total_pages)) return;
        this.page = page;
        this.cursor = -1;
        inner.scrollAfterLoad = true; // the new page is read from its top
        this.syncUrl();
        this.loadList();
      },
      prevPage() {
        this.turnPage(-1);
      },
      nextPage() {
        this.turnPage(1);
      },
      isFirstPage() {
        return this.page <= 1;
      },
      isLastPage() {
        return this.page >= this.pagination.total_pages;
      },
      hasPages() {
        return this.loaded && this.pagination.total > 0;
      },
      pageText() {
        const p = this.pagination;
        const count = (p.total_is_estimate ? "about " : "") + fmt.count(p.total, "ticket", "tickets");
        return "Page " + this.page + " of " + Math.max(1, p.total_pages) + " · " + count;
      },
      isEmpty() {
        return this.loaded && this.rows.length === 0;
      },
      emptyText() {
        const term = this.searchTerm();
        if (term) {
          let where = "";
          if (this.filter === "active") where = " among the open tickets";
          else if (this.filter !== "all") where = " in “" + fmt.statusLabel(this.filter) + "”";
          return "No tickets match “" + term + "”" + where + ".";
        }
        if (this.sort === "confidence") return "No tickets await a reply.";
        return this.filter === "active" ? "No open tickets. All caught up." : "No tickets here.";
      },
      // Low confidence first lists the tickets awaiting a reply only: the filter does not apply.
      filterDisabled() {
        return this.sort === "confidence";
      },
      hasListError() {
        return this.listError !== "";
      },
      ariaBusy() {
        return this.loading ? "true" : "false";
      },
      ageOf(row) {
        return fmt.ago(row.created_at, this.now);
      },

      /* ---- the intake backlog: said only when it matters ---- */

      backlogLevel() {
        const b = this.backlog;
        if (!b || !b.pending) return "none";
        if (b.full) return "full";
        if (b.cap && b.pending >= b.cap * config.backlog_warn_ratio) return "near";
        return "quiet";
      },
      hasBacklog() {
        return this.backlogLevel() !== "none";
      },
      backlogText() {
        const b = this.backlog;
        const waiting = fmt.count(b ? b.pending : 0, "waiting", "waiting") + " for triage";
        const level = this.backlogLevel();
        if (level === "full") return "Intake paused: " + waiting + " (the cap is " + b.cap.toLocaleString("en") + ")";
        if (level === "near") return "Intake pauses at " + b.cap.toLocaleString("en") + ": " + waiting;
        return level === "quiet" ? waiting : "";
      },
      backlogClass() {
        return "backlog-" + this.backlogLevel();
      },
    };
  };
})();
