-- What /stats and `triage-hub stats` report. $1 is the period in seconds, counted back from now.

-- name: quality_pairs
-- The engine's values beside the agents' final ones, for each ticket resolved in the period
-- whose triage an engine made (ai_* set). Newest first, at most $2.
SELECT coalesce(engine, 'ollama') AS engine, coalesce(model, '?') AS model,
       coalesce(prompt_version, '-') AS prompt_version,
       ai_category, category, ai_urgency, urgency, ai_sentiment, sentiment, confidence
FROM tickets
WHERE status = 'RESOLVED' AND resolved_at >= now() - make_interval(secs => $1)
  AND ai_category IS NOT NULL AND category IS NOT NULL
ORDER BY resolved_at DESC
LIMIT $2;

-- name: outcomes
-- Tickets created in the period, by engine and what became of them: how many were triaged
-- (COMPLETED or RESOLVED after a triage), FAILED, still waiting, and the retries they cost.
SELECT coalesce(engine, '-') AS engine, coalesce(model, '-') AS model,
       coalesce(prompt_version, '-') AS prompt_version,
       count(*) FILTER (WHERE status IN ('COMPLETED', 'RESOLVED') AND ai_category IS NOT NULL)
           AS triaged,
       count(*) FILTER (WHERE status = 'FAILED') AS failed,
       count(*) FILTER (WHERE status IN ('PENDING', 'PROCESSING')) AS waiting,
       coalesce(sum(greatest(attempts - 1, 0)), 0)::bigint AS retries,
       coalesce(sum(handbacks), 0)::bigint AS handbacks
FROM tickets
WHERE created_at >= now() - make_interval(secs => $1)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

-- name: failure_reasons
-- The last errors of the tickets that FAILED in the period, with how many share each.
SELECT last_error, count(*) AS tickets
FROM tickets
WHERE status = 'FAILED' AND updated_at >= now() - make_interval(secs => $1)
GROUP BY last_error
ORDER BY tickets DESC
LIMIT 20;

-- name: latency
-- How long the triage took (total_ms) per engine and model, for tickets triaged in the period.
SELECT coalesce(engine, 'ollama') AS engine, coalesce(model, '?') AS model, count(*) AS calls,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY total_ms) AS p90,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY total_ms) AS p99
FROM tickets
WHERE total_ms IS NOT NULL AND created_at >= now() - make_interval(secs => $1)
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: counts_by_status
-- Every ticket by status, and the age of the oldest PENDING one (seconds).
SELECT status, count(*) AS tickets, extract(epoch FROM now() - min(created_at)) AS oldest_age
FROM tickets
GROUP BY status;
