/* The toolbar's search: words of the message (web-search syntax) or a ticket id, whole or its
 * first 8 digits as the list shows it. Enter searches at once, typing after a pause; the search
 * lives in the address (`q`) like the rest of the view, and keeps its status filter and order. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const TYPING_PAUSE_MS = 400;

  TH.parts.search = function (inner) {
    inner.searchTimer = null;

    return {
      query: "", // what the box holds
      searched: "", // what the list shows (trimmed)

      setup() {
        const q = (new URLSearchParams(window.location.search).get("q") || "").trim();
        this.query = this.searched = q;
      },
      searchTerm() {
        return this.searched;
      },
      onSearchInput() {
        clearTimeout(inner.searchTimer);
        inner.searchTimer = setTimeout(() => this.runSearch(), TYPING_PAUSE_MS);
      },
      onSearchKey(event) {
        if (event.key === "Enter") {
          event.preventDefault();
          this.runSearch();
        } else if (event.key === "Escape" && this.query !== "") {
          event.preventDefault();
          this.clearSearch();
        }
      },
      runSearch() {
        clearTimeout(inner.searchTimer);
        const term = this.query.trim();
        if (term === this.searched) return;
        this.searched = term;
        this.changeView();
      },
      clearSearch() {
        this.query = "";
        this.runSearch();
        this.$refs.search.focus();
      },
      // No match among the tickets shown: the same search over every status is one click away.
      canSearchEverywhere() {
        return this.searched !== "" && this.filter !== "all";
      },
      searchEverywhere() {
        this.filter = "all"; // the filter's watcher fetches the list again
      },
      hasQuery() {
        return this.query !== "";
      },
      focusSearch() {
        this.$refs.search.focus();
        this.$refs.search.select();
      },
    };
  };
})();
