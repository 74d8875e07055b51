-- Triage Hub schema. Idempotent: applied by `triage-hub migrate` and at every server start,
-- under an advisory lock (see triage_hub/db/schema.py). Change it only by appending
-- statements that are safe to run again (IF NOT EXISTS, CREATE OR REPLACE, ADD COLUMN IF ...).

CREATE TABLE IF NOT EXISTS tickets (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_message      text NOT NULL CHECK (char_length(user_message) BETWEEN 10 AND 5000),
    status            text NOT NULL DEFAULT 'PENDING'
                      CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'RESOLVED')),
    category          text CHECK (category IN ('Billing', 'Technical', 'Feature Request')),
    sentiment         smallint CHECK (sentiment BETWEEN 1 AND 10),
    urgency           text CHECK (urgency IN ('High', 'Medium', 'Low')),
    ai_draft          text,
    raw_ai_response   jsonb,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- a PENDING ticket is claimable once available_at has passed (retry backoff)
    available_at      timestamptz NOT NULL DEFAULT now(),
    -- the lease: who holds a PROCESSING ticket, until when, and the token that fences its writes
    claim_token       uuid,
    claimed_by        text,
    lease_expires_at  timestamptz,
    last_error        text,
    model             text,
    first_token_ms    integer,
    total_ms          integer,
    prompt_tokens     integer,
    completion_tokens integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at       timestamptz,
    CONSTRAINT processing_has_lease CHECK (
        (status = 'PROCESSING') = (claim_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT completed_has_triage CHECK (
        status <> 'COMPLETED'
        OR (category IS NOT NULL AND sentiment IS NOT NULL AND urgency IS NOT NULL
            AND char_length(ai_draft) >= 20)),
    CONSTRAINT resolved_has_reply CHECK (
        status <> 'RESOLVED' OR (resolved_at IS NOT NULL AND ai_draft <> ''))
);

-- Hand-backs: calls that failed in a way the ticket may cause (issue 9). Counted apart from
-- attempts (invalid answers), so a poison ticket ends FAILED instead of looping for ever.
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS handbacks integer NOT NULL DEFAULT 0
    CHECK (handbacks >= 0);
-- when the first of those calls began: the LLM must have answered others since, or it is an outage
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS failing_since timestamptz;

-- The agent's desk (issue 10). The AI's values stay beside the final ones the agents set; the
-- revision counts the changes an agent can see (status, triage, reply): it is the ETag, so an
-- agent acting on a stale page gets 412 instead of overwriting a colleague's work.
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS ai_category text
    CHECK (ai_category IN ('Billing', 'Technical', 'Feature Request'));
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS ai_urgency text
    CHECK (ai_urgency IN ('High', 'Medium', 'Low'));
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS ai_sentiment smallint
    CHECK (ai_sentiment BETWEEN 1 AND 10);
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS revision integer NOT NULL DEFAULT 1;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS resolved_by text;
-- Search: English stems and the exact words of any language, in one GIN index (websearch
-- syntax: words, "a phrase", -not, or). The ticket's own language joins when it is known.
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS language text;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector(CASE language WHEN 'de' THEN 'german'::regconfig
                              WHEN 'es' THEN 'spanish'::regconfig
                              WHEN 'fr' THEN 'french'::regconfig
                              ELSE 'english'::regconfig END, user_message)
    || to_tsvector('simple'::regconfig, user_message)) STORED;
CREATE INDEX IF NOT EXISTS tickets_search_idx ON tickets USING gin (search_vector);
-- What an agent typed, as a query of the same vector: web search syntax (words, "a phrase",
-- -not, or), matched as English, German, Spanish or French stems or as the exact words. Each
-- distinct reading once: most words read the same in every language, and the GIN index checks
-- every branch of the OR (a common word at a million tickets: 13 ms with five copies, 9 with one).
CREATE OR REPLACE FUNCTION ticket_search_query(typed text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(DISTINCT '(' || reading::text || ')', ' | '), '')::tsquery
    FROM unnest(ARRAY[websearch_to_tsquery('english', typed),
                      websearch_to_tsquery('simple', typed),
                      websearch_to_tsquery('german', typed),
                      websearch_to_tsquery('spanish', typed),
                      websearch_to_tsquery('french', typed)]) AS reading
    WHERE reading::text <> ''
