"""Prometheus metrics of one process, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 90, 120)


class Metrics:
    """Counters the code updates as things happen; gauges set when /metrics is scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tickets_created = Counter(
            "triage_tickets_created",
            "Tickets accepted by POST /tickets.",
            registry=self.registry,
        )
        self.intake_rejected = Counter(
            "triage_intake_rejected",
            "New tickets refused: rate_limited (429, per client) or backlog_full (503).",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("rate_limited", "backlog_full"):
            self.intake_rejected.labels(reason)  # exported as 0 before the first refusal
        self.triage_outcomes = Counter(
            "triage_outcomes",
            "Ends of a claim: completed, retry (invalid answer), failed, handed_back (no answer "
            "from the LLM, or shutdown), lease_lost.",
            ["outcome"],
            registry=self.registry,
        )
        self.llm_call_seconds = Histogram(
            "triage_llm_call_seconds",
            "Duration of successful Ollama calls.",
            buckets=_LLM_BUCKETS,
            registry=self.registry,
        )
        self.llm_first_token_seconds = Histogram(
            "triage_llm_first_token_seconds",
            "Time to the first token of Ollama calls.",
            buckets=_LLM_BUCKETS,
            registry=self.registry,
        )
        # Per LLM host (TRIAGE_LLM_URLS), labelled by its URL.
        self.llm_host_slots = Gauge(
            "triage_llm_host_slots",
            "Calls an LLM host is given at once (its slots in TRIAGE_LLM_URLS).",
            ["host"],
            registry=self.registry,
        )
        self.llm_host_in_flight = Gauge(
            "triage_llm_host_in_flight",
            "Calls to an LLM host in flight now.",
            ["host"],
            registry=self.registry,
        )
        self.llm_host_up = Gauge(
            "triage_llm_host_up",
            "1 while calls go to an LLM host; 0 while its breaker skips it (probed with backoff).",
            ["host"],
            registry=self.registry,
        )
        self.llm_host_calls = Counter(
            "triage_llm_host_calls",
            "Calls sent to an LLM host, answered or not.",
            ["host"],
            registry=self.registry,
        )
        self.llm_host_errors = Counter(
            "triage_llm_host_errors",
            "Calls to an LLM host that gave no answer, by cause (unreachable, busy, timeout, …).",
            ["host", "cause"],
            registry=self.registry,
        )
        self.llm_host_call_seconds = Histogram(
            "triage_llm_host_call_seconds",
            "Duration of the answered calls to an LLM host.",
            ["host"],
            buckets=_LLM_BUCKETS,
            registry=self.registry,
        )
        self.llm_host_tokens = Counter(
            "triage_llm_host_completion_tokens",
            "Tokens an LLM host generated in its answers (rate() of it: tokens/s).",
            ["host"],
            registry=self.registry,
        )
        self.llm_host_tokens_per_second = Gauge(
            "triage_llm_host_tokens_per_second",
            "Tokens per second of an LLM host's recent answers (a moving average per call).",
            ["host"],
            registry=self.registry,
        )
        self.leases_reaped = Counter(
            "triage_leases_reaped",
            "Expired leases returned by this process's reaper.",
            registry=self.registry,
        )
        self.claims_in_flight = Gauge(
            "triage_claims_in_flight",
            "Tickets this process is triaging now.",
            registry=self.registry,
        )
        self.llm_paused = Gauge(
            "triage_llm_paused",
            "1 while the circuit breaker holds claims back (Ollama down).",
            registry=self.registry,
        )
        self.tasks_configured = Gauge(
            "triage_background_tasks_configured",
            "Background tasks started, by kind (claimer, reaper, listener, notifier).",
            ["kind"],
            registry=self.registry,
        )
        self.tasks_live = Gauge(
            "triage_background_tasks_live",
            "Background tasks running now, by kind; below configured while one restarts.",
            ["kind"],
            registry=self.registry,
        )
        self.task_restarts = Counter(
            "triage_background_task_restarts",
            "Background tasks that died and were started again, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "triage_deliveries",
            "Tries to deliver from the outbox, by kind (email, webhook) and outcome (sent, "
            "retry, failed, lease_lost).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.tickets = Gauge(
            "triage_tickets",
            "Tickets waiting or being worked on, by status (all replicas).",
            ["status"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
