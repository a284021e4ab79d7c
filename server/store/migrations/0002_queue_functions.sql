-- flowd schema, version 2: the queue operations that must be atomic, as
-- plpgsql functions (one round trip, one transaction each).
--
-- Errors are raised with SQLSTATEs that flowd maps to API codes
-- (store_error_code) and messages that go to the client verbatim:
--   no_data_found (P0002)                    -> NOT_FOUND
--   unique_violation (23505)                 -> ALREADY_EXISTS
--   object_not_in_prerequisite_state (55000) -> FAILED_PRECONDITION
--
-- Lock order, to stay free of deadlocks: queue row, queue item, task,
-- ticket. The claim locks its queue row FOR NO KEY UPDATE, which serialises
-- claimers of one queue but does not block the FOR KEY SHARE locks that
-- foreign keys take when items are inserted.

-- The agent an item is meant for: the task's agent, else the ticket's first
-- suggested agent, else none. Empty strings count as none.
CREATE FUNCTION flow_item_agent(p_task_agent text, p_ticket_agents text[])
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(nullif(p_task_agent, ''), nullif(p_ticket_agents[1], '')) $$;

-- Raises unique_violation naming the active item of a ticket (p_task NULL)
-- or of a task. Called after an insert found one.
CREATE FUNCTION flow_raise_active(p_ticket bigint, p_task bigint) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
BEGIN
    SELECT * INTO it FROM queue_items i
     WHERE i.status IN ('queued', 'in_progress')
       AND ((p_task IS NULL AND i.ticket_id = p_ticket AND i.task_id IS NULL)
            OR (p_task IS NOT NULL AND i.task_id = p_task))
     LIMIT 1;
    IF p_task IS NULL THEN
        IF FOUND THEN
            RAISE EXCEPTION 'ticket % is already on queue % (item %)',
                p_ticket, it.queue_id, it.id USING ERRCODE = 'unique_violation';
        END IF;
        RAISE EXCEPTION 'ticket % is already on a queue', p_ticket
            USING ERRCODE = 'unique_violation';
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'task % is already on queue % (item %)',
            p_task, it.queue_id, it.id USING ERRCODE = 'unique_violation';
    END IF;
    RAISE EXCEPTION 'task % is already on a queue', p_task USING ERRCODE = 'unique_violation';
END $$;

-- The queue an enqueue puts items on; raises no_data_found when missing.
CREATE FUNCTION flow_enqueue_queue(p_queue bigint) RETURNS queues
    LANGUAGE plpgsql AS $$
DECLARE
    q queues%ROWTYPE;
BEGIN
    SELECT * INTO q FROM queues WHERE id = p_queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % not found', p_queue USING ERRCODE = 'no_data_found';
    END IF;
    RETURN q;
END $$;

-- The ticket an enqueue on queue q works on, checked: it exists, is in the
-- queue's project and is not closed. The row is share-locked so it cannot
-- be closed or deleted before the transaction ends.
CREATE FUNCTION flow_enqueue_ticket_row(q queues, p_ticket bigint) RETURNS tickets
    LANGUAGE plpgsql AS $$
DECLARE
    t tickets%ROWTYPE;
BEGIN
    SELECT * INTO t FROM tickets WHERE id = p_ticket FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ticket % not found', p_ticket USING ERRCODE = 'no_data_found';
    END IF;
    IF t.project_id <> q.project_id THEN
        RAISE EXCEPTION 'ticket % belongs to project %, but queue % belongs to project %',
            t.id, t.project_id, q.id, q.project_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF t.status = 'closed' THEN
        RAISE EXCEPTION 'ticket % is closed; reopen it before enqueuing it or its tasks', t.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN t;
END $$;

-- Inserts one task item unless the task is already active on a queue;
-- returns the new row, or NULL (all fields) when it was active.
CREATE FUNCTION flow_insert_task_item(q queues, t tickets, k tasks, p_priority int)
    RETURNS queue_items LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
BEGIN
    INSERT INTO queue_items (queue_id, ticket_id, task_id, priority, max_attempts, agent_id)
    VALUES (q.id, t.id, k.id, p_priority, q.max_attempts,
            flow_item_agent(k.agent_id, t.suggested_agent_ids))
    ON CONFLICT (task_id) WHERE task_id IS NOT NULL AND status IN ('queued', 'in_progress')
    DO NOTHING
    RETURNING * INTO it;
    RETURN it;
