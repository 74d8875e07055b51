/* The reply being written is never lost: saved to the server as the agent types (debounced),
 * restored from there on any device, and kept in this browser (per agent and ticket) until the
 * server has it — so a session that expires mid-edit keeps the text through the login and back.
 * Leaving the page or logging out with text the server does not have yet asks first. A reply
 * that never went out because someone else resolved the ticket first is kept and shown (with
 * Copy), in this browser too, until the agent dismisses it. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const fmt = TH.format;
  const SAVE_DEBOUNCE_MS = 800; // after the agent stops typing
  const RETRY_MS = [2000, 4000, 8000, 15000]; // after failed saves in a row

  TH.parts.reply = function (inner) {
    const config = TH.config();
    const prefix = "triage-hub.reply." + config.me + ".";
    Object.assign(inner, {
      edits: {}, // id -> the reply as this page has it (kept while the page lives)
      unsaved: {}, // id -> {body, at}: text the server does not have yet
      saveTimers: {}, // id -> the debounce (or retry) timer of its next save
      saving: {}, // id -> true while its PUT is on the way
      failures: {}, // id -> failed saves in a row
      unsent: {}, // id -> the agent's reply that was not sent: someone else resolved first
      loggingOut: false,
    });

    // Local storage may be full or refused: the server's copy is then all there is.
    function readLocal(id) {
      try {
        const copy = JSON.parse(localStorage.getItem(prefix + id) || "null");
        return copy && typeof copy.body === "string" ? copy : null;
      } catch (error) {
        return null;
      }
    }
    function writeLocal(id, copy) {
      try {
        localStorage.setItem(prefix + id, JSON.stringify(copy));
      } catch (error) {
        /* not kept locally */
      }
    }
    function dropLocal(id) {
      try {
        localStorage.removeItem(prefix + id);
      } catch (error) {
        /* nothing to drop */
      }
    }

    return {
      saveState: "", // "", "saving", "saved", "retrying" or "failed"
      savedAt: null,
      saveError: "",
      unsentReply: "", // the open ticket's reply that was not sent ("" when none)

      setup() {
        window.addEventListener("beforeunload", (event) => this.onBeforeUnload(event));
        const logout = document.querySelector("form.logout");
        if (logout) logout.addEventListener("submit", (event) => this.onLogout(event));
      },

      resetReplyState() {
        this.saveState = "";
        this.savedAt = null;
        this.saveError = "";
        this.unsentReply = "";
      },
      replyEdited() {
        const id = inner.openId;
        if (!id) return;
        inner.edits[id] = this.draftText;
        const copy = { body: this.draftText, at: new Date().toISOString() };
        inner.unsaved[id] = copy;
        writeLocal(id, copy);
        this.saveState = "saving";
        this.typed();
        this.scheduleSave(id, SAVE_DEBOUNCE_MS);
      },
      scheduleSave(id, delay) {
        clearTimeout(inner.saveTimers[id]);
        inner.saveTimers[id] = setTimeout(() => this.saveReply(id), delay);
      },
      cancelSave(id) {
        clearTimeout(inner.saveTimers[id]);
        delete inner.saveTimers[id];
      },
      async saveReply(id) {
        delete inner.saveTimers[id];
        const copy = inner.unsaved[id];
        // One save per ticket at a time (its answer sends what was typed meanwhile); none while
        // a resolve of this ticket waits for its undo window.
        if (!copy || inner.saving[id] || this.isResolving(id)) return;
        inner.saving[id] = true;
        const result = await TH.request(
          config.api.tickets + "/" + encodeURIComponent(id) + "/draft",
          { method: "PUT", json: { draft: copy.body } }
        );
        inner.saving[id] = false;
        const shown = id === inner.openId;
        if (result.ok && result.body) {
          inner.failures[id] = 0;
          if (inner.unsaved[id] === copy) {
            delete inner.unsaved[id];
            dropLocal(id); // the server has it now
          } else if (inner.unsaved[id] && !inner.saveTimers[id]) {
            this.scheduleSave(id, 0);
          }
          if (shown) {
            this.savedAt = result.body.saved_at;
            this.saveState = inner.unsaved[id] ? "saving" : "saved";
          }
          return;
        }
        if (result.status === 401) return; // off to log in again: the local copy stays
        if (result.status === 409) {
          // Resolved meanwhile by someone else (ours waits): what was typed is kept, unsent.
          this.keepUnsent(id, copy.body);
          if (shown) this.loadDetail();
          return;
        }
        if (shown) this.saveError = TH.describeError(result).join(" ");
        if ([400, 404, 413].includes(result.status)) {
          if (shown) this.saveState = "failed"; // sending it again would not help
          return;
        }
        const failures = (inner.failures[id] || 0) + 1;
        inner.failures[id] = failures;
        if (shown && this.saveState !== "retrying") {
          this.saveState = "retrying";
          this.announce("Your reply is not saved yet. Retrying.");
        }
        if (!inner.saveTimers[id]) {
          this.scheduleSave(id, RETRY_MS[Math.min(failures, RETRY_MS.length) - 1]);
        }
      },
      saveText() {
        if (this.saveState === "saving") return "Saving…";
        if (this.saveState === "saved") return this.savedAt ? "Saved " + fmt.clock(this.savedAt) : "";
        if (this.saveState === "retrying") return "Not saved — retrying";
        if (this.saveState === "failed") return "Not saved: " + this.saveError;
        return "";
      },
      saveClass() {
        return "save-state save-" + (this.saveState || "none");
      },

      // The reply to show for the ticket as read: text this browser has that the server does
      // not (newer than the server's copy) wins, then the server's copy, then this page's, then
      // the AI's draft. A sent reply is shown as sent.
      restoreReply(ticket) {
        const id = ticket.id;
        if (ticket.status === "RESOLVED") {
          // By someone else, while this agent had a reply of their own: it is kept, unsent.
          const local = readLocal(id);
          const unsaved = inner.unsaved[id];
          const mine = inner.unsent[id] || (unsaved && unsaved.body) || (local && local.body) ||
            inner.edits[id] || (ticket.draft && ticket.draft.body) || "";
          const lost = mine.trim() !== "" && mine !== ticket.ai_draft;
          if (lost && ticket.resolved_by !== config.me) this.keepUnsent(id, mine);
          else this.replyDone(id); // (the dialog says it is resolved, and shows the reply)
          this.setDraft(ticket.ai_draft || "");
          return;
        }
        const server = ticket.draft;
        const local = inner.unsaved[id] || readLocal(id);
        if (local && (!server || Date.parse(local.at) > Date.parse(server.saved_at))) {
          inner.edits[id] = local.body;
          inner.unsaved[id] = local;
          this.setDraft(local.body);
          this.saveState = "saving";
          if (!inner.saving[id]) this.scheduleSave(id, 0); // now, not at the next retry
          return;
        }
        if (local) {
          delete inner.unsaved[id]; // older than what the server has (saved from elsewhere)
          dropLocal(id);
        }
        if (server) {
          inner.edits[id] = server.body;
          this.setDraft(server.body);
          this.savedAt = server.saved_at;
          this.saveState = "saved";
        } else {
          this.setDraft(inner.edits[id] !== undefined ? inner.edits[id] : ticket.ai_draft || "");
        }
      },
      setDraft(text) {
        if (this.draftText !== text) this.draftText = text;
      },
      // The ticket is resolved (by this page or another): its drafts are done with.
      replyDone(id) {
        this.cancelSave(id);
        delete inner.edits[id];
        delete inner.unsaved[id];
        dropLocal(id);
      },
      // Someone else resolved first: the agent's text is not sent, and never silently dropped.
      keepUnsent(id, text) {
        if (!text || text.trim() === "") return;
        this.cancelSave(id);
        delete inner.edits[id];
        delete inner.unsaved[id]; // nothing left to save it to (not a reason to leave the page)
        inner.unsent[id] = text;
        writeLocal(id, { body: text, at: new Date().toISOString(), unsent: true });
        if (id === inner.openId) this.unsentReply = text;
      },
      hasUnsentReply() {
        return this.unsentReply !== "" && this.detail.status === "RESOLVED";
      },
      unsentNote() {
        const who = this.detail.resolved_by;
        return (who ? who + " resolved" : "Someone else resolved") +
          " this ticket first, so your reply was not sent. Here it is, to keep or copy:";
      },
      async copyUnsent() {
        let copied = false;
        try {
          await navigator.clipboard.writeText(this.unsentReply);
          copied = true;
        } catch (error) {
          copied = false;
        }
        if (copied) {
          this.toast("Copied your reply.");
        } else {
          this.$refs.unsent.select(); // the agent copies it with the keyboard
          this.toast("Select and copy your reply with Ctrl+C.", "error");
        }
      },
      dismissUnsent() {
        const id = inner.openId;
        delete inner.unsent[id];
        dropLocal(id);
        this.unsentReply = "";
      },

      /* ---- leaving with text the server does not have ---- */

      hasUnsavedReply() {
        return Object.keys(inner.unsaved).length > 0;
      },
      onBeforeUnload(event) {
        if (TH.leavingForLogin || inner.loggingOut || !this.hasUnsavedReply()) return;
        event.preventDefault();
        event.returnValue = ""; // the browser asks in its own words
      },
      async onLogout(event) {
        if (inner.loggingOut) return;
        const form = event.target;
        event.preventDefault();
        if (this.hasUnsavedReply() && !window.confirm("A reply you wrote is not saved yet. Log out anyway?")) {
          return;
        }
        inner.loggingOut = true;
        await this.flushResolve(); // a resolve waiting for its undo window goes first
        form.submit();
      },
    };
  };
})();
