-- The agent's desk: corrections of the triage, resolving, saved replies, who has a ticket open.

-- name: lock_ticket
-- A correction or a resolve reads the ticket under a row lock, so that the revision it checks
-- (If-Match) is the one it changes.
SELECT status, revision, category, urgency, sentiment
FROM tickets WHERE id = $1
FOR UPDATE;

-- name: ticket_state
SELECT id, status, revision, updated_at FROM tickets WHERE id = $1;

-- name: changes_since
-- What other agents changed after the revision a page was loaded at (for a 412).
SELECT revision, actor, field, old_value, new_value, changed_at
FROM ticket_changes
WHERE ticket_id = $1 AND revision > $2
ORDER BY revision, id;

-- name: correct_ticket
-- The agent's values for the triage fields ($2-$4, NULL: unchanged); the AI's stay in ai_*.
UPDATE tickets
SET category = coalesce($2, category), urgency = coalesce($3, urgency),
    sentiment = coalesce($4, sentiment)
WHERE id = $1
RETURNING id, status, revision, updated_at;

-- name: resolve_ticket
-- RESOLVED is final: the reply sent, who sent it, and the agent's last corrections ($3-$5).
UPDATE tickets
SET status = 'RESOLVED', ai_draft = $2, resolved_at = now(), resolved_by = $6,
    category = coalesce($3, category), urgency = coalesce($4, urgency),
    sentiment = coalesce($5, sentiment)
WHERE id = $1
RETURNING id, status, revision, updated_at;

-- name: record_changes
-- One row per changed field: (field, old, new) arrays of the same length.
INSERT INTO ticket_changes (ticket_id, revision, actor, field, old_value, new_value)
SELECT $1, $2, $3, field, old_value, new_value
FROM unnest($4::text[], $5::text[], $6::text[]) AS change (field, old_value, new_value);

-- name: delete_drafts
-- The reply went out: the drafts written towards it are done.
DELETE FROM reply_drafts WHERE ticket_id = $1;

-- name: save_draft
-- Save the reply an author is writing; no row when the ticket is gone or already resolved.
INSERT INTO reply_drafts (ticket_id, author, body)
SELECT id, $2, $3 FROM tickets WHERE id = $1 AND status <> 'RESOLVED'
ON CONFLICT (ticket_id, author) DO UPDATE SET body = excluded.body, saved_at = now()
RETURNING saved_at;

-- name: drop_draft
-- An author cleared their reply; no row when the ticket is gone or already resolved.
WITH target AS (
    SELECT id FROM tickets WHERE id = $1 AND status <> 'RESOLVED'
), dropped AS (
    DELETE FROM reply_drafts d USING target WHERE d.ticket_id = target.id AND d.author = $2
)
SELECT now() AS saved_at FROM target;

-- name: set_presence
-- An open page says it is there (every few seconds), typing, or gone; every replica's streams
-- hear it. Rows older than an hour are swept on the way (pages that vanished without a word).
WITH target AS (
    SELECT id FROM tickets WHERE id = $1
), swept AS (
    DELETE FROM ticket_presence WHERE seen_at < now() - interval '1 hour'
), left_page AS (
    DELETE FROM ticket_presence p USING target
    WHERE $3 = 'left' AND p.ticket_id = target.id AND p.viewer = $2
), here AS (
    INSERT INTO ticket_presence (ticket_id, viewer, state)
    SELECT id, $2, $3 FROM target WHERE $3 <> 'left'
    ON CONFLICT (ticket_id, viewer) DO UPDATE SET state = excluded.state, seen_at = now()
)
SELECT true AS found
FROM target, pg_notify('ticket_presence', json_build_object(
    'id', target.id, 'viewer', $2::text, 'state', $3::text, 'at', now())::text);

-- name: ticket_desk
-- What an agent's detail view shows besides the ticket: its changes, the reader's own saved
-- reply, who else has a reply saved, and who has it open now ($3 seconds of presence).
SELECT
    (SELECT coalesce(jsonb_agg(c ORDER BY c.revision, c.id), '[]'::jsonb)
     FROM (SELECT id, revision, actor, field, old_value, new_value, changed_at
           FROM ticket_changes WHERE ticket_id = $1) AS c) AS changes,
    (SELECT jsonb_build_object('body', body, 'saved_at', saved_at)
     FROM reply_drafts WHERE ticket_id = $1 AND author = $2) AS draft,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('author', author, 'saved_at', saved_at)
                               ORDER BY saved_at), '[]'::jsonb)
     FROM reply_drafts WHERE ticket_id = $1 AND author <> $2) AS other_drafts,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('viewer', viewer, 'state', state,
                                                  'seen_at', seen_at) ORDER BY viewer),
                     '[]'::jsonb)
     FROM ticket_presence
     WHERE ticket_id = $1 AND seen_at > now() - make_interval(secs => $3)) AS presence;
