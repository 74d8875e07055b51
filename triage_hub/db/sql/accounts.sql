-- Agents, their browser sessions, API tokens, setup links and failed logins.

-- name: insert_agent
-- `agent add`: a name is taken once; NULL when it already exists.
INSERT INTO agents (name, password_hash) VALUES ($1, $2)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: lock_first_agent
-- Serialises "create the first agent" across replicas (setup link vs TRIAGE_ADMIN_PASSWORD).
SELECT pg_advisory_xact_lock(7472616967650001);

-- name: count_agents
SELECT count(*) FROM agents;

-- name: list_agents
SELECT a.id, a.name, a.created_at, a.last_login_at, a.disabled_at,
       (SELECT count(*) FROM agent_sessions s
        WHERE s.agent_id = a.id AND s.expires_at > now()) AS sessions
FROM agents a
ORDER BY a.name;

-- name: disable_agent
-- `agent disable`: the agent and every session of theirs end together.
WITH disabled AS (
    UPDATE agents SET disabled_at = coalesce(disabled_at, now())
    WHERE name = $1
    RETURNING id
), ended AS (
    DELETE FROM agent_sessions s USING disabled d WHERE s.agent_id = d.id RETURNING 1
)
SELECT (SELECT count(*) FROM disabled) AS agents, (SELECT count(*) FROM ended) AS sessions;

-- name: enable_agent
UPDATE agents SET disabled_at = NULL WHERE name = $1 RETURNING id;

-- name: set_password
-- `agent password`: a new password ends every session opened with the old one.
WITH changed AS (
    UPDATE agents SET password_hash = $2 WHERE name = $1 RETURNING id
), ended AS (
    DELETE FROM agent_sessions s USING changed c WHERE s.agent_id = c.id RETURNING 1
)
SELECT count(*) FROM changed;

-- name: agent_for_login
SELECT id, name, password_hash, disabled_at FROM agents WHERE name = $1;

-- name: update_password_hash
-- A login with parameters older than today's re-hashes the password it just verified.
UPDATE agents SET password_hash = $2 WHERE id = $1;

-- name: create_session
-- Login: a new session (its id is new every time: a session id never survives a login).
WITH started AS (
    INSERT INTO agent_sessions (id_hash, agent_id, csrf_token, expires_at)
    VALUES ($1, $2, $3, now() + make_interval(secs => $4))
    RETURNING agent_id
)
UPDATE agents SET last_login_at = now() FROM started WHERE agents.id = started.agent_id;

-- name: delete_session
DELETE FROM agent_sessions WHERE id_hash = $1;

-- name: delete_stale_sessions
-- Housekeeping at each login: sessions past either timeout can never be used again.
DELETE FROM agent_sessions
WHERE expires_at <= now() OR last_seen_at <= now() - make_interval(secs => $1);

-- name: session_agent
-- Every request with a session cookie: a live session of an enabled agent, or nothing.
SELECT a.id, a.name, s.csrf_token,
       s.last_seen_at < now() - interval '1 minute' AS stale
FROM agent_sessions s JOIN agents a ON a.id = s.agent_id
WHERE s.id_hash = $1
  AND s.expires_at > now()
  AND s.last_seen_at > now() - make_interval(secs => $2)
  AND a.disabled_at IS NULL;

-- name: touch_session
-- The idle timeout counts from the last request; written at most once a minute per session.
UPDATE agent_sessions SET last_seen_at = now() WHERE id_hash = $1;

-- name: insert_token
INSERT INTO api_tokens (name, token_hash) VALUES ($1, $2) RETURNING id;

-- name: list_tokens
SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id;

-- name: revoke_token
UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id;

-- name: token_principal
-- Every request with a bearer token.
SELECT id, name,
       last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale
FROM api_tokens
WHERE token_hash = $1 AND revoked_at IS NULL;

-- name: touch_token
UPDATE api_tokens SET last_used_at = now() WHERE id = $1;

-- name: insert_setup_token
INSERT INTO setup_tokens (token_hash, expires_at)
VALUES ($1, now() + make_interval(secs => $2));

-- name: setup_token_valid
SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1 AND expires_at > now());

-- name: consume_setup_token
-- A setup link works once; expired ones are swept on the way.
WITH used AS (
    DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > now() RETURNING 1
), swept AS (
    DELETE FROM setup_tokens WHERE expires_at <= now() RETURNING 1
)
SELECT count(*) FROM used;

-- name: delete_setup_tokens
-- Once an agent exists no setup link is needed any more.
DELETE FROM setup_tokens;

-- name: lock_login_keys
-- Serialises the attempts on each throttling key, across replicas, until the transaction ends:
-- counting a key's failures and reserving one more is then atomic. The locks are taken in one
-- order (volatile output expressions are evaluated after ORDER BY), so attempts cannot deadlock.
-- 1819240297 is b'logi' as a number: any constant, the same in every replica, keeps these locks
-- apart from others (a two-int lock never meets a bigint one, such as lock_first_agent's).
SELECT pg_advisory_xact_lock(1819240297, hashtext(key))
FROM unnest($1::text[]) AS key
ORDER BY hashtext(key);

-- name: login_throttle_wait
-- Seconds until every key has fewer failures inside the window than its limit (0: none is at
-- it): the limit-th newest failure of a key is the one whose ageing out lets the next one in.
SELECT coalesce(max(extract(epoch FROM nth.failed_at + make_interval(secs => $3) - now())), 0)
FROM unnest($1::text[], $2::int[]) AS k (key, cap)
CROSS JOIN LATERAL (
    SELECT failed_at FROM login_failures
    WHERE key = k.key AND failed_at > now() - make_interval(secs => $3)
    ORDER BY failed_at DESC
    OFFSET k.cap - 1 LIMIT 1
) AS nth;

-- name: reserve_login_failure
-- Counts the attempt as a failure on each key before its password is checked; a success takes
-- it back by the returned attempt id.
INSERT INTO login_failures (key, attempt)
SELECT key, attempt.id FROM unnest($1::text[]) AS key, (SELECT gen_random_uuid() AS id) AS attempt
RETURNING attempt;

-- name: sweep_login_failures
-- Rows older than the window count no more; swept after each reservation, outside its locks.
DELETE FROM login_failures WHERE failed_at <= now() - make_interval(secs => $1);

-- name: take_back_login_failure
-- A login succeeded: its reserved rows were no failure, and its name-and-address pair starts
-- again. The failures other attempts left on the account and on the address stay.
DELETE FROM login_failures
WHERE key = ANY($1::text[]) AND (attempt = $2 OR key = $3);
