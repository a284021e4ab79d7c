-- flowd schema, version 9: a worker claim holds its queue row lock for the
-- claim alone. Claims of a queue serialise on that lock (it keeps
-- maxParallelItems exact across connections and flowd processes), and the
-- lock lasts until commit; marking the claimed items' tasks and tickets in
-- progress took about half of that time. flowd now does it right after the
-- claim commits, in a transaction of its own (flow_claimed_mark_running),
-- before it answers the worker. And Report looks up why an outcome was
-- rejected only for rejected outcomes.

-- Worker claim, as in 0008, without marking tasks and tickets.
CREATE OR REPLACE FUNCTION flow_claim_worker(p_worker bigint, p_owner text, p_agents text[],
                                             p_max int, p_queue bigint)
    RETURNS SETOF queue_items LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz;
    v_agents text[];
    v_queues bigint[];
    v_items queue_items[];
BEGIN
    UPDATE workers SET last_seen_at = now() WHERE id = p_worker
    RETURNING coalesce(p_agents, agent_ids) INTO v_agents;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', p_worker USING ERRCODE = 'no_data_found';
    END IF;
    IF p_queue IS NOT NULL AND NOT EXISTS (SELECT 1 FROM queues WHERE id = p_queue) THEN
        RAISE EXCEPTION 'queue % not found', p_queue USING ERRCODE = 'no_data_found';
    END IF;
    SELECT array_agg(c.id) INTO v_queues FROM (
        SELECT q.id FROM queues q
         WHERE q.is_active AND (p_queue IS NULL OR q.id = p_queue)
           AND (SELECT true FROM queue_items i
                 WHERE i.queue_id = q.id AND i.status = 'queued'
                   AND i.run_after <= now()
                   AND coalesce(i.agent_id, 'default') = ANY (v_agents)
                 LIMIT 1)
         ORDER BY q.id
         FOR NO KEY UPDATE OF q) c;
    IF v_queues IS NULL THEN
        RETURN;
    END IF;
    v_now := clock_timestamp(); -- after the queue locks
    WITH s AS (
        SELECT q.id, q.lease_seconds,
               greatest(q.max_parallel_items - (SELECT count(*) FROM queue_items r
                                                 WHERE r.queue_id = q.id
                                                   AND r.status = 'in_progress'), 0) AS free
          FROM queues q WHERE q.id = ANY (v_queues) AND q.is_active),
    c AS (
        SELECT x.id, x.priority, s.lease_seconds FROM s CROSS JOIN LATERAL (
            SELECT i.id, i.priority FROM queue_items i
             WHERE i.queue_id = s.id AND i.status = 'queued' AND i.run_after <= now()
               AND coalesce(i.agent_id, 'default') = ANY (v_agents)
               AND (i.task_id IS NULL OR NOT EXISTS (
                    SELECT 1 FROM tasks k JOIN tasks d ON d.id = ANY (k.dependencies)
                     WHERE k.id = i.task_id AND d.status <> 'completed'))
             ORDER BY i.priority DESC, i.id
             LIMIT least(s.free, p_max)
             FOR UPDATE OF i SKIP LOCKED) x
         ORDER BY x.priority DESC, x.id
         LIMIT p_max),
    u AS (
        UPDATE queue_items i
           SET status = 'in_progress', attempt = i.attempt + 1, started_at = v_now,
               lease_owner = p_owner,
               lease_expires_at = v_now + make_interval(secs => c.lease_seconds)
          FROM c WHERE i.id = c.id
        RETURNING i AS it)
    SELECT array_agg(u.it ORDER BY (u.it).priority DESC, (u.it).id) INTO v_items FROM u;
    IF v_items IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM unnest(v_items);
END $$;

-- The tasks and tickets of items p_ids that p_owner claimed are marked in
-- progress (flow_claimed_mark). Only items still in progress under
-- p_owner count: each is locked FOR SHARE first (in id order, as every
-- statement that changes several items), so a cancel, a failure or a
-- rescue of the item either ran before (the item no longer qualifies) or
-- waits until the marking commits and then puts the task back itself.
-- Items whose claim did not commit, or a flowd that stopped between the
-- two transactions, leave tasks pending: the state a lease expiry
-- restores anyway.
CREATE FUNCTION flow_claimed_mark_running(p_owner text, p_ids bigint[]) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    v_items queue_items[];
BEGIN
    SELECT array_agg(x.i) INTO v_items FROM (
        SELECT i FROM queue_items i
         WHERE i.id = ANY (p_ids) AND i.status = 'in_progress' AND i.lease_owner = p_owner
         ORDER BY i.id FOR SHARE) x;
    IF v_items IS NOT NULL THEN
        PERFORM flow_claimed_mark(v_items);
    END IF;
END $$;

