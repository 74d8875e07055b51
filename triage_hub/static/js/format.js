/* Formatting for people: times and ages, durations, sentiment words, status labels, and a
 * ticket decorated with everything the templates show. Labels come from the page's config. */
(function () {
  "use strict";

  const TH = window.TriageHub;
  const URGENCY_CLASS = { High: "urgency-high", Medium: "urgency-medium", Low: "urgency-low" };
  const fmt = (TH.format = {});

  // The server counts characters of the trimmed text (Python code points, not UTF-16 units).
  fmt.trimmedLength = function (text) {
    return Array.from(text.trim()).length;
  };

  fmt.time = function (iso) {
    if (!iso) return "—";
    return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  };

  // "12:03": a time today, as the agent's clock shows it.
  fmt.clock = function (iso) {
    return new Date(iso).toLocaleTimeString(undefined, { timeStyle: "short" });
  };

  // The server's short explanations ("the model timed out") as a sentence.
  fmt.sentence = function (text) {
    const trimmed = String(text || "").trim();
    if (!trimmed) return "";
    const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?…]$/.test(first) ? first : first + ".";
  };

  fmt.ago = function (iso, now) {
    const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
    if (seconds < 45) return "just now";
    const minutes = Math.max(1, Math.round(seconds / 60));
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h ago";
    const days = Math.floor(hours / 24);
    if (days < 60) return days + (days === 1 ? " day ago" : " days ago");
    return new Date(iso).toLocaleDateString();
  };

  // Timestamps from the list, the events and the detail may differ in their digits: compare times.
  fmt.later = function (a, b) {
    return Date.parse(a) > Date.parse(b);
  };

  fmt.duration = function (ms) {
    if (ms === null || ms === undefined) return "—";
    return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
  };

  fmt.count = function (n, one, many) {
    return n.toLocaleString("en") + " " + (n === 1 ? one : many);
  };

  fmt.statusLabel = function (status) {
    const labels = TH.config().status_labels || {};
    return labels[status] || status;
  };

  fmt.sentimentWord = function (value) {
    const found = (TH.config().sentiments || []).find((item) => item.value === value);
    return found ? found.word : "";
  };

  function sentimentView(value) {
    if (value === null || value === undefined) {
      return { text: "—", cls: "sentiment-none", fill: "fill-0" };
    }
    const word = fmt.sentimentWord(value);
    return { text: value + "/10 " + word, cls: "sentiment-" + word, fill: "fill-" + value };
  }

  function tokens(ticket) {
    if (ticket.prompt_tokens === null || ticket.prompt_tokens === undefined) return "—";
    return ticket.prompt_tokens + " in / " + (ticket.completion_tokens || 0) + " out";
  }

  // A field's confidence (0–1) as a badge, by the server's levels; null when there is none.
  fmt.confidence = function (value) {
    if (typeof value !== "number") return null;
    const levels = TH.config().confidence_levels || [];
    const level = levels.find((item) => value >= item.min) || levels[levels.length - 1];
    if (!level) return null;
    const percent = Math.round(value * 100) + " %";
    return { label: level.label, short: level.short || level.label, level: level.level, percent: percent };
  };

  // The least sure of the triage's category and urgency (what "low confidence first" sorts by).
  function leastSure(confidence) {
    if (!confidence) return null;
    const values = ["category", "urgency"]
      .map((name) => confidence[name])
      .filter((value) => typeof value === "number");
    return values.length ? fmt.confidence(Math.min.apply(null, values)) : null;
  }

  fmt.engineLabel = function (engine) {
    const labels = TH.config().engine_labels || {};
    return engine ? labels[engine] || engine : "";
  };

  // "Built-in engine · builtin-v1" or "LLM (Ollama) · mistral:7b · prompt triage-v1".
  function triagedBy(ticket) {
    if (!ticket.engine) return "";
    const parts = [fmt.engineLabel(ticket.engine), ticket.model];
    if (ticket.prompt_version) parts.push("prompt " + ticket.prompt_version);
    return parts.filter(Boolean).join(" · ");
  }

  // A ticket (a list row, an event's fields or the full ticket) with what the templates show.
  fmt.decorate = function (ticket) {
    const sentiment = sentimentView(ticket.sentiment);
    const status = ticket.status || "PENDING";
    const classes = ["status-row-" + status.toLowerCase()];
    if (status === "PROCESSING") classes.push("is-processing");
    if (!ticket.urgency && !ticket.category) classes.push("is-untriaged");
    if (ticket.isNew) classes.push("is-new");
    const requester = [ticket.name, ticket.email].filter(Boolean);
    const telemetry = [ticket.model, fmt.duration(ticket.total_ms)].filter((x) => x && x !== "—");
    const unsure = leastSure(ticket.confidence);
    const lowConfidence = Boolean(unsure && unsure.level === "low");
    return Object.assign({}, ticket, {
      href: "/dashboard?ticket=" + encodeURIComponent(ticket.id),
      shortId: String(ticket.id || "").slice(0, 8),
      urgencyLabel: ticket.urgency || "Untriaged",
      urgencyClass: URGENCY_CLASS[ticket.urgency] || "urgency-none",
      categoryLabel: ticket.category || "—",
      sentimentText: sentiment.text,
      sentimentClass: sentiment.cls,
      sentimentFill: sentiment.fill,
      statusLabel: fmt.statusLabel(status),
      statusClass: "status-" + status.toLowerCase(),
      rowClass: classes.join(" "),
      subjectText: ticket.subject || "",
      hasRequester: requester.length > 0,
      requesterShort: ticket.name || ticket.email || "",
      requesterText: requester.join(" · "),
      hasLowConfidence: lowConfidence && status === "COMPLETED",
      lowConfidenceText: lowConfidence ? unsure.short : "",
      lowConfidenceTitle: lowConfidence ? unsure.label : "",
      engineLabel: fmt.engineLabel(ticket.engine) || "—",
      promptLabel: ticket.prompt_version || "—",
      hasTriagedBy: Boolean(ticket.engine),
      triagedByLabel: triagedBy(ticket),
      createdTitle: fmt.time(ticket.created_at),
      modelLabel: ticket.model || "—",
      attemptsLabel: ticket.attempts === undefined ? "—" : String(ticket.attempts),
      firstTokenLabel: fmt.duration(ticket.first_token_ms),
      totalLabel: fmt.duration(ticket.total_ms),
      tokensLabel: tokens(ticket),
      telemetrySummary: telemetry.join(" · "),
      hasLastError: status === "FAILED" && Boolean(ticket.last_error),
      // In words when the server has them; the raw text is folded away beside them.
      errorExplained: fmt.sentence(ticket.last_error_explained || ticket.last_error),
      hasRawError: Boolean(ticket.last_error_explained && ticket.last_error),
    });
  };
})();
