-- The delivery workers' statements: the claimers' machinery for a second kind of job. Every
-- write after the claim is fenced by (id, claim_token).

-- name: set_target
-- This replica's settings say whether e-mail / webhook deliveries are made (read by the trigger
-- tickets_enqueue_deliveries in schema.sql).
INSERT INTO delivery_targets (kind, enabled) VALUES ($1, $2)
ON CONFLICT (kind) DO UPDATE SET enabled = excluded.enabled, updated_at = now()
WHERE delivery_targets.enabled IS DISTINCT FROM excluded.enabled;

-- name: claim_next_delivery
-- ONE statement, as the ticket claim: the oldest due PENDING delivery, leased.
WITH next AS (
    SELECT id
    FROM deliveries
    WHERE status = 'PENDING' AND available_at <= now()   -- walks deliveries_pending_idx
      AND kind = ANY($3::text[])                          -- what this replica can send
    ORDER BY available_at, created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries AS d
SET status = 'SENDING', attempts = d.attempts + 1, claim_token = gen_random_uuid(),
    claimed_by = $1, lease_expires_at = now() + make_interval(secs => $2)
FROM next
WHERE d.id = next.id
RETURNING d.id, d.ticket_id, d.kind, d.event, d.payload, d.attempts, d.claim_token;

-- name: renew_delivery
UPDATE deliveries SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND claim_token = $2 AND status = 'SENDING'
RETURNING lease_expires_at;

-- name: delivered
UPDATE deliveries
SET status = 'SENT', sent_at = now(), last_error = NULL,
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = $1 AND claim_token = $2 AND status = 'SENDING'
RETURNING status;

-- name: not_delivered
-- A failed try: PENDING again after $4 seconds, or FAILED ($5: given up, or refused for good).
UPDATE deliveries
SET status = CASE WHEN $5 THEN 'FAILED' ELSE 'PENDING' END, last_error = $3,
    available_at = now() + make_interval(secs => $4),
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
WHERE id = $1 AND claim_token = $2 AND status = 'SENDING'
RETURNING status;

-- name: reap_deliveries
-- A worker died mid-send: its expired leases go back to PENDING (the try counts; at-least-once,
-- so the receiver may see the event id again), or FAILED when the tries are used up.
WITH expired AS (
    SELECT id FROM deliveries
    WHERE status = 'SENDING' AND lease_expires_at < now()   -- walks deliveries_lease_idx
    ORDER BY lease_expires_at
    LIMIT 500
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries AS d
SET status = CASE WHEN d.attempts >= $1 THEN 'FAILED' ELSE 'PENDING' END,
    available_at = now(),
    last_error = 'the worker ' || coalesce(d.claimed_by, '?') || ' stopped while sending',
    claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL
FROM expired
WHERE d.id = expired.id
RETURNING d.id, d.ticket_id, d.status;

-- name: ticket_deliveries
-- What became of a ticket's deliveries, oldest first (the detail view, the customer's page).
SELECT id, kind, event, status, attempts, last_error, created_at, sent_at
FROM deliveries WHERE ticket_id = $1 ORDER BY created_at, id;

-- name: notify_deliveries
-- Wakes idle delivery workers in every replica (as the trigger does for new rows).
SELECT pg_notify('triage_deliveries', '');
