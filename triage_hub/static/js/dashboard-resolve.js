/* Resolving is deliberate: RESOLVED is final, so the Resolve button (or Ctrl/Cmd+Enter in the
 * reply) first shows "Resolving… Undo" for a few seconds, and only then sends the resolve —
 * with the reply, the triage values and the ETag of the moment the agent asked. Undo sends
 * nothing. Closing the dialog meanwhile does not stop it; leaving the page sends it at once. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const UNDO_MS = 5000;

  TH.parts.resolve = function (inner) {
    inner.pending = null; // {id, name, json, headers, timer}: the resolve waiting to be sent

    return {
      resolving: null, // {id, text} while the undo window is open

      setup() {
        window.addEventListener("pagehide", () => this.flushResolve(true));
      },

      isResolving(id) {
        return Boolean(this.resolving && this.resolving.id === id);
      },
      isResolvingOpen() {
        return this.isResolving(inner.openId);
      },
      resolve() {
        if (this.resolveDisabled()) return;
        if (inner.pending) this.flushResolve(); // one at a time: the earlier one goes now
        const id = inner.openId;
        const name = "ticket " + String(id).slice(0, 8);
        this.cancelSave(id); // the resolve carries the reply; saving it again would race it
        inner.pending = {
          id: id,
          name: name,
          json: Object.assign({ ai_draft: this.draftText }, this.triageValues()),
          headers: this.ifMatch(),
          timer: setTimeout(() => this.flushResolve(), UNDO_MS),
        };
        this.resolving = { id: id, text: "Resolving " + name + "…" };
        this.actionError = "";
        this.$nextTick(() => TH.focusWhenShown(this.undoButton()));
      },
      undoResolve() {
        const pending = inner.pending;
        if (!pending) return;
        clearTimeout(pending.timer);
        inner.pending = null;
        this.resolving = null;
        if (inner.unsaved[pending.id]) this.scheduleSave(pending.id, 0);
        this.toast("Not resolved: " + pending.name + " stays open.");
        if (pending.id === inner.openId) TH.focusWhenShown(this.$refs.draft);
      },
      async flushResolve(keepalive) {
        const pending = inner.pending;
        if (!pending) return;
        clearTimeout(pending.timer);
        inner.pending = null;
        this.resolving = null;
        await this.runAction({
          id: pending.id,
          path: "/resolve",
          method: "PUT",
          json: pending.json,
          headers: pending.headers,
          keepalive: Boolean(keepalive),
          verb: "resolve",
          done: "Resolved {ticket}.",
          after(id) {
            this.replyDone(id);
            if (id === inner.openId) {
              inner.refocusAfterLoad = true;
              this.closeDetail();
            }
            this.loadList();
          },
          failed(id, result) {
            const body = result.body || {};
            // Resolved by someone else first: this reply was not sent, and is kept as such.
            if (result.status === 409 || body.status === "RESOLVED") this.keepUnsent(id, pending.json.ai_draft);
            else if (inner.unsaved[id]) this.scheduleSave(id, 0); // not sent: go on keeping it
          },
        });
      },

      /* ---- the toast: on the page, or in the dialog when one is open (the page is inert) ---- */

      undoOnPage() {
        return this.resolving !== null && !this.isOpen;
      },
      undoInDialog() {
        return this.resolving !== null && this.isOpen;
      },
      resolvingText() {
        return this.resolving ? this.resolving.text : "";
      },
      undoButton() {
        return document.getElementById(this.isOpen ? "undo-in-dialog" : "undo-on-page");
      },
    };
  };
})();
