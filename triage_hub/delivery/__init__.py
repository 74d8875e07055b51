"""Getting the answer out: the reply by e-mail, events by signed webhook, from the outbox."""
