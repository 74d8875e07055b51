/* The dashboard's ticket dialog: the ticket as the server has it now, and the actions on it —
 * resolve (dashboard-resolve.js) and retry share one path. The triage fields, the reply and who
 * else is there are their own parts (dashboard-triage.js, -reply.js, -presence.js). */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const fmt = TH.format;
  const DETAIL_GAP_MS = 125; // events for the open ticket: at most one fetch per this long

  function blankTicket(id) {
    return fmt.decorate({ id: id || "", user_message: "", status: "PENDING" });
  }

  TH.parts.detail = function (inner) {
    const config = TH.config();
    Object.assign(inner, {
      openId: null,
      detailSeq: 0,
      detailTimer: null,
      retried: {}, // ids this page sent back to the model: their attempts are said
    });

    return {
      isOpen: false,
      detailLoaded: false, // the editor waits for the whole ticket (its draft) to arrive
      detail: blankTicket(),
      detailError: "",
      draftText: "",
      busy: false,
      actionError: "",

      setup() {
        const ticket = new URLSearchParams(window.location.search).get("ticket");
        if (ticket) this.$nextTick(() => this.openTicket(ticket));
      },

      openRow(row) {
        this.cursor = this.rows.findIndex((item) => item.id === row.id);
        this.openTicket(row.id, row);
      },
      openTicket(id, row) {
        inner.openId = id;
        this.detail = row ? fmt.decorate(row) : blankTicket(id);
        this.detailLoaded = false;
        this.detailError = "";
        this.actionError = "";
        this.draftText = "";
        this.resetTriage(id, row);
        this.resetReplyState();
        this.resetPreviews();
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
        }, DETAIL_GAP_MS);
      },
      async loadDetail() {
        const id = inner.openId;
        if (!id) return;
        const seq = ++inner.detailSeq;
        const result = await TH.request(config.api.tickets + "/" + encodeURIComponent(id));
        if (seq !== inner.detailSeq || id !== inner.openId) return;
        if (!result.ok || !result.body) {
          this.detailError =
            result.status === 404
              ? "There is no ticket with this id."
              : "Could not load the ticket: " + TH.describeError(result).join(" ");
          return;
        }
        this.detailError = "";
        const ticket = result.body;
        const before = this.detailLoaded ? this.detail.status : ticket.status;
        this.detail = fmt.decorate(ticket);
        this.detailLoaded = true;
        this.adoptTriage(ticket, result.etag);
        this.enterTicket(id); // (once the ticket is known to exist; again: nothing)
        this.seePresence(ticket.presence, result.date);
        if (ticket.status !== "PROCESSING") this.stopStreaming();
        if (ticket.status !== "PENDING" && ticket.status !== "PROCESSING") delete inner.retried[id];
        this.restoreReply(ticket);
        if (this.showsReply()) this.renderPreview();
        if (before !== ticket.status) {
          this.announce("This ticket is now " + fmt.statusLabel(ticket.status));
        }
      },
      onOpenTicketChanged(change) {
        if (change.status !== "PROCESSING") this.stopStreaming();
        this.scheduleDetail();
      },
      closeDetail() {
        this.$refs.dialog.close();
      },
      onDialogClick(event) {
        if (event.target === this.$refs.dialog) this.closeDetail(); // a click on the backdrop
      },
      onDialogClose() {
        this.isOpen = false;
        this.leaveTicket();
        inner.openId = null;
        inner.detailSeq += 1;
        this.resetPreviews();
        this.syncUrl();
        this.restoreFocus();
      },

      /* ---- what the dialog shows ---- */

      isPending() {
        return this.detail.status === "PENDING";
      },
      isProcessing() {
        return this.detail.status === "PROCESSING";
      },
      canEditDraft() {
        const status = this.detail.status;
        return this.detailLoaded && (status === "COMPLETED" || status === "FAILED");
      },
      showsReply() {
        return this.canEditDraft() || (this.detailLoaded && this.detail.status === "RESOLVED");
      },
      // The editor and its preview side by side where there is room (not for a sent reply).
      editorClass() {
        return { "has-editor": this.canEditDraft() };
      },
      hasDetailError() {
        return this.detailError !== "";
      },
      canRetry() {
        return this.detail.status === "FAILED";
      },
      showsResolve() {
        return this.detail.status !== "RESOLVED";
      },
      resolveDisabled() {
        const blank = this.draftText.trim() === "";
        return this.busy || !this.canEditDraft() || blank || this.isResolvingOpen();
      },
      // Why Resolve cannot be pressed now, in words (empty when it can, or while it works).
      resolveReason() {
        if (this.busy || this.detailError || this.isResolvingOpen()) return "";
        if (!this.detailLoaded) return "Loading the ticket…";
        if (this.isPending() || this.isProcessing()) return "Still being triaged";
        if (this.canEditDraft() && this.draftText.trim() === "") return "Write a reply first";
        return "";
      },
      hasResolveReason() {
        return this.showsResolve() && this.resolveReason() !== "";
      },

      // After a retry from this page: which attempt runs, of how many the server allows.
      isRetrying() {
        const status = this.detail.status;
        return Boolean(inner.retried[inner.openId]) && (status === "PENDING" || status === "PROCESSING");
      },
      retryText() {
        if (this.detail.status === "PENDING") return "Retrying — queued for the model…";
        return "Retrying — " + this.attemptText() + " running…";
      },

      /* ---- actions: resolve (its undo window first) and retry ---- */

      // The action's ticket may no longer be the open one (a resolve sent after its dialog closed).
      async runAction(action) {
        const id = action.id;
        const shown = () => id === inner.openId;
        if (shown() && this.busy) return;
        const name = "ticket " + String(id).slice(0, 8);
        if (shown()) {
          this.busy = true;
          this.actionError = "";
        }
        const result = await TH.request(
          config.api.tickets + "/" + encodeURIComponent(id) + action.path,
          { method: action.method, json: action.json, headers: action.headers, keepalive: action.keepalive }
        );
        if (shown()) this.busy = false;
        if (result.ok) {
          this.markRow(id, result.body && result.body.ticket);
          action.after.call(this, id);
          // After: a resolve has closed the dialog, so the toast is shown (and read) on the page.
          this.toast(action.done.replace("{ticket}", name));
          return;
        }
        if (action.failed) action.failed.call(this, id, result);
        const reason = TH.describeError(result).join(" ");
        this.toast("Could not " + action.verb + " " + name + ": " + reason, "error");
        // Changed since the agent read it, and still open: said in the dialog, with the way to
        // the latest values. (Resolved meanwhile: said like any refusal; nothing is left to do.)
        const stale = result.status === 412 && result.body && result.body.status !== "RESOLVED";
        if (stale) {
          this.showStale(id, result.body);
          if (shown()) TH.focusWhenShown(this.$refs.loadLatest);
          return;
        }
        if (!shown()) return;
        this.actionError = reason;
        if (result.status === 409 || result.status === 412) this.loadDetail();
      },
      retry() {
        if (!this.canRetry()) return;
        return this.runAction({
          id: inner.openId,
          path: "/retry",
          method: "POST",
          verb: "retry",
          done: "Queued {ticket} for another triage.",
          after(id) {
            inner.retried[id] = true;
            if (id === inner.openId) this.loadDetail();
            this.scheduleRefresh();
          },
        });
      },
    };
  };
})();
