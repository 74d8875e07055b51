/* The dashboard's keyboard: j/k or the arrows move along the list, Enter opens, Esc closes (the
 * dialog's own), / goes to the search, r goes to the reply (as in Gmail and Help Scout: no plain
 * key resolves), Ctrl/Cmd+Enter in the reply resolves, z undoes a resolve still waiting. Keys
 * never act while the focus is in a text field, and never take the focus elsewhere unasked. */
(function () {
  "use strict";

  const TH = window.TriageHub;

  TH.parts.keys = function () {
    return {
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
      // Only when the focus was lost to nothing (body), after Alpine has updated the list.
      restoreFocus() {
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
        const inField = TH.isTextField(event.target);
        const modified = event.ctrlKey || event.metaKey || event.altKey;
        if (inField || modified) return;
        if (event.key === "z" && this.resolving) {
          event.preventDefault();
          this.undoResolve();
          return;
        }
        if (this.isOpen) {
          if (event.key === "r" && this.canEditDraft()) {
            event.preventDefault();
            TH.focusWhenShown(this.$refs.draft);
          }
          return; // Esc is the dialog's own (its cancel event closes it)
        }
        if (event.key === "/") {
          event.preventDefault();
          this.focusSearch();
        } else if (event.key === "j" || event.key === "ArrowDown") {
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
    };
  };
})();
