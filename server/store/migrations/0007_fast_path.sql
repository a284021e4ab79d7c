-- flowd schema, version 7: the hot path of the queue engine, set-based.
-- docs/performance.md measures each change. Semantics are unchanged
-- (docs/queue-semantics.md): the same compare-and-set, leases, capacity
-- check under the queue row lock, priority order and lock order (queue
-- rows, queue items, tasks, tickets; each by id).

-- flow_ms is STABLE, as extract(epoch FROM timestamptz) is: declared
-- IMMUTABLE it was never inlined and every call ran the SQL-function
-- executor (about half of a GetQueue's database time).
ALTER FUNCTION flow_ms(timestamptz) STABLE;

-- ---- a ticket follows its tasks, once per statement ----

-- The tickets p_tickets follow their tasks (the rule of 0001): closed when
-- no task is left pending or in progress and one is completed, in progress
-- again when a closed ticket has an open task. Locks the tickets in id
-- order before counting: two transactions completing a ticket's last two
-- tasks at once would otherwise each count the other's task as still open
-- under its own snapshot and leave the ticket in progress.
CREATE FUNCTION flow_tickets_follow(p_tickets bigint[]) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF p_tickets IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM tickets WHERE id = ANY (p_tickets) ORDER BY id FOR NO KEY UPDATE;
    UPDATE tickets t
       SET status = CASE WHEN s.open_tasks = 0 THEN 'closed' ELSE 'in_progress' END
      FROM (SELECT k.ticket_id,
                   count(*) FILTER (WHERE k.status IN ('pending', 'in_progress')) AS open_tasks,
                   count(*) FILTER (WHERE k.status = 'completed') AS done_tasks
              FROM tasks k WHERE k.ticket_id = ANY (p_tickets)
             GROUP BY k.ticket_id) s
     WHERE t.id = s.ticket_id
       AND ((s.open_tasks = 0 AND s.done_tasks > 0 AND t.status <> 'closed')
         OR (s.open_tasks > 0 AND t.status = 'closed'));
END $$;

-- Statement-level: a statement that changes the status of k tasks of one
-- ticket counts that ticket's tasks once, not k times. A change between
-- two open states (pending and in_progress: a claim, a retry) cannot change
-- the ticket and is skipped, so claims neither lock nor count tickets.
CREATE FUNCTION flow_tasks_follow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM flow_tickets_follow((SELECT array_agg(DISTINCT n.ticket_id) FROM new_rows n));
    RETURN NULL;
END $$;

CREATE FUNCTION flow_tasks_follow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM flow_tickets_follow((SELECT array_agg(DISTINCT o.ticket_id) FROM old_rows o));
    RETURN NULL;
END $$;

CREATE FUNCTION flow_tasks_follow_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM flow_tickets_follow((
        SELECT array_agg(DISTINCT x.ticket_id)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         CROSS JOIN LATERAL (VALUES (n.ticket_id), (o.ticket_id)) x(ticket_id)
         WHERE n.ticket_id <> o.ticket_id
            OR (n.status IS DISTINCT FROM o.status
                AND NOT (n.status IN ('pending', 'in_progress')
                         AND o.status IN ('pending', 'in_progress')))));
    RETURN NULL;
END $$;

DROP TRIGGER tasks_follow_update ON tasks;
DROP TRIGGER tasks_follow_insert_delete ON tasks;
DROP FUNCTION flow_ticket_follow_tasks();
CREATE TRIGGER tasks_follow_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flow_tasks_follow_insert();
CREATE TRIGGER tasks_follow_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flow_tasks_follow_delete();
CREATE TRIGGER tasks_follow_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flow_tasks_follow_update();

-- ---- plans made once per session ----

-- PL/pgSQL plans each statement of a function with the call's arguments as
-- constants (a custom plan) until PostgreSQL judges a generic plan no
-- costlier; for the claim it never did, so every Claim planned its
-- statements afresh: about 0.45 ms of a 1-item claim's 0.9 ms. The
-- statements of the queue engine's per-call functions look rows up by key,
-- by the ready index in priority order, or by the ids they are given:
-- their plan does not depend on the arguments' values, and a generic plan,
-- made once per connection, is the same plan without the planning. The
-- claim, its marking and Report (below) are declared with
-- SET plan_cache_mode = force_generic_plan; the enqueue functions of 0004:
ALTER FUNCTION flow_enqueue_task(bigint, bigint, int, timestamptz, int)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION flow_enqueue_ticket(bigint, bigint, int, boolean, timestamptz, int)
    SET plan_cache_mode = force_generic_plan;

-- ---- claims ----

-- Worker claim, as in 0006, with these changes:
--  - the ready check of each candidate queue is a LIMIT 1 probe of the
--    partial index queue_items_ready (the EXISTS it replaces was planned as
--    a semi-join over a sequential scan of all of queue_items, per claim),
--    in the index's order: without the ORDER BY, the generic plan may read
--    queue_items sequentially until it meets a queued row, through all of
--    the history in front of it;
--  - it no longer marks the claimed items' tasks and tickets in progress:
--    claims of a queue serialise on its row lock, which lasts until commit,
--    and the marking took about half of that time. flowd marks them after
--    the claim commits, in a transaction of its own
--    (flow_claimed_mark_running);
--  - the worker's last_seen_at is written only when more than a second old:
--    a worker that claims often (a drain, a long poll woken every few ms)
--    no longer writes its row, and the two index entries of its new
--    version, on every Claim. Liveness is judged over many seconds
--    (ListWorkers' connected, the rescuer forgetting quiet workers);
--  - the ids it claimed are left in the session setting flow.claimed ('{}'
--    for none), where flowd's next statement, sent in the same round trip
--    and run once the claim has committed (its queue row locks released),
--    reads them to return the items' tickets, tasks and projects;
--  - its statements are planned once per session (generic plans, below).
CREATE OR REPLACE FUNCTION flow_claim_worker(p_worker bigint, p_owner text, p_agents text[],
                                             p_max int, p_queue bigint)
    RETURNS SETOF queue_items LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_now timestamptz;
    v_seen timestamptz;
    v_agents text[];
    v_queues bigint[];
    v_items queue_items[];
BEGIN
    PERFORM set_config('flow.claimed', '{}', false);
    SELECT coalesce(p_agents, agent_ids), last_seen_at INTO v_agents, v_seen
      FROM workers WHERE id = p_worker;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered', p_worker USING ERRCODE = 'no_data_found';
    END IF;
    IF v_seen < now() - interval '1 second' THEN
        UPDATE workers SET last_seen_at = now() WHERE id = p_worker;
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
                 ORDER BY i.priority DESC, i.id
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
    PERFORM set_config('flow.claimed',
                       (SELECT array_agg((x).id) FROM unnest(v_items) x)::text, false);
    RETURN QUERY SELECT * FROM unnest(v_items);
END $$;

-- The tasks and tickets of items p_ids that p_owner claimed are marked in
-- progress (flow_claimed_mark). Only items still in progress under
-- p_owner count: each is locked FOR SHARE first (in id order, as every
-- statement that changes several items), so a cancel, a failure or a
-- rescue of the item either ran before (the item no longer qualifies) or
-- waits until the marking commits and then puts the task back itself.
-- The transaction commits without waiting for its WAL flush
-- (synchronous_commit off, for it only): what it writes is derived state
-- that may be lost. Items whose claim did not commit, a flowd that stopped
-- between the two transactions, or a server crash before the flush leave
-- the tasks pending: the state a lease expiry restores anyway. A later
-- durable commit flushes this one with it.
CREATE FUNCTION flow_claimed_mark_running(p_owner text, p_ids bigint[]) RETURNS void
    LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_items queue_items[];
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT array_agg(x.i) INTO v_items FROM (
        SELECT i FROM queue_items i
         WHERE i.id = ANY (p_ids) AND i.status = 'in_progress' AND i.lease_owner = p_owner
         ORDER BY i.id FOR SHARE) x;
    IF v_items IS NOT NULL THEN
        PERFORM flow_claimed_mark(v_items);
    END IF;
END $$;

-- ---- outcomes ----

-- WorkerService.Report, as in 0004, set-based: one UPDATE of the items, one
-- of their tasks, one of the tickets of ticket items, whatever the batch
-- size. Each outcome is the compare-and-set of flow_item_finish (status
-- in_progress, lease owner p_owner, the attempt; NULL attempt: not
-- compared); an item listed twice is applied once, the other position then
-- reports that the item is no longer in progress. One row per outcome, as
-- before: its position, the SQLSTATE when its compare-and-set failed (NULL:
-- applied), a message, and the item's status afterwards; why an outcome
-- was rejected is looked up for rejected outcomes only.
CREATE OR REPLACE FUNCTION flow_report(p_owner text, p_ids bigint[], p_attempts int[],
                                       p_success boolean[], p_notes text[],
                                       p_metadata text[], p_errors text[],
                                       p_retryable boolean[], p_base_ms int, p_max_ms int)
    RETURNS TABLE (pos int, state text, message text, status text)
    LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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
               done = (d.status = 'completed'),
               updated_at = now(),
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
    FOR k IN SELECT n FROM generate_series(1, cardinality(p_ids)) n
             EXCEPT SELECT unnest(v_pos)::int LOOP
        why := flow_not_running_reason(p_ids[k], p_owner, p_attempts[k]);
        pos := k;
        state := why.state;
        message := why.message;
        status := (SELECT i.status FROM queue_items i WHERE i.id = p_ids[k]);
        RETURN NEXT;
    END LOOP;
END $$;

-- A task's row is written again when its item completes (and when the
-- marker puts it in progress): with half of each page left free, the new
-- version fits on the old one's page and, as neither index covers status,
-- done, completion_notes or updated_at, the update is HOT (no index
-- entries; about 90 % of Report's task updates in a drain, against none at
-- the default fillfactor, where a bulk insert fills every page). Applies to
-- pages written from now on.
ALTER TABLE tasks SET (fillfactor = 50);

-- The task row trigger (flow_task_sync: done and status kept in step,
-- updated_at stamped) runs on an UPDATE only when the statement left it
-- something to do: done out of step with status, or updated_at not set.
-- Report's task update sets both itself, so no PL/pgSQL function is called
-- per completed task (an UPDATE of 250 tasks: 16 us per row without the
-- call, 18-21 with it). With done in step and updated_at changed, the
-- function would leave the row as it is but for updated_at, which such a
-- statement sets to now() itself.
DROP TRIGGER tasks_sync ON tasks;
CREATE TRIGGER tasks_sync_insert BEFORE INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION flow_task_sync();
CREATE TRIGGER tasks_sync_update BEFORE UPDATE ON tasks
    FOR EACH ROW WHEN (NEW.done IS DISTINCT FROM (NEW.status = 'completed')
                       OR NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION flow_task_sync();