END $$;

-- EnqueueTicket: a ticket item and, with p_include_tasks, one item per task
-- of the ticket that is neither completed nor cancelled nor already active,
-- in order_index order. p_priority NULL: the ticket's priority.
CREATE FUNCTION flow_enqueue_ticket(p_queue bigint, p_ticket bigint, p_priority int,
                                    p_include_tasks boolean)
    RETURNS SETOF queue_items LANGUAGE plpgsql AS $$
DECLARE
    q queues;
    t tickets;
    k tasks;
    it queue_items%ROWTYPE;
    prio int;
BEGIN
    q := flow_enqueue_queue(p_queue);
    t := flow_enqueue_ticket_row(q, p_ticket);
    prio := coalesce(p_priority, t.priority);
    INSERT INTO queue_items (queue_id, ticket_id, task_id, priority, max_attempts, agent_id)
    VALUES (q.id, t.id, NULL, prio, q.max_attempts, flow_item_agent(NULL, t.suggested_agent_ids))
    ON CONFLICT (ticket_id) WHERE task_id IS NULL AND status IN ('queued', 'in_progress')
    DO NOTHING
    RETURNING * INTO it;
    IF it.id IS NULL THEN
        PERFORM flow_raise_active(t.id, NULL);
    END IF;
    RETURN NEXT it;
    IF NOT p_include_tasks THEN
        RETURN;
    END IF;
    FOR k IN SELECT * FROM tasks
              WHERE ticket_id = t.id AND status NOT IN ('completed', 'cancelled')
              ORDER BY order_index, id LOOP
        it := flow_insert_task_item(q, t, k, prio);
        IF it.id IS NOT NULL THEN
            RETURN NEXT it;
        END IF;
    END LOOP;
END $$;

-- EnqueueTask: one task item. p_priority NULL: the ticket's priority.
CREATE FUNCTION flow_enqueue_task(p_queue bigint, p_task bigint, p_priority int)
    RETURNS SETOF queue_items LANGUAGE plpgsql AS $$
DECLARE
    q queues;
    t tickets;
    k tasks;
    it queue_items%ROWTYPE;
BEGIN
    q := flow_enqueue_queue(p_queue);
    SELECT * INTO k FROM tasks WHERE id = p_task FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % not found', p_task USING ERRCODE = 'no_data_found';
    END IF;
    t := flow_enqueue_ticket_row(q, k.ticket_id);
    IF k.status IN ('completed', 'cancelled') THEN
        RAISE EXCEPTION 'task % is %; only pending or in-progress tasks can be enqueued',
            k.id, k.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    it := flow_insert_task_item(q, t, k, coalesce(p_priority, t.priority));
    IF it.id IS NULL THEN
        PERFORM flow_raise_active(t.id, k.id);
    END IF;
    RETURN NEXT it;
END $$;

-- GetNext / worker claim: hands out at most one item of p_queue to p_owner.
-- p_agent NULL: any item; else items for that agent or for no agent.
-- Returns the claimed row, or no row when the queue is paused, at capacity,
-- or has nothing ready. Each statement takes a fresh snapshot (READ
-- COMMITTED, VOLATILE), so the in-progress count, read after the queue row
-- lock is held, sees every claim committed before it: maxParallelItems holds
-- across connections and flowd processes.
CREATE FUNCTION flow_claim(p_queue bigint, p_owner text, p_agent text)
    RETURNS SETOF queue_items LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    q queues%ROWTYPE;
    it queue_items%ROWTYPE;
    running bigint;