-- WorkerService.Report, as in 0008, but the reason of a rejected outcome is
-- looked up for rejected outcomes only (0008 ran flow_not_running_reason,
-- a query, for every outcome and discarded it for the applied ones).
CREATE OR REPLACE FUNCTION flow_report(p_owner text, p_ids bigint[], p_attempts int[],
                                       p_success boolean[], p_notes text[],
                                       p_metadata text[], p_errors text[],
                                       p_retryable boolean[], p_base_ms int, p_max_ms int)
    RETURNS TABLE (pos int, state text, message text, status text)
    LANGUAGE plpgsql AS $$
DECLARE
    k int;
    why record;
    v_pos bigint[];
    v_status text[];
    v_task bigint[];
    v_ticket bigint[];
    v_notes text[];
BEGIN
    PERFORM 1 FROM queue_items i WHERE i.id = ANY (p_ids) ORDER BY i.id FOR NO KEY UPDATE;
    WITH o AS (
        SELECT DISTINCT ON (x.id) x.*
          FROM unnest(p_ids, p_attempts, p_success, p_notes, p_metadata, p_errors, p_retryable)
               WITH ORDINALITY AS x(id, attempt, success, notes, metadata, error, retryable, n)
         ORDER BY x.id, x.n),
    u AS (
        UPDATE queue_items i
           SET status = CASE WHEN o.success THEN 'completed'
                             WHEN NOT o.retryable THEN 'failed'
                             WHEN i.attempt < i.max_attempts THEN 'queued'
                             ELSE 'dead' END,
               completed_at = CASE WHEN o.success OR NOT o.retryable
                                        OR i.attempt >= i.max_attempts THEN now() END,
               run_after = CASE WHEN NOT o.success AND o.retryable AND i.attempt < i.max_attempts
                                THEN now() + flow_backoff(i.attempt, p_base_ms, p_max_ms)
                                ELSE i.run_after END,
               completion_notes = CASE WHEN o.success THEN o.notes ELSE i.completion_notes END,
               metadata = CASE WHEN o.success THEN o.metadata::jsonb ELSE i.metadata END,
               error = CASE WHEN o.success THEN i.error ELSE o.error END,
               lease_owner = NULL, lease_expires_at = NULL
          FROM o
         WHERE i.id = o.id AND i.status = 'in_progress' AND i.lease_owner = p_owner
           AND (o.attempt IS NULL OR i.attempt = o.attempt)
        RETURNING o.n, i.status, i.task_id, i.ticket_id, o.notes)
    SELECT array_agg(u.n), array_agg(u.status), array_agg(u.task_id), array_agg(u.ticket_id),
           array_agg(u.notes)
      INTO v_pos, v_status, v_task, v_ticket, v_notes FROM u;

    IF v_pos IS NOT NULL THEN
        -- Tasks, then the tickets a completion may close, each in id order;
        -- then the changes.
        PERFORM 1 FROM tasks WHERE id = ANY (v_task) ORDER BY id FOR NO KEY UPDATE;
        PERFORM 1 FROM tickets
         WHERE id IN (SELECT d.ticket_id FROM unnest(v_ticket, v_status) AS d(ticket_id, status)
                       WHERE d.status = 'completed')
         ORDER BY id FOR NO KEY UPDATE;
        -- Completed task items complete their task; any other way out of
        -- in_progress puts an in-progress task back to pending.
        UPDATE tasks k
           SET status = CASE WHEN d.status = 'completed' THEN 'completed' ELSE 'pending' END,
               completion_notes = CASE WHEN d.status = 'completed'
                                       THEN coalesce(d.notes, k.completion_notes)
                                       ELSE k.completion_notes END
          FROM unnest(v_task, v_status, v_notes) AS d(task_id, status, notes)
         WHERE k.id = d.task_id AND (d.status = 'completed' OR k.status = 'in_progress');
        -- Completed ticket items close their ticket.
        UPDATE tickets t SET status = 'closed'
          FROM unnest(v_ticket, v_task, v_status) AS d(ticket_id, task_id, status)
         WHERE t.id = d.ticket_id AND d.task_id IS NULL AND d.status = 'completed'
           AND t.status <> 'closed';
    END IF;

    -- Applied outcomes, then the reason each other one changed nothing
    -- (positions in any order: the caller places rows by pos).
    RETURN QUERY SELECT a.n::int, NULL::text, NULL::text, a.status
                   FROM unnest(v_pos, v_status) AS a(n, status);
    FOR k IN SELECT x.n FROM unnest(p_ids) WITH ORDINALITY AS x(id, n)
              WHERE x.n <> ALL (coalesce(v_pos, '{}')) LOOP
        why := flow_not_running_reason(p_ids[k], p_owner, p_attempts[k]);
        pos := k;
        state := why.state;
        message := why.message;
        status := (SELECT i.status FROM queue_items i WHERE i.id = p_ids[k]);
        RETURN NEXT;
    END LOOP;
END $$;
