/* The dashboard's ticket dialog: the ticket as the server has it now, the agent's reply (kept per
 * ticket while the page lives), and the actions on it — resolve and retry share one path. */
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
      edits: {}, // unsent reply edits per ticket id, kept when the dialog closes
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
        this.draftText = inner.edits[id] !== undefined ? inner.edits[id] : "";
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
        if (ticket.status !== "PROCESSING") this.stopStreaming();
        if (ticket.status === "RESOLVED") {
          delete inner.edits[id];
          this.draftText = ticket.ai_draft || "";
        } else if (inner.edits[id] === undefined) {
          this.draftText = ticket.ai_draft || "";
        }
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
        inner.openId = null;
        inner.detailSeq += 1;
        this.resetPreviews();
        this.syncUrl();
        this.restoreFocus();
      },
      draftEdited() {
        if (inner.openId) inner.edits[inner.openId] = this.draftText;
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
        return this.busy || !this.canEditDraft() || this.draftText.trim() === "";
      },
      // Why Resolve cannot be pressed now, in words (empty when it can, or while it works).
      resolveReason() {
        if (this.busy || this.detailError) return "";
        if (!this.detailLoaded) return "Loading the ticket…";
        if (this.isPending() || this.isProcessing()) return "Still being triaged";
        if (this.canEditDraft() && this.draftText.trim() === "") return "Write a reply first";
        return "";
      },
      hasResolveReason() {
        return this.showsResolve() && this.resolveReason() !== "";
      },

      /* ---- actions: resolve and retry ---- */

      async runAction(action) {
        if (this.busy) return;
        const id = inner.openId;
        const name = "ticket " + String(id).slice(0, 8);
        this.busy = true;
        this.actionError = "";
        const result = await TH.request(
          config.api.tickets + "/" + encodeURIComponent(id) + action.path,
          { method: action.method, json: action.json }
        );
        this.busy = false;
        if (result.ok) {
          this.markRow(id, result.body && result.body.ticket);
          action.after.call(this, id);
          // After: a resolve has closed the dialog, so the toast is shown (and read) on the page.
          this.toast(action.done.replace("{ticket}", name));
          return;
        }
        const reason = TH.describeError(result).join(" ");
        this.toast("Could not " + action.verb + " " + name + ": " + reason, "error");
        if (id !== inner.openId) return;
        this.actionError = reason;
        if (result.status === 409) this.loadDetail();
      },
      resolve() {
        if (this.resolveDisabled()) return;
        return this.runAction({
          path: "/resolve",
          method: "PUT",
          json: { ai_draft: this.draftText },
          verb: "resolve",
          done: "Resolved {ticket}.",
          after(id) {
            delete inner.edits[id];
            if (id === inner.openId) {
              inner.refocusAfterLoad = true;
              this.closeDetail();
            }
            this.loadList();
          },
        });
      },
      retry() {
        if (!this.canRetry()) return;
        return this.runAction({
          path: "/retry",
          method: "POST",
          verb: "retry",
          done: "Queued {ticket} for another triage.",
          after(id) {
            if (id === inner.openId) this.loadDetail();
            this.scheduleRefresh();
          },
        });
      },
    };
  };
})();
