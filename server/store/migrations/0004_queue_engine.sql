-- flowd schema, version 4: the queue engine. Workers, leases for every
-- claim, retries with backoff, dead items, cancel and re-drive, delayed
-- items, the queue's default agent, ready notifications, lease rescue and
-- history pruning. docs/queue-semantics.md describes the state machine.
--
-- Error SQLSTATEs as in 0002: no_data_found (P0002) -> NOT_FOUND,
-- unique_violation (23505) -> ALREADY_EXISTS, object_not_in_prerequisite_state
-- (55000) -> FAILED_PRECONDITION.
--
-- Lock order, as in 0002: queue rows (by id), queue items (by id), tasks
-- (by id), tickets (by id).

-- ---- tables ----

CREATE TABLE workers (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    agent_ids     text[] NOT NULL CHECK (cardinality(agent_ids) BETWEEN 1 AND 100),
    capacity      int NOT NULL CHECK (capacity BETWEEN 1 AND 1024),
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workers_last_seen ON workers (last_seen_at);

-- The agent of items whose task and ticket name none.
ALTER TABLE queues ADD COLUMN default_agent_id text
    CHECK (default_agent_id IS NULL OR length(default_agent_id) BETWEEN 1 AND 200);

-- Finished items folded in by the history prune, per queue, so that queue
-- statistics count them after their rows are gone.
CREATE TABLE queue_item_counters (
    queue_id          bigint PRIMARY KEY REFERENCES queues ON DELETE CASCADE,
    completed         bigint NOT NULL DEFAULT 0,
    failed            bigint NOT NULL DEFAULT 0,
    cancelled         bigint NOT NULL DEFAULT 0,
    dead              bigint NOT NULL DEFAULT 0,
    -- Sum and count of (completed_at - started_at) in ms over completed items.
    processing_ms_sum numeric NOT NULL DEFAULT 0,
    processing_count  bigint NOT NULL DEFAULT 0
);

-- What the rescuer scans: running items by lease expiry.
CREATE INDEX queue_items_leases ON queue_items (lease_expires_at)
    WHERE status = 'in_progress';
-- What the history prune scans: finished items by finish time.
CREATE INDEX queue_items_finished ON queue_items (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled', 'dead');

-- ---- ready notifications ----

-- One pg_notify('flow_ready', <n>) per statement that leaves n > 0 rows
-- queued and ready to run now (never one per row; delayed items are found
-- by the parked claims' periodic re-check). The notification is delivered
-- at commit, and not at all on rollback.
CREATE FUNCTION flow_notify_ready() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM new_rows WHERE status = 'queued' AND run_after <= now();
    IF n > 0 THEN
        PERFORM pg_notify('flow_ready', n::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER queue_items_ready_insert AFTER INSERT ON queue_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flow_notify_ready();
CREATE TRIGGER queue_items_ready_update AFTER UPDATE ON queue_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flow_notify_ready();

-- ---- helpers ----

-- The delay before retry number p_attempt + 1: p_base_ms * 2^(p_attempt - 1)
-- with +-50% jitter, at most p_max_ms.
CREATE FUNCTION flow_backoff(p_attempt int, p_base_ms int, p_max_ms int) RETURNS interval
    LANGUAGE sql VOLATILE AS $$
    SELECT make_interval(secs => least(p_max_ms::float8,
               p_base_ms * power(2::float8, greatest(least(p_attempt, 40) - 1, 0))
               * (0.5 + random())) / 1000)
$$;

-- The agent an item is meant for: the task's agent, else the ticket's first
-- suggested agent, else the queue's default agent, else none (any worker).
CREATE FUNCTION flow_item_agent(p_task_agent text, p_ticket_agents text[], p_queue_agent text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(nullif(p_task_agent, ''), nullif(p_ticket_agents[1], ''),
                          nullif(p_queue_agent, '')) $$;

-- ---- enqueue: one INSERT statement each (one ready notification) ----

DROP FUNCTION flow_enqueue_ticket(bigint, bigint, int, boolean);
DROP FUNCTION flow_enqueue_task(bigint, bigint, int);
DROP FUNCTION flow_insert_task_item(queues, tickets, tasks, int);

-- EnqueueTicket: a ticket item and, with p_include_tasks, one item per task
-- of the ticket that is neither completed nor cancelled nor already active,
-- in order_index order. p_priority NULL: the ticket's priority; p_run_after
-- NULL: now; p_max_attempts NULL: the queue's.
CREATE FUNCTION flow_enqueue_ticket(p_queue bigint, p_ticket bigint, p_priority int,
                                    p_include_tasks boolean, p_run_after timestamptz,
                                    p_max_attempts int)
    RETURNS SETOF queue_items LANGUAGE plpgsql AS $$
DECLARE
    q queues;
    t tickets;
    v queue_items[];
BEGIN
    q := flow_enqueue_queue(p_queue);
    t := flow_enqueue_ticket_row(q, p_ticket);
    WITH ins AS (
        INSERT INTO queue_items AS i (queue_id, ticket_id, task_id, priority, max_attempts,
                                      agent_id, run_after)
        SELECT q.id, t.id, x.task_id, coalesce(p_priority, t.priority),
               coalesce(p_max_attempts, q.max_attempts),
               flow_item_agent(x.agent_id, t.suggested_agent_ids, q.default_agent_id),
               coalesce(p_run_after, now())
          FROM (SELECT NULL::bigint AS task_id, NULL::text AS agent_id, 0 AS kind,
                       0 AS pos
                UNION ALL
                SELECT k.id, k.agent_id, 1, k.order_index FROM tasks k
                 WHERE p_include_tasks AND k.ticket_id = t.id
                   AND k.status NOT IN ('completed', 'cancelled')) x
         ORDER BY x.kind, x.pos, x.task_id
        ON CONFLICT DO NOTHING
        RETURNING i AS it)
    SELECT array_agg(ins.it ORDER BY (ins.it).id) INTO v FROM ins;
    IF NOT EXISTS (SELECT 1 FROM unnest(v) x WHERE x.task_id IS NULL) THEN
        PERFORM flow_raise_active(t.id, NULL);
    END IF;
    RETURN QUERY SELECT * FROM unnest(v);
END $$;

-- EnqueueTask: one task item; arguments as flow_enqueue_ticket.
CREATE FUNCTION flow_enqueue_task(p_queue bigint, p_task bigint, p_priority int,
                                  p_run_after timestamptz, p_max_attempts int)
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
    INSERT INTO queue_items (queue_id, ticket_id, task_id, priority, max_attempts, agent_id,
                             run_after)
    VALUES (q.id, t.id, k.id, coalesce(p_priority, t.priority),
            coalesce(p_max_attempts, q.max_attempts),
            flow_item_agent(k.agent_id, t.suggested_agent_ids, q.default_agent_id),
            coalesce(p_run_after, now()))
    ON CONFLICT (task_id) WHERE task_id IS NOT NULL AND status IN ('queued', 'in_progress')
    DO NOTHING
    RETURNING * INTO it;
    IF it.id IS NULL THEN
        PERFORM flow_raise_active(t.id, k.id);
    END IF;
    RETURN NEXT it;
END $$;

-- ---- claims ----

-- Marks the tasks and tickets of freshly claimed items in progress, locking
-- them in id order.
CREATE FUNCTION flow_claimed_mark(p_items queue_items[]) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM tasks
     WHERE id IN (SELECT x.task_id FROM unnest(p_items) x) AND status = 'pending'
     ORDER BY id FOR NO KEY UPDATE;
    UPDATE tasks SET status = 'in_progress'
     WHERE id IN (SELECT x.task_id FROM unnest(p_items) x) AND status = 'pending';
    PERFORM 1 FROM tickets
     WHERE id IN (SELECT x.ticket_id FROM unnest(p_items) x) AND status = 'open'
     ORDER BY id FOR NO KEY UPDATE;
    UPDATE tickets SET status = 'in_progress'
     WHERE id IN (SELECT x.ticket_id FROM unnest(p_items) x) AND status = 'open';
END $$;

DROP FUNCTION flow_claim(bigint, text, text);

-- GetNext: hands out at most one item of p_queue to p_owner with a lease of
-- p_lease_s seconds (NULL: the queue's lease). p_agent NULL: any item; else
-- items for that agent or for no agent. Returns the claimed row, or no row
-- when the queue is paused, at capacity, or has nothing ready. Each
-- statement takes a fresh snapshot (READ COMMITTED, VOLATILE), so the
-- in-progress count, read after the queue row lock is held, sees every
-- claim committed before it: maxParallelItems holds across connections and
-- flowd processes.
CREATE FUNCTION flow_claim(p_queue bigint, p_owner text, p_agent text, p_lease_s int)
    RETURNS SETOF queue_items LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now timestamptz;
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
    v_now := clock_timestamp(); -- after the locks: when the claim really happens
    UPDATE queue_items
       SET status = 'in_progress', attempt = attempt + 1, started_at = v_now,
           lease_owner = p_owner,
           lease_expires_at = v_now + make_interval(secs => coalesce(p_lease_s, q.lease_seconds))
     WHERE id = it.id
    RETURNING * INTO it;
    PERFORM flow_claimed_mark(ARRAY[it]);
    RETURN NEXT it;
END $$;

-- Worker claim: up to p_max ready items for p_owner ("worker:<id>") across
-- every active queue (or only p_queue), highest priority first, then
-- oldest, each with its queue's lease. p_agents NULL: the agents the worker
-- registered; only items for one of them or for no agent are handed out.
-- The candidate queues are locked in id order (serialising claimers of a
-- queue as flow_claim does), then one statement counts each queue's items
-- in progress under that lock and claims at most its free slots.
-- Raises no_data_found when the worker or p_queue does not exist.
CREATE FUNCTION flow_claim_worker(p_worker bigint, p_owner text, p_agents text[], p_max int,
                                  p_queue bigint)
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
           AND EXISTS (SELECT 1 FROM queue_items i
                        WHERE i.queue_id = q.id AND i.status = 'queued'
                          AND i.run_after <= now()
                          AND (i.agent_id IS NULL OR i.agent_id = ANY (v_agents)))
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
               AND (i.agent_id IS NULL OR i.agent_id = ANY (v_agents))
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
    PERFORM flow_claimed_mark(v_items);
    RETURN QUERY SELECT * FROM unnest(v_items);
END $$;

-- ---- outcomes ----

-- Why a compare-and-set on in-progress item p_item matched nothing, as a
-- SQLSTATE and a message. p_owner / p_attempt NULL: not compared.
CREATE FUNCTION flow_not_running_reason(p_item bigint, p_owner text, p_attempt int,
                                        OUT state text, OUT message text)
    LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
BEGIN
    SELECT * INTO it FROM queue_items WHERE id = p_item;
    IF NOT FOUND THEN
        state := 'P0002';
        message := format('queue item %s not found', p_item);
    ELSIF it.status <> 'in_progress' THEN
        state := '55000';
        message := format('queue item %s is %s, not in progress', p_item, it.status);
    ELSE
        state := '55000';
        message := format('queue item %s is now leased to %s (attempt %s), not to %s (attempt %s)',
                          p_item, it.lease_owner, it.attempt, coalesce(p_owner, 'anyone'),
                          coalesce(p_attempt::text, 'any'));
    END IF;
END $$;

CREATE OR REPLACE FUNCTION flow_raise_not_running(p_item bigint, p_owner text, p_attempt int)
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    v := flow_not_running_reason(p_item, p_owner, p_attempt);
    RAISE EXCEPTION USING MESSAGE = v.message, ERRCODE = v.state;
END $$;

-- The one place an in-progress item finishes: compare-and-set on status
-- in_progress, and on lease owner and attempt when given (NULL: not
-- compared). Success: completed; the task of a task item completes (the
-- 0001 triggers close the ticket after its last task), a ticket item closes
-- its ticket. Failure: p_retryable and attempts left: queued again after
-- flow_backoff; p_retryable and none left: dead; else failed; the task of a
-- task item goes back to pending (nobody works on it any more). Returns the
-- new row, or NULL when the compare-and-set matched nothing (then nothing
-- changed).
CREATE FUNCTION flow_item_finish(p_item bigint, p_owner text, p_attempt int,
                                 p_success boolean, p_notes text, p_metadata jsonb,
                                 p_error text, p_retryable boolean, p_base_ms int, p_max_ms int)
    RETURNS queue_items LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
    retry boolean;
BEGIN
    UPDATE queue_items i
       SET status = CASE WHEN p_success THEN 'completed'
                         WHEN NOT p_retryable THEN 'failed'
                         WHEN i.attempt < i.max_attempts THEN 'queued'
                         ELSE 'dead' END,
           completed_at = CASE WHEN p_success OR NOT p_retryable
                                    OR i.attempt >= i.max_attempts THEN now() END,
           run_after = CASE WHEN NOT p_success AND p_retryable AND i.attempt < i.max_attempts
                            THEN now() + flow_backoff(i.attempt, p_base_ms, p_max_ms)
                            ELSE i.run_after END,
           completion_notes = CASE WHEN p_success THEN p_notes ELSE i.completion_notes END,
           metadata = CASE WHEN p_success THEN p_metadata ELSE i.metadata END,
           error = CASE WHEN p_success THEN i.error ELSE p_error END,
           lease_owner = NULL, lease_expires_at = NULL
     WHERE i.id = p_item AND i.status = 'in_progress'
       AND (p_owner IS NULL OR i.lease_owner = p_owner)
       AND (p_attempt IS NULL OR i.attempt = p_attempt)
    RETURNING * INTO it;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF it.status = 'completed' AND it.task_id IS NOT NULL THEN
        UPDATE tasks SET status = 'completed',
                         completion_notes = coalesce(p_notes, completion_notes)
         WHERE id = it.task_id;
    ELSIF it.status = 'completed' THEN
        UPDATE tickets SET status = 'closed' WHERE id = it.ticket_id AND status <> 'closed';
    ELSIF it.task_id IS NOT NULL THEN
        UPDATE tasks SET status = 'pending' WHERE id = it.task_id AND status = 'in_progress';
    END IF;
    RETURN it;
END $$;

-- CompleteItem / WorkerService.Complete: flow_item_finish with success;
-- raises when the compare-and-set fails.
CREATE OR REPLACE FUNCTION flow_complete(p_item bigint, p_notes text, p_metadata jsonb,
                                         p_owner text DEFAULT NULL, p_attempt int DEFAULT NULL)
    RETURNS SETOF queue_items LANGUAGE plpgsql AS $$
DECLARE
    it queue_items;
BEGIN
    it := flow_item_finish(p_item, p_owner, p_attempt, true, p_notes, p_metadata,
                           NULL, false, 0, 0);
    IF it.id IS NULL THEN
        PERFORM flow_raise_not_running(p_item, p_owner, p_attempt);
    END IF;
    RETURN NEXT it;
END $$;

DROP FUNCTION flow_fail(bigint, text, text, int);

-- FailItem / WorkerService.Fail: flow_item_finish with failure; raises when
-- the compare-and-set fails.
CREATE FUNCTION flow_fail(p_item bigint, p_error text, p_retryable boolean, p_base_ms int,
                          p_max_ms int, p_owner text DEFAULT NULL, p_attempt int DEFAULT NULL)
    RETURNS SETOF queue_items LANGUAGE plpgsql AS $$
DECLARE
    it queue_items;
BEGIN
    it := flow_item_finish(p_item, p_owner, p_attempt, false, NULL, NULL,
                           p_error, p_retryable, p_base_ms, p_max_ms);
    IF it.id IS NULL THEN
        PERFORM flow_raise_not_running(p_item, p_owner, p_attempt);
    END IF;
    RETURN NEXT it;
END $$;

-- WorkerService.Report: many outcomes of p_owner in one transaction, in
-- queue item id order. Arrays are parallel, one entry per outcome;
-- p_metadata holds JSON text. One row per outcome: its position in the
-- arrays (1-based), the SQLSTATE when its compare-and-set failed (NULL:
-- applied), a message, and the item's status afterwards. A failed outcome
-- changes nothing and does not undo the others.
CREATE FUNCTION flow_report(p_owner text, p_ids bigint[], p_attempts int[],
                            p_success boolean[], p_notes text[], p_metadata text[],
                            p_errors text[], p_retryable boolean[], p_base_ms int,
                            p_max_ms int)
    RETURNS TABLE (pos int, state text, message text, status text)
    LANGUAGE plpgsql AS $$
DECLARE
    k int;
    it queue_items;
    why record;
BEGIN
    FOR k IN SELECT x.n FROM unnest(p_ids) WITH ORDINALITY AS x(id, n) ORDER BY x.id, x.n LOOP
        it := flow_item_finish(p_ids[k], p_owner, p_attempts[k], p_success[k], p_notes[k],
                               p_metadata[k]::jsonb, p_errors[k], p_retryable[k],
                               p_base_ms, p_max_ms);
        pos := k;
        IF it.id IS NULL THEN
            why := flow_not_running_reason(p_ids[k], p_owner, p_attempts[k]);
            state := why.state;
            message := why.message;
            status := (SELECT i.status FROM queue_items i WHERE i.id = p_ids[k]);
        ELSE
            state := NULL;
            message := NULL;
            status := it.status;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

-- ---- re-drive and cancel ----

-- Checks that failed/dead item it can be queued again: its ticket is not
-- closed, its task neither completed nor cancelled, and the ticket (ticket
-- item) or task (task item) is not active on a queue.
CREATE FUNCTION flow_retry_check(it queue_items) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM tickets WHERE id = it.ticket_id;
    IF v_status = 'closed' THEN
        RAISE EXCEPTION 'queue item %: ticket % is closed; reopen it before retrying', it.id,
            it.ticket_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT status INTO v_status FROM tasks WHERE id = it.task_id;
    IF v_status IN ('completed', 'cancelled') THEN
        RAISE EXCEPTION 'queue item %: task % is %; only pending or in-progress tasks can be retried',
            it.id, it.task_id, v_status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT 1 FROM queue_items a
                WHERE a.status IN ('queued', 'in_progress')
                  AND ((it.task_id IS NULL AND a.task_id IS NULL AND a.ticket_id = it.ticket_id)
                       OR a.task_id = it.task_id)) THEN
        PERFORM flow_raise_active(it.ticket_id, it.task_id);
    END IF;
END $$;

-- RetryItems by ids: every listed item must exist and be failed or dead
-- (else nothing changes); all go back to queued, ready now, with attempts
-- counted afresh and error, notes and times cleared. One UPDATE statement.
CREATE FUNCTION flow_retry_items(p_ids bigint[]) RETURNS SETOF queue_items
    LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
    v_id bigint;
BEGIN
    PERFORM 1 FROM queue_items WHERE id = ANY (p_ids) ORDER BY id FOR UPDATE;
    FOREACH v_id IN ARRAY (SELECT array_agg(x ORDER BY x) FROM unnest(p_ids) x) LOOP
        SELECT * INTO it FROM queue_items WHERE id = v_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'queue item % not found', v_id USING ERRCODE = 'no_data_found';
        END IF;
        IF it.status NOT IN ('failed', 'dead') THEN
            RAISE EXCEPTION 'queue item % is %; only failed or dead items can be retried',
                v_id, it.status USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        PERFORM flow_retry_check(it);
    END LOOP;
    SELECT a.* INTO it FROM queue_items a JOIN queue_items b
        ON b.id = ANY (p_ids) AND b.id < a.id
       AND ((a.task_id IS NULL AND b.task_id IS NULL AND a.ticket_id = b.ticket_id)
            OR a.task_id = b.task_id)
     WHERE a.id = ANY (p_ids) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'queue item % is for the same % as another listed item; retry one of them',
            it.id, CASE WHEN it.task_id IS NULL THEN 'ticket' ELSE 'task' END
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN QUERY
    UPDATE queue_items
       SET status = 'queued', attempt = 0, error = NULL, run_after = now(),
           started_at = NULL, completed_at = NULL, completion_notes = NULL, metadata = NULL
     WHERE id = ANY (p_ids)
    RETURNING *;
END $$;

-- RetryItems by queue: every failed or dead item of p_queue that can be
-- queued again (see flow_retry_check; of several for one ticket or task,
-- the newest); the others stay as they are. One UPDATE statement.
CREATE FUNCTION flow_retry_queue(p_queue bigint) RETURNS SETOF queue_items
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM flow_enqueue_queue(p_queue);
    RETURN QUERY
    WITH c AS (
        SELECT i.id, row_number() OVER (PARTITION BY i.task_id IS NULL,
                                                    coalesce(i.task_id, i.ticket_id)
                                        ORDER BY i.id DESC) AS rn
          FROM queue_items i
          JOIN tickets t ON t.id = i.ticket_id
          LEFT JOIN tasks k ON k.id = i.task_id
         WHERE i.queue_id = p_queue AND i.status IN ('failed', 'dead')
           AND t.status <> 'closed'
           AND (k.id IS NULL OR k.status NOT IN ('completed', 'cancelled'))
           AND NOT EXISTS (
               SELECT 1 FROM queue_items a
                WHERE a.status IN ('queued', 'in_progress')
                  AND ((i.task_id IS NULL AND a.task_id IS NULL AND a.ticket_id = i.ticket_id)
                       OR a.task_id = i.task_id)))
    UPDATE queue_items u
       SET status = 'queued', attempt = 0, error = NULL, run_after = now(),
           started_at = NULL, completed_at = NULL, completion_notes = NULL, metadata = NULL
      FROM c WHERE u.id = c.id AND c.rn = 1 AND u.status IN ('failed', 'dead')
    RETURNING u.*;
END $$;

-- CancelItems: every listed item must exist and be queued or in progress
-- (else nothing changes); all become cancelled with their lease cleared.
-- The task of a cancelled task item goes back from in_progress to pending.
-- A worker still running one learns it from its next heartbeat; its late
-- outcome is rejected (the item is no longer in progress).
CREATE FUNCTION flow_cancel_items(p_ids bigint[]) RETURNS SETOF queue_items
    LANGUAGE plpgsql AS $$
DECLARE
    it queue_items%ROWTYPE;
    v_id bigint;
BEGIN
    PERFORM 1 FROM queue_items WHERE id = ANY (p_ids) ORDER BY id FOR UPDATE;
    FOREACH v_id IN ARRAY (SELECT array_agg(x ORDER BY x) FROM unnest(p_ids) x) LOOP
        SELECT * INTO it FROM queue_items WHERE id = v_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'queue item % not found', v_id USING ERRCODE = 'no_data_found';
        END IF;
        IF it.status NOT IN ('queued', 'in_progress') THEN
            RAISE EXCEPTION 'queue item % is %; only queued or in-progress items can be cancelled',
                v_id, it.status USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END LOOP;
    RETURN QUERY
    WITH u AS (
        UPDATE queue_items
           SET status = 'cancelled', completed_at = now(), lease_owner = NULL,
               lease_expires_at = NULL
         WHERE id = ANY (p_ids)
        RETURNING *),
    k AS (
        UPDATE tasks SET status = 'pending'
         WHERE id IN (SELECT u.task_id FROM u) AND status = 'in_progress')
    SELECT * FROM u ORDER BY u.id;
END $$;

-- ---- upkeep (the rescuer thread; safe with several flowd) ----

-- Returns up to p_limit in-progress items whose lease has expired to queued
-- (attempt counted, after flow_backoff) or, after their last attempt, to
-- dead; error says whose lease expired. Their tasks go back to pending.
-- Rows locked by a concurrent outcome are skipped (it decides).
CREATE FUNCTION flow_rescue(p_limit int, p_base_ms int, p_max_ms int,
                            OUT requeued bigint, OUT dead bigint)
    LANGUAGE plpgsql AS $$
BEGIN
    WITH x AS (
        SELECT i.id FROM queue_items i
         WHERE i.status = 'in_progress' AND i.lease_expires_at < now()
         ORDER BY i.lease_expires_at
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED),
    u AS (
        UPDATE queue_items i
           SET status = CASE WHEN i.attempt < i.max_attempts THEN 'queued' ELSE 'dead' END,
               run_after = CASE WHEN i.attempt < i.max_attempts
                                THEN now() + flow_backoff(i.attempt, p_base_ms, p_max_ms)
                                ELSE i.run_after END,
               completed_at = CASE WHEN i.attempt < i.max_attempts THEN NULL ELSE now() END,
               error = format('lease expired (held by %s, attempt %s)', i.lease_owner,
                              i.attempt),
               lease_owner = NULL, lease_expires_at = NULL
          FROM x WHERE i.id = x.id
        RETURNING i.id, i.task_id, i.status),
    k AS (
        UPDATE tasks SET status = 'pending'
         WHERE id IN (SELECT u.task_id FROM u) AND status = 'in_progress')
    SELECT count(*) FILTER (WHERE u.status = 'queued'), count(*) FILTER (WHERE u.status = 'dead')
      INTO requeued, dead FROM u;
END $$;

-- Deletes up to p_limit finished items (completed, failed, cancelled, dead)
-- that finished more than p_retention_s seconds ago, adding them to
-- queue_item_counters in the same statement, so statistics do not change.
-- Returns how many were deleted.
CREATE FUNCTION flow_prune(p_retention_s int, p_limit int) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    WITH x AS (
        SELECT i.id FROM queue_items i
         WHERE i.status IN ('completed', 'failed', 'cancelled', 'dead')
           AND i.completed_at < now() - make_interval(secs => p_retention_s)
         ORDER BY i.completed_at
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED),
    d AS (
        DELETE FROM queue_items i USING x WHERE i.id = x.id
        RETURNING i.queue_id, i.status,
                  extract(epoch FROM i.completed_at - i.started_at) * 1000 AS ms),
    g AS (
        SELECT d.queue_id,
               count(*) FILTER (WHERE d.status = 'completed') AS completed,
               count(*) FILTER (WHERE d.status = 'failed') AS failed,
               count(*) FILTER (WHERE d.status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE d.status = 'dead') AS dead,
               coalesce(sum(d.ms) FILTER (WHERE d.status = 'completed'), 0) AS ms_sum,
               count(d.ms) FILTER (WHERE d.status = 'completed') AS ms_count,
               count(*) AS n
          FROM d GROUP BY d.queue_id),
    c AS (
        INSERT INTO queue_item_counters AS c (queue_id, completed, failed, cancelled, dead,
                                              processing_ms_sum, processing_count)
        SELECT g.queue_id, g.completed, g.failed, g.cancelled, g.dead, g.ms_sum, g.ms_count
          FROM g
        ON CONFLICT (queue_id) DO UPDATE
           SET completed = c.completed + EXCLUDED.completed,
               failed = c.failed + EXCLUDED.failed,
               cancelled = c.cancelled + EXCLUDED.cancelled,
               dead = c.dead + EXCLUDED.dead,
               processing_ms_sum = c.processing_ms_sum + EXCLUDED.processing_ms_sum,
               processing_count = c.processing_count + EXCLUDED.processing_count)
    SELECT coalesce(sum(g.n), 0) INTO n FROM g;
    RETURN n;
END $$;
