-- The claimers' statements. Every write after the claim is fenced by (id, claim_token): a
-- claimer whose lease was reaped and taken over matches no row and changes nothing.

-- name: claim_next_ticket
-- ONE statement: pick the oldest claimable PENDING ticket and lease it.
WITH next AS (
    SELECT id
    FROM tickets
    WHERE status = 'PENDING'          -- walks tickets_pending_idx, oldest first
      AND available_at <= now()       -- skips tickets backing off after an invalid answer
    ORDER BY created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED            -- concurrent claimers take different rows, never wait
)
UPDATE tickets AS t
SET status = 'PROCESSING',
    attempts = t.attempts + 1,
    claim_token = gen_random_uuid(),  -- the fence for every later write of this claim
    claimed_by = $1,
    lease_expires_at = now() + make_interval(secs => $2),
    last_error = NULL
FROM next
WHERE t.id = next.id
RETURNING t.id, t.user_message, t.attempts, t.claim_token, t.handbacks,
          coalesce(t.failing_since, now()) AS failing_since;

-- name: claim_fallback_ticket
-- The same lease for the built-in engine standing in while the LLM does not answer
-- (TRIAGE_ENGINE=auto, breaker open): never a ticket it already triaged and an agent sent back
-- for the LLM ("Retry with the LLM", `requeue --engine builtin`) — that one waits for the probe.
-- Only while the breaker is open; the hot path above stays as it is.
WITH next AS (
    SELECT id
    FROM tickets
    WHERE status = 'PENDING' AND available_at <= now()
      AND engine IS DISTINCT FROM 'builtin'
    ORDER BY created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE tickets AS t
SET status = 'PROCESSING',
    attempts = t.attempts + 1,
    claim_token = gen_random_uuid(),
    claimed_by = $1,
    lease_expires_at = now() + make_interval(secs => $2),
    last_error = NULL
FROM next
WHERE t.id = next.id
RETURNING t.id, t.user_message, t.attempts, t.claim_token, t.handbacks,
          coalesce(t.failing_since, now()) AS failing_since;

-- name: claim_probe_ticket
-- The same lease for the one probe of an open circuit breaker: the ticket that failed least
-- often first, so that a poison ticket (whose every call fails) cannot keep the breaker open by
-- being the oldest. Sorts the backlog: it runs at most once per probe, seconds apart.
WITH next AS (
    SELECT id
    FROM tickets
    WHERE status = 'PENDING' AND available_at <= now()
    ORDER BY handbacks, created_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE tickets AS t
SET status = 'PROCESSING',
    attempts = t.attempts + 1,
    claim_token = gen_random_uuid(),
    claimed_by = $1,
    lease_expires_at = now() + make_interval(secs => $2),
    last_error = NULL
FROM next
WHERE t.id = next.id
RETURNING t.id, t.user_message, t.attempts, t.claim_token, t.handbacks,
          coalesce(t.failing_since, now()) AS failing_since;

-- name: renew_lease
-- The heartbeat: extends a live claim; no row back means the lease was lost.
UPDATE tickets
SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND claim_token = $2 AND status = 'PROCESSING'
RETURNING lease_expires_at;

-- name: complete_ticket
UPDATE tickets
SET status = 'COMPLETED', category = $3, sentiment = $4, urgency = $5, ai_draft = $6,
    ai_category = $3, ai_sentiment = $4, ai_urgency = $5,
    raw_ai_response = $7, model = $8, first_token_ms = $9, total_ms = $10,
    prompt_tokens = $11, completion_tokens = $12, last_error = NULL,
    engine = $13, prompt_version = $14, confidence = $15,
    language = coalesce($16, language),
    handbacks = 0, failing_since = NULL,
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = $1 AND claim_token = $2 AND status = 'PROCESSING'
RETURNING status, updated_at;

-- name: retry_or_fail_ticket
-- An invalid answer spends the attempt: back to PENDING after a backoff ($5 seconds), or
-- FAILED once attempts reach the maximum ($6).
UPDATE tickets
SET status = CASE WHEN attempts >= $6 THEN 'FAILED' ELSE 'PENDING' END,
    available_at = now() + make_interval(secs => $5),
    last_error = $3, raw_ai_response = $4, model = $7,
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = $1 AND claim_token = $2 AND status = 'PROCESSING'
RETURNING status, updated_at;

-- name: hand_back_ticket
-- The call failed in a way the ticket may cause (a timeout, a stall, a broken stream, a 5xx):
-- the attempt is refunded but the hand-back counts, and the ticket waits $5 seconds so that the
-- others go first; $6 is 'PENDING', or 'FAILED' when the retry policy gives up (the attempt
-- then stays spent, so the ticket shows what it cost).
UPDATE tickets
SET status = $6,
    attempts = CASE WHEN $6 = 'FAILED' THEN attempts ELSE greatest(attempts - 1, 0) END,
    handbacks = handbacks + 1, failing_since = coalesce(failing_since, $7),
    available_at = now() + make_interval(secs => $5),
    last_error = $3, raw_ai_response = coalesce($4, raw_ai_response),
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = $1 AND claim_token = $2 AND status = 'PROCESSING'
RETURNING status;

-- name: release_ticket
-- Not the ticket's fault (the LLM unreachable or busy, shutdown): back to PENDING with the
-- attempt refunded, claimable at once.
UPDATE tickets
SET status = 'PENDING', attempts = greatest(attempts - 1, 0), available_at = now(),
    last_error = $3, raw_ai_response = coalesce($4, raw_ai_response),
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = $1 AND claim_token = $2 AND status = 'PROCESSING'
RETURNING status;

-- name: reap_expired_leases
-- A claimer died or hung: its expired leases go back to PENDING, or to FAILED when the
-- attempts are used up. SKIP LOCKED lets every replica run this at once.
WITH expired AS (
    SELECT id
    FROM tickets
    WHERE status = 'PROCESSING' AND lease_expires_at < now()   -- walks tickets_lease_idx
    ORDER BY lease_expires_at
    LIMIT 500
    FOR UPDATE SKIP LOCKED
)
UPDATE tickets AS t
SET status = CASE WHEN t.attempts >= $1 THEN 'FAILED' ELSE 'PENDING' END,
    available_at = now(),
    last_error = 'lease expired: the claimer ' || coalesce(t.claimed_by, '?')
                 || ' stopped renewing it',
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
FROM expired
WHERE t.id = expired.id
RETURNING t.id, t.status;

-- name: notify_new_tickets
-- Wakes idle claimers in every replica (see db/notify.py for why it is debounced).
SELECT pg_notify('triage_new_tickets', '');

-- name: notify_draft
-- The draft so far of a ticket being triaged, for open detail views in every replica.
SELECT pg_notify('ticket_drafts', $1);
