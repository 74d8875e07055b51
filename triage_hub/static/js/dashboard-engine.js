/* What triages the tickets: the banner while the LLM does not answer (GET /health, asked every
 * few seconds while the tab is shown, and whenever the event stream reopens), what triaged the open ticket and how sure
 * it was of each field, and "Retry with the LLM" for a ticket the built-in engine triaged. */
(function () {
  "use strict";

  const TH = window.TriageHub;

  TH.parts.engine = function (inner) {
    const config = TH.config();
    Object.assign(inner, { healthBusy: false });

    return {
      llmDown: false,

      setup() {
        if (!config.engine_banner) return; // TRIAGE_ENGINE=builtin: no LLM to wait for
        this.checkEngine();
        // A hidden tab asks nothing; it asks at once when it is shown again.
        setInterval(() => {
          if (!document.hidden) this.checkEngine();
        }, config.engine_check_every_seconds * 1000);
        document.addEventListener("visibilitychange", () => {
          if (!document.hidden) this.checkEngine();
        });
      },
      // The LLM answers when /health says it is reachable and has the model; an unanswered
      // check (no server, no database) says nothing about the LLM: the banner stays as it was.
      async checkEngine() {
        if (inner.healthBusy || !config.engine_banner) return;
        inner.healthBusy = true;
        const result = await TH.request(config.api.health);
        inner.healthBusy = false;
        const llm = result.body && result.body.llm;
        if (!llm || typeof llm.reachable !== "boolean") return;
        const down = !llm.reachable || llm.model_available === false;
        if (down !== this.llmDown) this.announce(down ? config.engine_banner : "The LLM answers again.");
        this.llmDown = down;
      },
      showsEngineBanner() {
        return this.llmDown;
      },
      engineBanner() {
        return config.engine_banner;
      },

      /* ---- the open ticket: what triaged it, how sure it was ---- */

      fieldConfidence(name) {
        const confidence = this.detail.confidence;
        return confidence ? TH.format.confidence(confidence[name]) : null;
      },
      hasConfidence(name) {
        return this.fieldConfidence(name) !== null;
      },
      confidenceLabel(name) {
        const found = this.fieldConfidence(name);
        return found ? found.label : "";
      },
      confidenceTitle(name) {
        const found = this.fieldConfidence(name);
        return found ? found.percent + " sure" : "";
      },
      confidenceClass(name) {
        const found = this.fieldConfidence(name);
        return "confidence confidence-" + (found ? found.level : "none");
      },

      /* ---- a built-in result, triaged again by the LLM ---- */

      canRetryWithLlm() {
        const d = this.detail;
        const llm = config.engine_mode !== "builtin";
        return llm && this.detailLoaded && d.status === "COMPLETED" && d.engine === "builtin";
      },
      retryWithLlmDisabled() {
        return this.busy || this.llmDown || this.isResolvingOpen();
      },
      retryWithLlmHint() {
        return this.llmDown ? "The LLM is unreachable: retry once it is back." : "";
      },
      retryWithLlm() {
        if (!this.canRetryWithLlm() || this.retryWithLlmDisabled()) return;
        return this.runAction({
          id: inner.openId,
          path: "/retry",
          method: "POST",
          verb: "retry",
          done: "Queued {ticket} for the LLM.",
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
