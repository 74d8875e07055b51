/* The detail's triage fields: the agent corrects the AI's category, urgency and sentiment (each
 * change is one PATCH, sent with the ETag the page last read), beside what the AI said and who
 * changed what. A page that acted on a stale ticket is told who changed it, and can load the
 * latest values without losing the reply being written. A FAILED ticket says why in words. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const fmt = TH.format;
  const FIELDS = ["category", "urgency", "sentiment"];

  // A <select> holds a string ("" when the ticket has no value yet); the API wants the value.
  function toField(value) {
    return value === null || value === undefined ? "" : String(value);
  }
  function fromField(name, value) {
    if (value === "") return null;
    return name === "sentiment" ? parseInt(value, 10) : value;
  }
  function shown(name, value) {
    if (name !== "sentiment") return String(value);
    return value + " (" + fmt.sentimentWord(Number(value)) + ")";
  }
  function fieldsOf(ticket) {
    const out = {};
    for (const name of FIELDS) out[name] = toField(ticket[name]);
    return out;
  }

  TH.parts.triage = function (inner) {
    const config = TH.config();
    Object.assign(inner, {
      etag: null, // the open ticket's ETag, as last read (GET) or written (PATCH)
      revision: 0,
      correcting: 0, // corrections on their way: a read meanwhile must not undo the select
      stale: {}, // per ticket id: the words of a 412, until the agent loads the latest values
    });

    function ticketUrl(id) {
      return config.api.tickets + "/" + encodeURIComponent(id);
    }

    return {
      triage: { category: "", urgency: "", sentiment: "" },
      staleMessage: "",

      resetTriage(id, row) {
        Object.assign(inner, { etag: null, revision: 0, correcting: 0 });
        this.triage = fieldsOf(row || {});
        this.staleMessage = inner.stale[id] || "";
      },
      // A fresh read of the open ticket, unless the page already knows a newer revision.
      adoptTriage(ticket, etag) {
        if (inner.correcting || (ticket.revision || 0) < inner.revision) return;
        inner.revision = ticket.revision || 0;
        inner.etag = etag || null;
        this.triage = fieldsOf(ticket);
      },
      // What a resolve sends with the reply: the values the agent sees, and the ETag they came with.
      triageValues() {
        const out = {};
        for (const name of FIELDS) {
          const value = fromField(name, this.triage[name]);
          if (value !== null) out[name] = value;
        }
        return out;
      },
      ifMatch() {
        return inner.etag ? { "If-Match": inner.etag } : {};
      },

      canCorrect() {
        const status = this.detail.status;
        const open = status === "COMPLETED" || status === "FAILED";
        return this.detailLoaded && open && !this.isResolvingOpen();
      },
      correctDisabled() {
        return !this.canCorrect();
      },
      async correct(name) {
        const id = inner.openId;
        const value = fromField(name, this.triage[name]);
        if (!id || value === null || !this.canCorrect()) return;
        inner.correcting += 1;
        const result = await TH.request(ticketUrl(id), {
          method: "PATCH",
          json: { [name]: value },
          headers: this.ifMatch(),
        });
        if (id !== inner.openId) return;
        inner.correcting -= 1;
        if (result.ok && result.body) {
          inner.etag = result.etag;
          inner.revision = result.body.ticket.revision;
          const changes = (this.detail.changes || []).concat(result.body.changes);
          this.detail = fmt.decorate(
            Object.assign({}, this.detail, { [name]: value, changes: changes })
          );
          this.toast(fmt.sentence(name + " set to " + shown(name, value)));
          return;
        }
        this.triage[name] = toField(this.detail[name]); // not changed: show what the ticket has
        if (result.status === 412) {
          this.showStale(id, result.body);
          return;
        }
        this.toast("Could not change the " + name + ": " + TH.describeError(result).join(" "), "error");
        if (result.status === 409) this.loadDetail();
      },

      /* ---- a stale page: who changed what, and the latest values on request ---- */

      showStale(id, body) {
        inner.stale[id] = (body && body.message) || "This ticket changed since you loaded it.";
        if (id === inner.openId) this.staleMessage = inner.stale[id];
      },
      hasStale() {
        return this.staleMessage !== "" && this.detail.status !== "RESOLVED";
      },
      // The reply being written stays: only the ticket's values are read again.
      async loadLatest() {
        const id = inner.openId;
        delete inner.stale[id];
        inner.revision = 0;
        await this.loadDetail();
        if (id !== inner.openId) return;
        this.staleMessage = "";
        this.announce("Loaded the latest values of this ticket.");
        TH.focusWhenShown(this.$refs.draft);
      },

      /* ---- what the fields say beside them ---- */

      aiSaid(name) {
        const value = this.detail["ai_" + name];
        if (value !== null && value !== undefined) return "AI said: " + shown(name, value);
        return this.detail.status === "FAILED" ? "AI said nothing" : "";
      },
      // "changed by dana 2 min ago": the latest change an agent made to this field.
      changedBy(name) {
        const changes = (this.detail.changes || []).filter((change) => change.field === name);
        const last = changes[changes.length - 1];
        return last ? "changed by " + last.actor + " " + fmt.ago(last.changed_at, this.now) : "";
      },
      isCorrected(name) {
        return this.changedBy(name) !== "";
      },
      // The urgency's colour, as in the list (a word too: the select's own text).
      urgencyFieldClass() {
        const urgency = this.triage.urgency;
        return urgency ? "urgency-select urgency-" + urgency.toLowerCase() : "urgency-select";
      },
      fieldHint() {
        if (!this.detailLoaded || this.canCorrect()) return "";
        const status = this.detail.status;
        if (status === "PENDING" || status === "PROCESSING") return "The AI is still triaging.";
        return "";
      },

      /* ---- FAILED: needs a human; a retry says which attempt runs ---- */

      attemptText() {
        const attempts = this.detail.attempts || 1;
        return "attempt " + attempts + " of " + config.max_attempts;
      },
    };
  };
})();
