-- The ticket statements of the API. Each is named by the `-- name:` line above it.

-- name: insert_ticket
-- Intake: the row is committed before the 201 goes out.
INSERT INTO tickets (user_message, email, name) VALUES ($1, $2, $3)
RETURNING id, status, created_at;

-- name: get_ticket
SELECT id, user_message, category, sentiment, urgency, ai_draft, status, raw_ai_response,
       attempts, last_error, model, first_token_ms, total_ms, prompt_tokens, completion_tokens,
       lease_expires_at, created_at, updated_at, resolved_at, ai_category, ai_urgency,
       ai_sentiment, revision, resolved_by, engine, prompt_version, confidence, language,
       email, name
FROM tickets WHERE id = $1;

-- name: list_tickets
-- Newest first, walking tickets_created_idx.
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM tickets
ORDER BY created_at DESC, id DESC
LIMIT $1 OFFSET $2;

-- name: list_tickets_by_status
-- Newest first within one status, walking tickets_status_created_idx.
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM tickets
-- The range form makes the planner walk (status, created_at DESC, id DESC) in order; with
-- `status = $1` it scanned the date index and skipped every newer row of another status.
WHERE status >= $1 AND status <= $1
ORDER BY status, created_at DESC, id DESC
LIMIT $2 OFFSET $3;