BEGIN
    SELECT * INTO q FROM queues WHERE id = p_queue FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue % not found', p_queue USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT q.is_active THEN
        RETURN;
    END IF;
    SELECT count(*) INTO running FROM queue_items
     WHERE queue_id = p_queue AND status = 'in_progress';
    IF running >= q.max_parallel_items THEN
        RETURN;
    END IF;
    SELECT i.* INTO it FROM queue_items i
     WHERE i.queue_id = p_queue AND i.status = 'queued' AND i.run_after <= now()
       AND (p_agent IS NULL OR i.agent_id IS NULL OR i.agent_id = p_agent)
       AND (i.task_id IS NULL OR NOT EXISTS (
            SELECT 1 FROM tasks k JOIN tasks d ON d.id = ANY (k.dependencies)
             WHERE k.id = i.task_id AND d.status <> 'completed'))
     ORDER BY i.priority DESC, i.id
     LIMIT 1
     FOR UPDATE OF i SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE queue_items
       SET status = 'in_progress', attempt = attempt + 1, started_at = now(),
           lease_owner = p_owner,
           lease_expires_at = now() + make_interval(secs => q.lease_seconds)
     WHERE id = it.id
    RETURNING * INTO it;
    IF it.task_id IS NOT NULL THEN
        UPDATE tasks SET status = 'in_progress' WHERE id = it.task_id AND status = 'pending';
    END IF;
    UPDATE tickets SET status = 'in_progress' WHERE id = it.ticket_id AND status = 'open';
    RETURN NEXT it;
END $$;

-- Explains why a compare-and-set on an in-progress item matched nothing.
-- p_owner / p_attempt NULL: not compared.
CREATE FUNCTION flow_raise_not_running(p_item bigint, p_owner text, p_attempt int)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
BEGIN
    SELECT * INTO it FROM queue_items WHERE id = p_item;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue item % not found', p_item USING ERRCODE = 'no_data_found';
    END IF;
    IF it.status <> 'in_progress' THEN
        RAISE EXCEPTION 'queue item % is %, not in progress', p_item, it.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RAISE EXCEPTION 'queue item % is now leased to % (attempt %), not to % (attempt %)',
        p_item, it.lease_owner, it.attempt, coalesce(p_owner, 'anyone'),
        coalesce(p_attempt::text, 'any')
        USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;

-- CompleteItem: in_progress -> completed (compare-and-set on status, and on
-- lease owner and attempt when given). A task item completes its task (the
-- 0001 triggers set done and close the ticket after its last task); a
-- ticket item closes its ticket. Nothing changes when the CAS fails.
CREATE FUNCTION flow_complete(p_item bigint, p_notes text, p_metadata jsonb,
                              p_owner text DEFAULT NULL, p_attempt int DEFAULT NULL)
    RETURNS SETOF queue_items LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
BEGIN
    UPDATE queue_items
       SET status = 'completed', completed_at = now(), completion_notes = p_notes,
           metadata = p_metadata, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = p_item AND status = 'in_progress'
       AND (p_owner IS NULL OR lease_owner = p_owner)
       AND (p_attempt IS NULL OR attempt = p_attempt)
    RETURNING * INTO it;
    IF NOT FOUND THEN
        PERFORM flow_raise_not_running(p_item, p_owner, p_attempt);
    END IF;
    IF it.task_id IS NOT NULL THEN
        UPDATE tasks SET status = 'completed',
                         completion_notes = coalesce(p_notes, completion_notes)
         WHERE id = it.task_id;
    ELSE
        UPDATE tickets SET status = 'closed' WHERE id = it.ticket_id AND status <> 'closed';
    END IF;
    RETURN NEXT it;
END $$;

-- FailItem: in_progress -> failed (same compare-and-set). The task of a task
-- item goes back from in_progress to pending: nobody works on it any more.
CREATE FUNCTION flow_fail(p_item bigint, p_error text,
                          p_owner text DEFAULT NULL, p_attempt int DEFAULT NULL)
    RETURNS SETOF queue_items LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
BEGIN
    UPDATE queue_items
       SET status = 'failed', completed_at = now(), error = p_error,
           lease_owner = NULL, lease_expires_at = NULL
     WHERE id = p_item AND status = 'in_progress'
       AND (p_owner IS NULL OR lease_owner = p_owner)
       AND (p_attempt IS NULL OR attempt = p_attempt)
    RETURNING * INTO it;
    IF NOT FOUND THEN
        PERFORM flow_raise_not_running(p_item, p_owner, p_attempt);
    END IF;
    IF it.task_id IS NOT NULL THEN
        UPDATE tasks SET status = 'pending' WHERE id = it.task_id AND status = 'in_progress';
    END IF;
    RETURN NEXT it;
END $$;
