-- What the built-in engine trains on.

-- name: resolved_examples
-- Every ticket an agent resolved with a full triage: the final labels are the agents' (the AI's
-- stay in ai_*), checked by a person. Newest first, so the newest can judge a retraining.
SELECT user_message, category, urgency, sentiment
FROM tickets
WHERE status = 'RESOLVED'
  AND category IS NOT NULL AND urgency IS NOT NULL AND sentiment IS NOT NULL
ORDER BY resolved_at DESC NULLS LAST, id
LIMIT $1;