-- name: list_tickets_by_statuses
-- Newest first within several statuses (the dashboard's "everything not RESOLVED").
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM tickets
WHERE status = ANY($1::text[])
ORDER BY created_at DESC, id DESC
LIMIT $2 OFFSET $3;

-- name: list_tickets_urgent
-- Most urgent first: High, then FAILED (needs a human), Medium, Low, then untriaged; oldest
-- first within each. Each wanted
-- status walks tickets_urgent_v2_idx in order for at most limit + offset entries, index only
-- (PostgreSQL 15 cannot merge one index scan over several statuses: one lateral scan each);
-- those few are sorted, and only the page's rows are read from the table. The rank is written
-- exactly as in the index (see schema.sql).
WITH page AS (
    SELECT ranked.id, ranked.rank, ranked.created_at
    FROM unnest($1::text[]) AS wanted (status)
    CROSS JOIN LATERAL (
        SELECT id, created_at,
               CASE WHEN urgency = 'High' THEN 0 WHEN tickets.status = 'FAILED' THEN 1
                    WHEN urgency = 'Medium' THEN 2 WHEN urgency = 'Low' THEN 3 ELSE 4 END AS rank
        FROM tickets
        WHERE tickets.status = wanted.status
        ORDER BY rank, created_at, id
        LIMIT $2::int + $3::int
    ) AS ranked
    ORDER BY ranked.rank, ranked.created_at, ranked.id
    LIMIT $2 OFFSET $3
)
SELECT tickets.id, user_message, category, sentiment, urgency, status, attempts,
       tickets.created_at, updated_at, engine, confidence, email, name
FROM page JOIN tickets ON tickets.id = page.id
ORDER BY page.rank, page.created_at, page.id;

-- name: search_tickets
-- A search by words, newest first: the message matches $1 (see ticket_search_query in
-- schema.sql). $2: the statuses, NULL for all. For rare words the planner reads the GIN index and
-- sorts the few matches; for common ones it walks tickets_created_idx and stops at the page.
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM tickets
WHERE search_vector @@ ticket_search_query($1)
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
ORDER BY created_at DESC, id DESC
LIMIT $3 OFFSET $4;

-- name: search_recent_tickets
-- The same search among the tickets created since $5 (the newest few thousand): PostgreSQL
-- ANDs the GIN index with tickets_created_idx and visits only the matches in that window. For a
-- common word or phrase the page is there, where the whole search would visit every match and
-- sort them all — which the planner, multiplying the words' frequencies as if independent,
-- takes "dark mode" to be cheap and does.
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM tickets
WHERE search_vector @@ ticket_search_query($1)
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
  AND created_at >= $5
ORDER BY created_at DESC, id DESC
LIMIT $3 OFFSET $4;

-- name: search_tickets_by_id
-- A search that is a ticket id or its first 8+ hex digits, newest first: the ids in [$3, $4] by
-- the primary key, and the rare message holding the same string by the GIN index, each apart.
-- Written as one `OR`, the planner takes the string for a common word and walks every ticket by
-- date (12 s at a million tickets for a short id; 6 ms like this).
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM (SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name FROM tickets WHERE id BETWEEN $3 AND $4
      UNION
      SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name FROM tickets WHERE search_vector @@ ticket_search_query($1)) AS matches
WHERE $2::text[] IS NULL OR status = ANY($2::text[])
ORDER BY created_at DESC, id DESC
LIMIT $5 OFFSET $6;

-- name: recent_cutoff
-- Where the newest $1 tickets begin (NULL when there are fewer): an index-only walk.
SELECT created_at FROM tickets ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1;

-- name: search_tickets_urgent
-- A search by words, most urgent first (the rank of list_tickets_urgent).
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM tickets
WHERE search_vector @@ ticket_search_query($1)
  AND ($2::text[] IS NULL OR status = ANY($2::text[]))
ORDER BY CASE WHEN urgency = 'High' THEN 0 WHEN status = 'FAILED' THEN 1
              WHEN urgency = 'Medium' THEN 2 WHEN urgency = 'Low' THEN 3 ELSE 4 END,
         created_at, id
LIMIT $3 OFFSET $4;

-- name: search_tickets_by_id_urgent
-- search_tickets_by_id, most urgent first.
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM (SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name FROM tickets WHERE id BETWEEN $3 AND $4
      UNION
      SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name FROM tickets WHERE search_vector @@ ticket_search_query($1)) AS matches
WHERE $2::text[] IS NULL OR status = ANY($2::text[])
ORDER BY CASE WHEN urgency = 'High' THEN 0 WHEN status = 'FAILED' THEN 1
              WHEN urgency = 'Medium' THEN 2 WHEN urgency = 'Low' THEN 3 ELSE 4 END,
         created_at, id
LIMIT $5 OFFSET $6;

-- name: list_tickets_low_confidence
-- The tickets awaiting a reply (COMPLETED) whose triage the engine was least sure of first,
-- walking tickets_confidence_idx (the expression written exactly as there); without a
-- confidence (an LLM that gave none, no second opinion) last.
SELECT id, user_message, category, sentiment, urgency, status, attempts, created_at, updated_at,
       engine, confidence, email, name
FROM tickets
WHERE status = 'COMPLETED'
ORDER BY least((confidence->>'category')::float8, (confidence->>'urgency')::float8),
         created_at, id
LIMIT $1 OFFSET $2;

-- name: count_tickets_capped
-- An exact count that stops at $1 rows, so a big table never costs a full count per request.
SELECT count(*) FROM (SELECT 1 FROM tickets LIMIT $1) AS capped;

-- name: count_tickets_by_status_capped
SELECT count(*) FROM (SELECT 1 FROM tickets WHERE status = ANY($1::text[]) LIMIT $2) AS capped;

-- name: estimate_tickets
-- The planner's idea of the table size (kept fresh by autovacuum/analyze); -1 before analyze.
SELECT reltuples::bigint FROM pg_class WHERE oid = 'tickets'::regclass;

-- name: estimate_tickets_by_status
-- The planner's row estimate for one status, from the column statistics.
EXPLAIN (FORMAT JSON) SELECT 1 FROM tickets WHERE status = ANY($1::text[]);

-- name: retry_ticket
-- An agent gives a FAILED ticket a fresh set of attempts and hand-backs — or a ticket the
-- built-in engine triaged another round, which the LLM takes when it answers ("Retry with the
-- LLM"); its triage stays until the new one replaces it.
UPDATE tickets
SET status = 'PENDING', attempts = 0, handbacks = 0, failing_since = NULL,
    available_at = now(), last_error = NULL
WHERE id = $1 AND (status = 'FAILED' OR (status = 'COMPLETED' AND engine = 'builtin'))
RETURNING id, status, revision, updated_at;

-- name: ticket_status
SELECT status FROM tickets WHERE id = $1;

-- name: count_backlog
-- Both counts walk small partial indexes (the backlog, not the whole table).
SELECT (SELECT count(*) FROM tickets WHERE status = 'PENDING') AS pending,
       (SELECT count(*) FROM tickets WHERE status = 'PROCESSING') AS processing;

-- name: count_pending
-- The intake's backlog gauge: walks the small partial index tickets_pending_idx, once a second.
SELECT count(*) FROM tickets WHERE status = 'PENDING';