$$;

-- What triaged a ticket (issue 11): the engine (ollama, builtin, …), the prompt's version, and
-- the probability of each chosen value ({"category": 0.93, …}) where the engine can tell one.
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS engine text;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS prompt_version text;
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS confidence jsonb;

-- "Low confidence first": the tickets awaiting an agent whose triage the engine was least sure
-- of (the lower of its category and urgency probabilities), for a person to check first.
CREATE INDEX IF NOT EXISTS tickets_confidence_idx
    ON tickets ((least((confidence->>'category')::float8, (confidence->>'urgency')::float8)),
                created_at, id)
    WHERE status = 'COMPLETED';

-- The built-in engine's training reads the resolved tickets newest first.
CREATE INDEX IF NOT EXISTS tickets_resolved_idx ON tickets (resolved_at DESC)
    WHERE status = 'RESOLVED';

-- Claims churn the hot rows: vacuum them early and leave room for HOT updates.
ALTER TABLE tickets SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02,
                         autovacuum_analyze_scale_factor = 0.02);

-- The claim: oldest PENDING ticket first; small because only the backlog is in it.
CREATE INDEX IF NOT EXISTS tickets_pending_idx
    ON tickets (created_at, id) WHERE status = 'PENDING';
-- The reaper: expired leases.
CREATE INDEX IF NOT EXISTS tickets_lease_idx
    ON tickets (lease_expires_at) WHERE status = 'PROCESSING';
-- The newest-first list, whole and by status: a first page is an index scan of `limit` rows.
CREATE INDEX IF NOT EXISTS tickets_created_idx ON tickets (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS tickets_status_created_idx
    ON tickets (status, created_at DESC, id DESC);
-- The most-urgent-first list (sort=urgent): within a status, by urgency rank, oldest first; a
-- page's ranking reads this index alone (urgency is included to compute the rank from). The rank
-- must be written exactly as in tickets.sql's list_tickets_urgent, or the planner cannot walk
-- this index (tests/test_urgent_order.py's EXPLAIN test fails). A FAILED ticket ranks right
-- after High, whatever its urgency: it needs a human (v2; v1 ranked it by urgency alone).
-- Changing the rank: write it in both places and bump the version, so every database builds
-- the new order.
DROP INDEX IF EXISTS tickets_urgent_v1_idx;
CREATE INDEX IF NOT EXISTS tickets_urgent_v2_idx
    ON tickets (status,
                (CASE WHEN urgency = 'High' THEN 0 WHEN status = 'FAILED' THEN 1
                      WHEN urgency = 'Medium' THEN 2 WHEN urgency = 'Low' THEN 3 ELSE 4 END),
                created_at, id)
    INCLUDE (urgency);

CREATE OR REPLACE FUNCTION tickets_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    IF (NEW.status, NEW.category, NEW.urgency, NEW.sentiment, NEW.ai_draft)
       IS DISTINCT FROM (OLD.status, OLD.category, OLD.urgency, OLD.sentiment, OLD.ai_draft) THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER tickets_touch_updated_at
    BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_touch_updated_at();

-- Live dashboards: every status change (and a resolved reply) is announced to every replica's
-- event stream. One NOTIFY per state change is a few per ticket, far below what serialising
-- NOTIFY commits costs; new tickets are announced by the application instead, debounced.
CREATE OR REPLACE FUNCTION tickets_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ticket_events', json_build_object(
        'id', NEW.id, 'status', NEW.status, 'category', NEW.category,
        'sentiment', NEW.sentiment, 'urgency', NEW.urgency, 'attempts', NEW.attempts,
        'revision', NEW.revision, 'updated_at', NEW.updated_at)::text);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER tickets_notify_change
    AFTER UPDATE ON tickets
    FOR EACH ROW
    WHEN (OLD.revision IS DISTINCT FROM NEW.revision)
    EXECUTE FUNCTION tickets_notify_change();

