/* Markdown rendered by the server (POST /preview, sanitised there), for the agent's reply and
 * for the draft the model is streaming. One request in flight per view; the latest text wins;
 * a failed render keeps what was shown and says, in words, that it is out of date. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const EDIT_DEBOUNCE_MS = 300; // after the agent stops typing
  const STREAM_EVERY_MS = 250; // while the model writes: at most this often

  // A draft cut off mid-stream: close an open `**` or backtick, so it is not shown raw.
  function closeOpenMarks(text) {
    let out = text;
    if ((out.match(/\*\*/g) || []).length % 2) out += "**";
    if ((out.replace(/```/g, "").match(/`/g) || []).length % 2) out += "`";
    return out;
  }

  function view() {
    // want: the text to show; shown: the text shown; tried: the last text sent; epoch: bumped
    // when the view is reset, so a late answer for an earlier ticket is dropped.
    return { want: "", shown: null, tried: null, busy: false, timer: null, epoch: 0 };
  }

  TH.parts.preview = function (inner) {
    const config = TH.config();
    inner.views = { preview: view(), streaming: view() };

    return {
      streamingDraft: "",
      previewStale: "", // why the reply's preview is out of date ("" when it is not)
      streamingStale: "",

      setup() {
        this.$watch("draftText", () => this.schedulePreview());
      },

      previewHeading() {
        // Resolved is not sent: what became of each delivery is said beside it.
        return this.detail.status === "RESOLVED" ? "The reply" : "Preview";
      },
      isPreviewStale() {
        return this.previewStale !== "";
      },
      isStreamingStale() {
        return this.streamingStale !== "";
      },
      previewClass() {
        return { "is-stale": this.previewStale !== "" };
      },
      streamingClass() {
        return { "is-stale": this.streamingStale !== "" };
      },

      schedulePreview() {
        const v = inner.views.preview;
        clearTimeout(v.timer);
        if (!this.isOpen || !this.showsReply()) return;
        v.timer = setTimeout(() => this.renderPreview(), EDIT_DEBOUNCE_MS);
      },
      renderPreview() {
        const v = inner.views.preview;
        clearTimeout(v.timer);
        v.want = this.draftText;
        this.renderView("preview");
      },
      onStreamedDraft(text) {
        if (this.detail.status !== "PROCESSING" && this.detail.status !== "PENDING") return;
        this.streamingDraft = text;
        const v = inner.views.streaming;
        v.want = text;
        if (v.timer === null) {
          v.timer = setTimeout(() => {
            v.timer = null;
            this.renderView("streaming");
          }, STREAM_EVERY_MS);
        }
      },
      stopStreaming() {
        this.streamingDraft = "";
        this.resetView("streaming");
      },
      resetPreviews() {
        this.streamingDraft = "";
        this.resetView("preview");
        this.resetView("streaming");
      },
      resetView(name) {
        const v = inner.views[name];
        clearTimeout(v.timer);
        Object.assign(v, { want: "", shown: null, tried: null, timer: null, epoch: v.epoch + 1 });
        this.showHtml(name, "");
        this.setStale(name, "");
      },

      async renderView(name) {
        const v = inner.views[name];
        const text = v.want;
        if (v.busy || text === v.shown) return;
        if (text.trim() === "") {
          v.shown = v.tried = text;
          this.showHtml(name, "");
          this.setStale(name, "");
          return;
        }
        const epoch = v.epoch;
        v.busy = true;
        v.tried = text;
        const markdown = name === "streaming" ? closeOpenMarks(text) : text;
        const result = await TH.request(config.api.preview, {
          method: "POST",
          json: { markdown: markdown },
        });
        v.busy = false;
        if (epoch === v.epoch) {
          if (result.ok && result.body && typeof result.body.html === "string") {
            v.shown = text;
            this.showHtml(name, result.body.html);
            this.setStale(name, "");
          } else {
            this.renderFailed(name, TH.describeError(result).join(" "));
          }
        }
        // Text that arrived while this one was rendering is rendered next (once: not a loop).
        if (v.want !== v.tried && v.want !== v.shown) this.renderView(name);
      },
      renderFailed(name, reason) {
        const v = inner.views[name];
        if (v.shown !== null) {
          this.setStale(name, "Out of date — the preview could not be updated: " + reason);
        } else if (name === "streaming") {
          this.showText(name, v.tried); // the words at least, unrendered
          this.setStale(name, "Shown as plain text — the draft could not be rendered: " + reason);
        } else {
          this.setStale(name, "No preview — it could not be rendered: " + reason);
        }
      },
      setStale(name, reason) {
        if (name === "preview") this.previewStale = reason;
        else this.streamingStale = reason;
      },
      // The only HTML this page inserts: /preview's output, sanitised on the server (nh3).
      showHtml(name, html) {
        const el = this.$refs[name];
        if (!el) return;
        el.classList.remove("is-plain");
        el.innerHTML = html;
      },
      showText(name, text) {
        const el = this.$refs[name];
        if (!el) return;
        el.classList.add("is-plain");
        el.textContent = text;
      },
    };
  };
})();
