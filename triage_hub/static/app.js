/*
 * Triage Hub: the Alpine components of the intake form, the ticket status page and the agents'
 * dashboard. Loaded (deferred) before Alpine's CSP build, so the components are registered on
 * `alpine:init`. The pages carry no inline code: directives only name the properties and methods
 * below, and server data arrives as JSON (a <script type="application/json"> block or fetch).
 * Ticket text is only ever shown with x-text; the one innerHTML is the server-sanitised preview.
 */
(function () {
  "use strict";

  const URGENCY = {
    High: { label: "High", cls: "urgency-high" },
    Medium: { label: "Medium", cls: "urgency-medium" },
    Low: { label: "Low", cls: "urgency-low" },
  };
  const UNTRIAGED = { label: "Untriaged", cls: "urgency-none" };
  const STATUS_LABEL = {
    PENDING: "Pending",
    PROCESSING: "Processing",
    COMPLETED: "Completed",
    FAILED: "Failed",
    RESOLVED: "Resolved",
  };
  const REFRESH_GAP_MS = 250; // at most one list re-fetch per this long, however many events
  const PREVIEW_DEBOUNCE_MS = 300;
  const CLOCK_TICK_MS = 15000; // how often the "3 min ago" ages are recomputed (no fetch)

  function readJson(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : {};
  }

  // The server counts characters of the trimmed text (Python code points, not UTF-16 units).
  function trimmedLength(text) {
    return Array.from(text.trim()).length;
  }

  // Agent pages carry the session's CSRF token; every change they send repeats it.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  async function request(url, options) {
    const init = Object.assign({ headers: {}, cache: "no-store" }, options || {});
    init.headers = Object.assign({ Accept: "application/json" }, init.headers);
    const token = csrfToken();
    if (token && init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = token;
    if (init.json !== undefined) {
      init.body = JSON.stringify(init.json);
      init.headers["Content-Type"] = "application/json";
      delete init.json;
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      return { ok: false, status: 0, body: null, retryAfter: null };
    }
    if (response.status === 401 && token) {
      // The session ended (logout elsewhere, timeout, account disabled): log in again, then back.
      const here = window.location.pathname + window.location.search;
      window.location.assign("/login?next=" + encodeURIComponent(here));
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    return {
      ok: response.ok,
      status: response.status,
      body: body,
      retryAfter: response.headers.get("Retry-After"),
    };
  }

  // An API error as sentences for people: field messages first, then the error's message.
  function describeError(result, minChars, maxChars) {
    if (result.status === 0) {
      return ["Could not reach the server. Check your connection and try again."];
    }
    const body = result.body || {};
    const out = [];
    for (const field of body.fields || []) {
      if (field.type === "string_too_short" && minChars) {
        out.push("Please write at least " + minChars + " characters.");
      } else if (field.type === "string_too_long" && maxChars) {
        out.push("Please keep it to " + maxChars + " characters or fewer.");
      } else {
        out.push(field.field + ": " + field.message);
      }
    }
    if (!out.length) {
      out.push(body.message || "The server answered with an error (HTTP " + result.status + ").");
    }
    if (result.retryAfter && (result.status === 503 || result.status === 429)) {
      out.push("Please try again in " + result.retryAfter + " seconds.");
    }
    return out;
  }

  function formatTime(iso) {
    if (!iso) return "—";
    return new Date(iso).toLocaleString(undefined, {
      dateStyle: "medium",
      timeStyle: "short",
    });
  }

  function ago(iso, now) {
    const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
    if (seconds < 45) return "just now";
    const minutes = Math.max(1, Math.round(seconds / 60));
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h ago";
    const days = Math.floor(hours / 24);
    if (days < 60) return days + (days === 1 ? " day ago" : " days ago");
    return new Date(iso).toLocaleDateString();
  }

  // Timestamps from the list, the events and the detail may differ in their digits: compare times.
  function later(a, b) {
    return Date.parse(a) > Date.parse(b);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "—";
    return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
  }

  function sentimentView(value) {
    if (value === null || value === undefined) {
      return { text: "—", cls: "sentiment-none", fill: "fill-0" };
    }
    const word = value <= 3 ? "angry" : value <= 6 ? "neutral" : "happy";
    return { text: value + "/10 " + word, cls: "sentiment-" + word, fill: "fill-" + value };
  }

  function firstLine(text) {
    const line = (text || "").split(/\r?\n/).find(function (part) {
      return part.trim() !== "";
    });
    return (line || "").trim();
  }

  // A ticket (a list row, an event's fields or the full ticket) with what the templates show.
  function decorate(ticket) {
    const urgency = URGENCY[ticket.urgency] || UNTRIAGED;
    const sentiment = sentimentView(ticket.sentiment);
    const status = ticket.status || "PENDING";
    const classes = ["status-row-" + status.toLowerCase()];
    if (status === "PROCESSING") classes.push("is-processing");
    if (!ticket.urgency && !ticket.category) classes.push("is-untriaged");
    if (ticket.isNew) classes.push("is-new");
    return Object.assign({}, ticket, {
      href: "/dashboard?ticket=" + encodeURIComponent(ticket.id),
      shortId: String(ticket.id || "").slice(0, 8),
      urgencyLabel: urgency.label,
      urgencyClass: urgency.cls,
      categoryLabel: ticket.category || "—",
      sentimentText: sentiment.text,
      sentimentClass: sentiment.cls,
      sentimentFill: sentiment.fill,
      statusLabel: STATUS_LABEL[status] || status,
      statusClass: "status-" + status.toLowerCase(),
      rowClass: classes.join(" "),
      firstLine: firstLine(ticket.user_message),
      createdTitle: formatTime(ticket.created_at),
      modelLabel: ticket.model || "—",
      attemptsLabel: ticket.attempts === undefined ? "—" : String(ticket.attempts),
      firstTokenLabel: duration(ticket.first_token_ms),
      totalLabel: duration(ticket.total_ms),
      tokensLabel:
        ticket.prompt_tokens === null || ticket.prompt_tokens === undefined
          ? "—"
          : ticket.prompt_tokens + " in / " + (ticket.completion_tokens || 0) + " out",
      hasLastError: status === "FAILED" && Boolean(ticket.last_error),
    });
  }

  function blankTicket() {
    return decorate({ id: "", user_message: "", status: "PENDING" });
  }

  // x-show reveals an element on the next animation frame; a hidden one cannot take the focus.
  function focusWhenShown(el, frames) {
    const left = frames === undefined ? 20 : frames;
    if (el.offsetParent !== null || left <= 0) {
      el.focus();
      return;
    }
    requestAnimationFrame(() => focusWhenShown(el, left - 1));
  }

  function isTextField(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  /* ---------------------------------------------------------------- the intake form (/submit) */

  function intakeForm() {
    return {
      min: 10,
      max: 5000,
      api: "/tickets",
      message: "",
      submitting: false,
      errors: [],
      serverErrorsShown: true,
      created: null,

      init() {
        const config = readJson("intake-config");
        this.min = config.min;
        this.max = config.max;
        this.api = config.api;
        // The text the server put back into the form (a no-JS post that failed validation).
        this.message = this.$root.querySelector("textarea[name=message]").value;
        // With JavaScript the rule is shown live and the API's answer inline, not as a bubble.
        this.$root.querySelector("form").noValidate = true;
      },

      length() {
        return trimmedLength(this.message);
      },
      counterText() {
        const n = this.length();
        if (n < this.min) {
          const more = this.min - n;
          return n + " / " + this.max + " characters · " + more + " more needed";
        }
        if (n > this.max) {
          return n + " / " + this.max + " characters · " + (n - this.max) + " too many";
        }
        return n + " / " + this.max + " characters";
      },
      counterClass() {
        const n = this.length();
        if (n > this.max) return "is-over";
        if (n < this.min) return "is-under";
        return "is-ok";
      },
      ariaInvalid() {
        return this.errors.length ? "true" : null;
      },
      hasErrors() {
        return this.errors.length > 0;
      },
      showServerErrors() {
        return this.serverErrorsShown;
      },
      submitLabel() {
        return this.submitting ? "Sending…" : "Send message";
      },
      isCreated() {
        return this.created !== null;
      },
      isEditing() {
        return this.created === null;
      },
      createdId() {
        return this.created ? this.created.ticket_id : "";
      },
      createdStatus() {
        return this.created ? STATUS_LABEL[this.created.status] || this.created.status : "";
      },
      createdUrl() {
        return this.created ? "/submit/" + encodeURIComponent(this.created.ticket_id) : "#";
      },

      async submit() {
        if (this.submitting) return;
        this.serverErrorsShown = false;
        const n = this.length();
        if (n < this.min) {
          this.errors = ["Please write at least " + this.min + " characters."];
          return;
        }
        if (n > this.max) {
          this.errors = ["Please keep it to " + this.max + " characters or fewer."];
          return;
        }
        this.errors = [];
        this.submitting = true;
        const result = await request(this.api, { method: "POST", json: { message: this.message } });
        this.submitting = false;
        if (result.status === 201 && result.body) {
          this.created = result.body;
          this.message = "";
          focusWhenShown(this.$refs.confirmation);
          return;
        }
        this.errors = describeError(result, this.min, this.max);
      },

      reset() {
        this.created = null;
        this.errors = [];
        focusWhenShown(this.$refs.message);
      },
    };
  }

  /* -------------------------------------------- the public status page (/submit/{id}): polls */

  function ticketStatus() {
    let timer = null;
    let started = Date.now();
    return {
      status: "PENDING",
      label: "",
      final: false,
      url: "",
      note: "",

      init() {
        const config = readJson("ticket-status-config");
        this.status = config.status;
        this.label = config.label;
        this.final = config.final;
        this.url = config.status_url;
        started = Date.now();
        this.schedule();
        document.addEventListener("visibilitychange", () => {
          if (!document.hidden) this.schedule();
        });
      },
      // An object, so the class the server rendered is switched off when the status moves on.
      statusClass() {
        const classes = {};
        for (const status of Object.keys(STATUS_LABEL)) {
          classes["status-" + status.toLowerCase()] = status === this.status;
        }
        return classes;
      },
      // A customer's page: every 3 s for two minutes, then every 15 s, for half an hour at most.
      schedule() {
        clearTimeout(timer);
        const elapsed = Date.now() - started;
        if (this.final || elapsed > 30 * 60 * 1000) return;
        timer = setTimeout(() => this.check(), elapsed < 2 * 60 * 1000 ? 3000 : 15000);
      },
      async check() {
        if (document.hidden) return; // resumed by visibilitychange
        const result = await request(this.url);
        if (result.ok && result.body) {
          this.status = result.body.status;
          this.label = result.body.label;
          this.final = result.body.final;
          this.note = this.final ? "" : "This page updates by itself.";
        }
        this.schedule();
      },
    };
  }

  /* ------------------------------------------------------------- the dashboard (/dashboard) */

  function dashboard() {
    // Plain (non-reactive) state: timers, the EventSource, request sequence numbers.
    const inner = {
      source: null,
      sourceFailures: 0,
      reconnectTimer: null,
      refreshTimer: null,
      lastRefresh: 0,
      listSeq: 0,
      detailSeq: 0,
      detailTimer: null,
      previewSeq: 0,
      previewTimer: null,
      previewed: null, // the text the preview shows now (no request to render it again)
      openId: null,
      refocusAfterLoad: false,
      edits: {}, // unsent draft edits per ticket id, kept when the dialog closes
      newestSeen: null,
      baseline: false,
      announceTimer: null,
    };

    return {
      config: {},
      rows: [],
      pagination: { page: 1, limit: 20, total: 0, total_pages: 0, total_is_estimate: false },
      filter: "active",
      sort: "newest",
      page: 1,
      loaded: false,
      loading: false,
      listError: "",
      backlog: null,
      announcement: "",
      live: "connecting",
      now: Date.now(),
      cursor: -1,
      isOpen: false,
      detailLoaded: false, // the editor waits for the whole ticket (its draft) to arrive
      detail: blankTicket(),
      detailError: "",
      streamingDraft: "",
      draftText: "",
      previewError: "",
      busy: false,
      actionError: "",

      init() {
        this.config = readJson("dashboard-config");
        const params = new URLSearchParams(window.location.search);
        const status = (params.get("status") || "active").toUpperCase();
        if (status === "ALL") this.filter = "all";
        else if (this.config.statuses.includes(status)) this.filter = status;
        if (params.get("sort") === "urgent") this.sort = "urgent";
        const page = parseInt(params.get("page") || "1", 10);
        this.page = page > 0 ? page : 1;
        this.$watch("filter", () => this.changeView());
        this.$watch("sort", () => this.changeView());
        this.$watch("draftText", () => this.schedulePreview());
        this.loadList();
        this.connect();
        setInterval(() => {
          this.now = Date.now();
        }, CLOCK_TICK_MS);
        const ticket = params.get("ticket");
        if (ticket) this.$nextTick(() => this.openTicket(ticket));
      },

      /* ---- the list ---- */

      statusQuery() {
        if (this.filter === "all") return "";
        if (this.filter === "active") return this.config.active.join(",");
        return this.filter;
      },
      matchesFilter(status) {
        if (this.filter === "all") return true;
        if (this.filter === "active") return this.config.active.includes(status);
        return this.filter === status;
      },
      listUrl() {
        const params = new URLSearchParams();
        params.set("page", String(this.page));
        params.set("limit", String(this.config.limit));
        const status = this.statusQuery();
        if (status) params.set("status", status);
        params.set("sort", this.sort);
        return this.config.api.tickets + "?" + params.toString();
      },
      syncUrl() {
        const params = new URLSearchParams();
        if (this.filter !== "active") params.set("status", this.filter.toLowerCase());
        if (this.sort !== "newest") params.set("sort", this.sort);
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
        const result = await request(this.listUrl());
        if (seq !== inner.listSeq) return;
        this.loading = false;
        if (!result.ok || !result.body) {
          this.listError = "Could not load the tickets: " + describeError(result).join(" ");
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
          if (known && later(known.updated_at, ticket.updated_at)) {
            ticket = Object.assign({}, ticket, {
              status: known.status,
              category: known.category,
              sentiment: known.sentiment,
              urgency: known.urgency,
              updated_at: known.updated_at,
            });
          }
          let isNew = Boolean(known && known.isNew); // keeps the class: the flash plays once
          if (!known && inner.baseline && (!newestBefore || later(ticket.created_at, newestBefore))) {
            isNew = true;
            fresh += 1;
          }
          return decorate(Object.assign({}, ticket, { isNew: isNew }));
        });
        for (const row of this.rows) {
          if (!inner.newestSeen || later(row.created_at, inner.newestSeen)) {
            inner.newestSeen = row.created_at;
          }
        }
        inner.baseline = true; // from now on, rows newer than newestSeen are new arrivals
        if (fresh) this.announce(fresh === 1 ? "1 new ticket" : fresh + " new tickets");
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
      prevPage() {
        if (this.page > 1) {
          this.page -= 1;
          this.cursor = -1;
          this.syncUrl();
          this.loadList();
        }
      },
      nextPage() {
        if (this.page < this.pagination.total_pages) {
          this.page += 1;
          this.cursor = -1;
          this.syncUrl();
          this.loadList();
        }
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
        const count = (p.total_is_estimate ? "about " : "") + p.total.toLocaleString();
        const noun = p.total === 1 ? " ticket" : " tickets";
        return "Page " + this.page + " of " + Math.max(1, p.total_pages) + " · " + count + noun;
      },
      isEmpty() {
        return this.loaded && this.rows.length === 0;
      },
      emptyText() {
        return this.filter === "active" ? "No open tickets. All caught up." : "No tickets here.";
      },
      hasListError() {
        return this.listError !== "";
      },
      hasBacklog() {
        return this.backlog !== null;
      },
      backlogText() {
        const b = this.backlog;
        if (!b) return "";
        const waiting = b.pending.toLocaleString("en") + " waiting for triage";
        if (b.full) return "Intake paused: " + waiting + " (the cap is " + b.cap.toLocaleString("en") + ")";
        return b.cap ? waiting + " of " + b.cap.toLocaleString("en") + " allowed" : waiting;
      },
      backlogClass() {
        return { "is-full": Boolean(this.backlog && this.backlog.full) };
      },
      ariaBusy() {
        return this.loading ? "true" : "false";
      },
      ageOf(row) {
        return ago(row.created_at, this.now);
      },
      announce(text) {
        // Clear first so the same words twice are still read out.
        this.announcement = "";
        clearTimeout(inner.announceTimer);
        inner.announceTimer = setTimeout(() => {
          this.announcement = text;
        }, 50);
      },

      /* ---- live updates: one EventSource, re-fetch on every (re)connect ---- */

      connect() {
        if (inner.source) inner.source.close();
        const source = new EventSource(this.config.api.events);
        inner.source = source;
        source.addEventListener("open", () => {
          const wasDown = this.live !== "live" && this.live !== "connecting";
          this.live = "live";
          inner.sourceFailures = 0;
          // Whatever changed while we were not listening: fetch what we show again.
          this.scheduleRefresh();
          if (inner.openId) this.scheduleDetail();
          if (wasDown) this.announce("Live updates are back.");
        });
        source.addEventListener("error", () => {
          if (source !== inner.source) return;
          if (source.readyState === EventSource.CLOSED) {
            // The browser gave up (an HTTP error, not a dropped stream): retry with backoff.
            inner.sourceFailures += 1;
            this.live = "offline";
            const delay = Math.min(30000, 1000 * 2 ** Math.min(5, inner.sourceFailures - 1));
            clearTimeout(inner.reconnectTimer);
            inner.reconnectTimer = setTimeout(() => this.connect(), delay);
          } else {
            this.live = "reconnecting";
          }
        });
        source.addEventListener("ticket", (event) => this.onTicketEvent(event));
        source.addEventListener("tickets", () => this.onNewTickets());
        source.addEventListener("draft", (event) => this.onDraftEvent(event));
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
      parse(event) {
        try {
          return JSON.parse(event.data);
        } catch (error) {
          return null;
        }
      },
      onTicketEvent(event) {
        const change = this.parse(event);
        if (!change || !change.id) return;
        const index = this.rows.findIndex((row) => row.id === change.id);
        let exact = false;
        if (index !== -1) {
          const row = this.rows[index];
          if (!(change.updated_at && later(row.updated_at, change.updated_at))) {
            const sameOrder = this.sort === "newest" || row.urgency === change.urgency;
            exact = this.matchesFilter(change.status) && sameOrder;
            this.rows[index] = decorate(
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
        if (inner.openId === change.id) {
          if (change.status !== "PROCESSING") this.streamingDraft = "";
          this.scheduleDetail();
        }
      },
      onNewTickets() {
        if (this.matchesFilter("PENDING")) this.scheduleRefresh();
      },
      onDraftEvent(event) {
        const data = this.parse(event);
        if (!data || data.id !== inner.openId) return;
        if (this.detail.status === "PROCESSING" || this.detail.status === "PENDING") {
          this.streamingDraft = data.draft || "";
        }
      },

      /* ---- keyboard ---- */

      rowLinks() {
        return this.$refs.list.querySelectorAll("a.row-link");
      },
      focusRow(row) {
        this.cursor = this.rows.findIndex((item) => item.id === row.id);
      },
      moveCursor(delta) {
        const links = this.rowLinks();
        if (!links.length) return;
        const next = this.cursor < 0 ? (delta > 0 ? 0 : links.length - 1) : this.cursor + delta;
        this.cursor = Math.max(0, Math.min(links.length - 1, next));
        links[this.cursor].focus();
      },
      // Only when the focus was lost to nothing (body): never take it from where the user put it.
      restoreFocus() {
        // After Alpine has updated the list (a removed row takes the focus with it).
        this.$nextTick(() => {
          if (this.isOpen || this.cursor < 0) return;
          const active = document.activeElement;
          if (active && active !== document.body) return;
          const links = this.rowLinks();
          if (links.length) links[Math.min(this.cursor, links.length - 1)].focus();
        });
      },
      onKey(event) {
        if (event.defaultPrevented || event.isComposing) return;
        const inField = isTextField(event.target);
        const modified = event.ctrlKey || event.metaKey || event.altKey;
        if (this.isOpen) {
          if (event.key === "r" && !inField && !modified) {
            event.preventDefault();
            this.resolve();
          }
          return; // Esc is the dialog's own (its cancel event closes it)
        }
        if (inField || modified) return;
        if (event.key === "j" || event.key === "ArrowDown") {
          event.preventDefault();
          this.moveCursor(1);
        } else if (event.key === "k" || event.key === "ArrowUp") {
          event.preventDefault();
          this.moveCursor(-1);
        } else if (event.key === "Enter") {
          const tag = event.target && event.target.tagName;
          if (tag === "A" || tag === "BUTTON") return; // the link or button does its own thing
          if (this.cursor >= 0 && this.rows[this.cursor]) {
            event.preventDefault();
            this.openRow(this.rows[this.cursor]);
          }
        }
      },
      onDraftKey(event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          this.resolve();
        }
      },

      /* ---- the detail dialog ---- */

      openRow(row) {
        this.cursor = this.rows.findIndex((item) => item.id === row.id);
        this.openTicket(row.id, row);
      },
      openTicket(id, row) {
        inner.openId = id;
        this.detail = decorate(row || { id: id, user_message: "", status: "PENDING" });
        this.detailLoaded = false;
        this.detailError = "";
        this.actionError = "";
        this.previewError = "";
        this.streamingDraft = "";
        this.draftText = inner.edits[id] !== undefined ? inner.edits[id] : "";
        this.setPreview("");
        inner.previewed = null;
        this.isOpen = true;
        const dialog = this.$refs.dialog;
        if (!dialog.open) dialog.showModal();
        this.syncUrl();
        this.loadDetail();
      },
      scheduleDetail() {
        if (inner.detailTimer !== null) return;
        inner.detailTimer = setTimeout(() => {
          inner.detailTimer = null;
          this.loadDetail();
        }, REFRESH_GAP_MS / 2);
      },
      async loadDetail() {
        const id = inner.openId;
        if (!id) return;
        const seq = ++inner.detailSeq;
        const result = await request(this.config.api.tickets + "/" + encodeURIComponent(id));
        if (seq !== inner.detailSeq || id !== inner.openId) return;
        if (!result.ok || !result.body) {
          this.detailError =
            result.status === 404
              ? "There is no ticket with this id."
              : "Could not load the ticket: " + describeError(result).join(" ");
          return;
        }
        this.detailError = "";
        const ticket = result.body;
        const before = this.detail.status;
        this.detail = decorate(ticket);
        this.detailLoaded = true;
        if (ticket.status !== "PROCESSING") this.streamingDraft = "";
        if (ticket.status === "RESOLVED") {
          delete inner.edits[id];
          this.draftText = ticket.ai_draft || "";
        } else if (inner.edits[id] === undefined) {
          this.draftText = ticket.ai_draft || "";
        }
        if (this.showsReply()) this.renderPreview();
        if (before !== ticket.status && before !== "PENDING") {
          this.announce("This ticket is now " + (STATUS_LABEL[ticket.status] || ticket.status));
        }
      },
      closeDetail() {
        this.$refs.dialog.close();
      },
      onDialogClick(event) {
        if (event.target === this.$refs.dialog) this.closeDetail(); // a click on the backdrop
      },
      onDialogClose() {
        this.isOpen = false;
        inner.openId = null;
        inner.detailSeq += 1;
        this.syncUrl();
        this.restoreFocus();
      },
      isPending() {
        return this.detail.status === "PENDING";
      },
      isProcessing() {
        return this.detail.status === "PROCESSING";
      },
      streamingText() {
        return this.streamingDraft || "Waiting for the first words…";
      },
      canEditDraft() {
        const status = this.detail.status;
        return this.detailLoaded && (status === "COMPLETED" || status === "FAILED");
      },
      showsReply() {
        return this.canEditDraft() || (this.detailLoaded && this.detail.status === "RESOLVED");
      },
      previewHeading() {
        return this.detail.status === "RESOLVED" ? "Reply sent" : "Preview";
      },
      canRetry() {
        return this.detail.status === "FAILED";
      },
      showsResolve() {
        return this.detail.status !== "RESOLVED";
      },
      resolveDisabled() {
        return this.busy || !this.canEditDraft() || this.draftText.trim() === "";
      },
      hasDetailError() {
        return this.detailError !== "";
      },
      hasPreviewError() {
        return this.previewError !== "";
      },
      draftEdited() {
        if (inner.openId) inner.edits[inner.openId] = this.draftText;
      },

      /* ---- preview: markdown rendered and sanitised by the server ---- */

      schedulePreview() {
        clearTimeout(inner.previewTimer);
        if (!this.isOpen || !this.showsReply()) return;
        inner.previewTimer = setTimeout(() => this.renderPreview(), PREVIEW_DEBOUNCE_MS);
      },
      async renderPreview() {
        clearTimeout(inner.previewTimer);
        const text = this.draftText;
        if (text === inner.previewed) return;
        const seq = ++inner.previewSeq;
        if (text.trim() === "") {
          this.setPreview("");
          inner.previewed = text;
          return;
        }
        const result = await request(this.config.api.preview, {
          method: "POST",
          json: { markdown: text },
        });
        if (seq !== inner.previewSeq) return;
        if (result.ok && result.body && typeof result.body.html === "string") {
          this.previewError = "";
          this.setPreview(result.body.html);
          inner.previewed = text;
        } else {
          this.previewError = "No preview: " + describeError(result).join(" ");
        }
      },
      setPreview(html) {
        // The only HTML this page inserts: /preview's output, sanitised on the server (nh3).
        this.$refs.preview.innerHTML = html;
      },

      /* ---- actions ---- */

      async resolve() {
        if (this.resolveDisabled()) return;
        const id = inner.openId;
        this.busy = true;
        this.actionError = "";
        const result = await request(
          this.config.api.tickets + "/" + encodeURIComponent(id) + "/resolve",
          { method: "PUT", json: { ai_draft: this.draftText } }
        );
        this.busy = false;
        if (id !== inner.openId) return;
        if (result.ok) {
          delete inner.edits[id];
          this.markRow(id, result.body && result.body.ticket);
          this.announce("Ticket resolved.");
          inner.refocusAfterLoad = true;
          this.closeDetail();
          this.loadList();
          return;
        }
        this.actionError = describeError(result).join(" ");
        if (result.status === 409) this.loadDetail();
      },
      async retry() {
        if (this.busy || !this.canRetry()) return;
        const id = inner.openId;
        this.busy = true;
        this.actionError = "";
        const result = await request(
          this.config.api.tickets + "/" + encodeURIComponent(id) + "/retry",
          { method: "POST" }
        );
        this.busy = false;
        if (id !== inner.openId) return;
        if (result.ok) {
          this.markRow(id, result.body && result.body.ticket);
          this.announce("Queued for another triage.");
          this.loadDetail();
          this.scheduleRefresh();
          return;
        }
        this.actionError = describeError(result).join(" ");
        if (result.status === 409) this.loadDetail();
      },
      markRow(id, state) {
        if (!state) return;
        const index = this.rows.findIndex((row) => row.id === id);
        if (index === -1) return;
        this.rows[index] = decorate(
          Object.assign({}, this.rows[index], { status: state.status, updated_at: state.updated_at })
        );
      },
    };
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("intakeForm", intakeForm);
    window.Alpine.data("ticketStatus", ticketStatus);
    window.Alpine.data("dashboard", dashboard);
  });
})();