-- Agents: the people who read and answer tickets. Passwords are argon2id hashes.
CREATE TABLE IF NOT EXISTS agents (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    disabled_at   timestamptz
);

-- Browser sessions, server-side so that logout and `agent disable` end them on every replica.
-- Only a SHA-256 of the session id is stored: a leaked table does not log anyone in.
CREATE TABLE IF NOT EXISTS agent_sessions (
    id_hash      bytea PRIMARY KEY,
    agent_id     bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_sessions_agent_idx ON agent_sessions (agent_id);
CREATE INDEX IF NOT EXISTS agent_sessions_expires_idx ON agent_sessions (expires_at);

-- Bearer tokens for scripts; the token is shown once, only its SHA-256 is kept.
CREATE TABLE IF NOT EXISTS api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- One-time links that create the first agent when there is none.
CREATE TABLE IF NOT EXISTS setup_tokens (
    token_hash bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- Failed logins, per account ('agent:NAME') and per client ('address:IP'), for throttling
-- that holds across replicas.
CREATE TABLE IF NOT EXISTS login_failures (
    key       text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_failures_key_idx ON login_failures (key, failed_at);
-- A login attempt reserves its failure rows before the password check (so that parallel
-- guesses cannot all pass the count) and takes them back on success: `attempt` names them.
ALTER TABLE login_failures ADD COLUMN IF NOT EXISTS attempt uuid;

-- Who changed what on a ticket, and when (issue 10): an agent's corrections of the triage, the
-- resolve. `revision` is the ticket's revision after the change, so a 412 can say what changed
-- since the page was loaded.
CREATE TABLE IF NOT EXISTS ticket_changes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    revision   integer NOT NULL,
    actor      text NOT NULL,
    field      text NOT NULL CHECK (field IN ('category', 'urgency', 'sentiment', 'status')),
    old_value  text,
    new_value  text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ticket_changes_ticket_idx ON ticket_changes (ticket_id, revision);

-- The reply an agent is writing, saved as they type: one per ticket and author, restored on any
-- device, gone once the ticket is resolved.
CREATE TABLE IF NOT EXISTS reply_drafts (
    ticket_id uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author    text NOT NULL,
    body      text NOT NULL CHECK (char_length(body) <= 20000),
    saved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, author)
);

-- Who has a ticket open right now, across replicas. Unlogged: after a crash it is empty, which
-- is right, since every open page says again that it is there within seconds.
CREATE UNLOGGED TABLE IF NOT EXISTS ticket_presence (
    ticket_id uuid NOT NULL,
    viewer    text NOT NULL,
    state     text NOT NULL CHECK (state IN ('viewing', 'typing')),
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, viewer)
);

-- Who wrote (issue 12): optional on intake; the address is stored lower-cased.
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS email text
    CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 254);
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS name text CHECK (char_length(name) BETWEEN 1 AND 200);

