/* The public intake form (/submit): the length rule live, the API's answer inline. */
(function () {
  "use strict";

  const TH = window.TriageHub;

  TH.component("intakeForm", function intakeForm() {
    const config = TH.config(); // {min, max, api, created_label}
    return {
      message: "",
      email: "",
      name: "",
      submitting: false,
      errors: [],
      serverErrorsShown: true,
      created: null,

      init() {
        // The text the server put back into the form (a no-JS post that failed validation).
        this.message = this.$root.querySelector("textarea[name=message]").value;
        this.email = this.$root.querySelector("input[name=email]").value;
        this.name = this.$root.querySelector("input[name=name]").value;
        // With JavaScript the rule is shown live and the API's answer inline, not as a bubble.
        this.$root.querySelector("form").noValidate = true;
      },

      length() {
        return TH.format.trimmedLength(this.message);
      },
      counterText() {
        const n = this.length();
        const base = n + " / " + config.max + " characters";
        if (n < config.min) return base + " · " + (config.min - n) + " more needed";
        if (n > config.max) return base + " · " + (n - config.max) + " too many";
        return base;
      },
      counterClass() {
        const n = this.length();
        if (n > config.max) return "is-over";
        if (n < config.min) return "is-under";
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
        return config.created_label;
      },
      createdUrl() {
        return this.created ? "/submit/" + encodeURIComponent(this.created.ticket_id) : "#";
      },

      async submit() {
        if (this.submitting) return;
        this.serverErrorsShown = false;
        const n = this.length();
        if (n < config.min) {
          this.errors = ["Please write at least " + config.min + " characters."];
          return;
        }
        if (n > config.max) {
          this.errors = ["Please keep it to " + config.max + " characters or fewer."];
          return;
        }
        this.errors = [];
        this.submitting = true;
        const result = await TH.request(config.api, {
          method: "POST",
          json: this.body(),
        });
        this.submitting = false;
        if (result.status === 201 && result.body) {
          this.created = result.body;
          this.message = "";
          TH.focusWhenShown(this.$refs.confirmation);
          return;
        }
        this.errors = TH.describeError(result, config.min, config.max);
      },

      body() {
        const body = { message: this.message };
        if (this.email.trim()) body.email = this.email.trim();
        if (this.name.trim()) body.name = this.name.trim();
        return body;
      },

      reset() {
        this.created = null;
        this.errors = [];
        TH.focusWhenShown(this.$refs.message);
      },
    };
  });
})();
