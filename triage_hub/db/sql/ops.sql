-- What operators run from a shell (`triage-hub requeue`, …).

-- name: requeue_tickets
-- Tickets back to the queue with fresh attempts: FAILED ones, or COMPLETED ones (say, those the
-- built-in engine triaged while the LLM was down), of the given statuses ($1), engine ($2, NULL:
-- any) and age ($3 seconds since their last change, NULL: any). Never RESOLVED ones, never one
-- being triaged.
UPDATE tickets
SET status = 'PENDING', attempts = 0, handbacks = 0, failing_since = NULL,
    available_at = now(), last_error = NULL
WHERE status = ANY($1::text[]) AND status IN ('FAILED', 'COMPLETED')
  AND ($2::text IS NULL OR engine = $2)
  AND ($3::float8 IS NULL OR updated_at >= now() - make_interval(secs => $3))
RETURNING id;

-- name: delivery_counts
-- The outbox by kind and status, and how long the oldest undelivered row of each has waited
-- (seconds): what `triage-hub stats` says about replies on their way.
SELECT kind, status, count(*) AS deliveries,
       extract(epoch FROM now() - min(created_at)) AS oldest_age
FROM deliveries
GROUP BY kind, status;

-- name: schema_info
-- Which schema.sql was applied last, and when (`triage-hub check`).
SELECT digest, applied_at FROM schema_info WHERE id = 1;