-- The outbox (issue 12): what must reach the outside — the reply by e-mail, events by webhook —
-- written in the same transaction as the change that causes it (the trigger below), and sent
-- from here at least once by every replica's delivery workers, with the claim/lease/fence of
-- the claimers: SENDING under a lease, writes fenced by claim_token, expired leases reaped.
-- The row's id is the event id a receiver deduplicates by.
CREATE TABLE IF NOT EXISTS deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ticket_id        uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('email', 'webhook')),
    event            text NOT NULL
                     CHECK (event IN ('ticket.completed', 'ticket.failed', 'ticket.resolved')),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'SENDING', 'SENT', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at     timestamptz NOT NULL DEFAULT now(),
    claim_token      uuid,
    claimed_by       text,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    CONSTRAINT sending_has_lease CHECK (
        (status = 'SENDING') = (claim_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT sent_has_time CHECK (status <> 'SENT' OR sent_at IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS deliveries_pending_idx
    ON deliveries (available_at, created_at) WHERE status = 'PENDING';
CREATE INDEX IF NOT EXISTS deliveries_lease_idx
    ON deliveries (lease_expires_at) WHERE status = 'SENDING';
CREATE INDEX IF NOT EXISTS deliveries_ticket_idx ON deliveries (ticket_id, created_at);

-- Which deliveries this installation makes: set by every replica at start from its settings
-- (TRIAGE_SMTP_URL, TRIAGE_WEBHOOK_URL), read by the trigger. Replicas share one setting.
CREATE TABLE IF NOT EXISTS delivery_targets (
    kind       text PRIMARY KEY CHECK (kind IN ('email', 'webhook')),
    enabled    boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What a delivery says of a ticket: a snapshot at the moment of the event.
CREATE OR REPLACE FUNCTION ticket_event_payload(t tickets, event_id uuid, event text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', event_id, 'type', event, 'created_at', now(),
        'ticket', jsonb_build_object(
            'id', t.id, 'status', t.status, 'message', t.user_message,
            'triage', jsonb_build_object('category', t.category, 'urgency', t.urgency,
                                         'sentiment', t.sentiment, 'engine', t.engine,
                                         'model', t.model),
            'draft', CASE WHEN t.status = 'COMPLETED' THEN t.ai_draft END,
            'reply', CASE WHEN t.status = 'RESOLVED' THEN t.ai_draft END,
            'contact', jsonb_build_object('email', t.email, 'name', t.name),
            'last_error', t.last_error, 'resolved_by', t.resolved_by,
            'created_at', t.created_at, 'updated_at', t.updated_at,
            'resolved_at', t.resolved_at))
$$;

-- The outbox rows of a ticket's change, in the transaction of the change itself: so a crash
-- between "resolved" and "sent" loses nothing, and nothing is sent that was not committed.
CREATE OR REPLACE FUNCTION tickets_enqueue_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event text := 'ticket.' || lower(NEW.status);
    event_id uuid;
BEGIN
    IF EXISTS (SELECT 1 FROM delivery_targets WHERE kind = 'webhook' AND enabled) THEN
        event_id := gen_random_uuid();
        INSERT INTO deliveries (id, ticket_id, kind, event, payload)
        VALUES (event_id, NEW.id, 'webhook', event, ticket_event_payload(NEW, event_id, event));
    END IF;
    IF NEW.status = 'RESOLVED' AND NEW.email IS NOT NULL
       AND EXISTS (SELECT 1 FROM delivery_targets WHERE kind = 'email' AND enabled) THEN
        event_id := gen_random_uuid();
        INSERT INTO deliveries (id, ticket_id, kind, event, payload)
        VALUES (event_id, NEW.id, 'email', event, ticket_event_payload(NEW, event_id, event));
    END IF;
    IF event_id IS NOT NULL THEN
        PERFORM pg_notify('triage_deliveries', '');  -- wakes idle delivery workers
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER tickets_enqueue_deliveries
    AFTER UPDATE ON tickets
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('COMPLETED', 'FAILED', 'RESOLVED'))
    EXECUTE FUNCTION tickets_enqueue_deliveries();

-- Every open dashboard hears when a delivery changes state (queued, sending, sent, retrying,
-- not delivered), from any replica: "Reply sent" shows once it is, not before.
CREATE OR REPLACE FUNCTION deliveries_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('delivery_events', json_build_object(
        'id', NEW.ticket_id, 'delivery', NEW.id, 'kind', NEW.kind, 'event', NEW.event,
        'status', NEW.status, 'attempts', NEW.attempts)::text);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER deliveries_notify_change
    AFTER UPDATE ON deliveries
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION deliveries_notify_change();

-- Which schema.sql was applied last, and when: `triage-hub check` compares it with its own,
-- so an operator sees a replica of another build, or a database nobody migrated.
CREATE TABLE IF NOT EXISTS schema_info (
    id         int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    digest     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
