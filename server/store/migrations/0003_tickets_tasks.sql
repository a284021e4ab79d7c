-- flowd schema, version 3: atomic task operations (store/tasks.c calls them).
--
-- Errors are raised with SQLSTATEs that flowd maps to API codes:
-- P0002 (no_data_found) -> NOT_FOUND, 22023 (invalid_parameter_value) ->
-- INVALID_ARGUMENT; the message goes to the client as it is.
--
-- Locks, always in this order: the task being changed, then its ticket
-- (the same order as a plain status update whose trigger closes the
-- ticket), then KEY SHARE on dependency tasks, which a concurrent delete of
-- such a task waits for.

-- Checks the dependencies p_deps of task p_task (NULL: a new task) of
-- ticket p_ticket: every id is an existing task of the same ticket, not the
-- task itself, and none of them depends on p_task, directly or not (a cycle).
CREATE FUNCTION flow_task_check_deps(p_task bigint, p_ticket bigint, p_deps bigint[])
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_dep    bigint;
    v_ticket bigint;
BEGIN
    FOREACH v_dep IN ARRAY coalesce(p_deps, '{}') LOOP
        IF v_dep = p_task THEN
            RAISE EXCEPTION 'task % cannot depend on itself', v_dep
                USING ERRCODE = '22023';
        END IF;
        SELECT k.ticket_id INTO v_ticket FROM tasks k WHERE k.id = v_dep FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'dependency task % not found', v_dep USING ERRCODE = 'P0002';
        END IF;
        IF v_ticket <> p_ticket THEN
            RAISE EXCEPTION 'dependency task % belongs to ticket %, not to ticket %',
                v_dep, v_ticket, p_ticket USING ERRCODE = '22023';
        END IF;
        IF p_task IS NOT NULL AND EXISTS (
            WITH RECURSIVE reach(id) AS (
                SELECT v_dep
                UNION
                SELECT d FROM tasks k JOIN reach ON k.id = reach.id,
                              unnest(k.dependencies) AS d)
            SELECT 1 FROM reach WHERE reach.id = p_task)
        THEN
            RAISE EXCEPTION 'task % cannot depend on task %: task % already depends on task %',
                p_task, v_dep, v_dep, p_task USING ERRCODE = '22023';
        END IF;
    END LOOP;
END $$;

-- Creates a task at the end of its ticket (p_order NULL) or at p_order.
-- Locking the ticket makes max(order_index) + 1 and the dependency checks
-- safe against concurrent creations.
CREATE FUNCTION flow_task_create(p_ticket bigint, p_content text, p_description text,
                                 p_status text, p_order int, p_hours double precision,
                                 p_tags text[], p_agent text, p_deps bigint[],
                                 p_files text[])
    RETURNS tasks LANGUAGE plpgsql AS $$
DECLARE
    v_task tasks;
BEGIN
    PERFORM 1 FROM tickets WHERE id = p_ticket FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ticket % not found', p_ticket USING ERRCODE = 'P0002';
    END IF;
    PERFORM flow_task_check_deps(NULL, p_ticket, p_deps);
    INSERT INTO tasks (ticket_id, content, description, status, order_index,
                       estimated_hours, tags, agent_id, dependencies, suggested_file_ids)
    VALUES (p_ticket, p_content, coalesce(p_description, ''), coalesce(p_status, 'pending'),
            coalesce(p_order, (SELECT coalesce(max(k.order_index) + 1, 0)
                                 FROM tasks k WHERE k.ticket_id = p_ticket)),
            p_hours, coalesce(p_tags, '{}'), nullif(p_agent, ''), coalesce(p_deps, '{}'),
            coalesce(p_files, '{}'))
    RETURNING * INTO v_task;
    RETURN v_task;
END $$;

-- Changes the given (non-NULL) fields of a task. An empty agent id or
-- completion note clears it. The tasks_sync trigger keeps done and status
-- in agreement; the returned row is the stored one.
CREATE FUNCTION flow_task_update(p_id bigint, p_content text, p_description text,
                                 p_status text, p_done boolean, p_hours double precision,
                                 p_tags text[], p_agent text, p_deps bigint[],
                                 p_files text[], p_notes text, p_order int)
    RETURNS tasks LANGUAGE plpgsql AS $$
DECLARE
    v_ticket bigint;
    v_task   tasks;
BEGIN
    SELECT k.ticket_id INTO v_ticket FROM tasks k WHERE k.id = p_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % not found', p_id USING ERRCODE = 'P0002';
    END IF;
    IF p_deps IS NOT NULL THEN
        PERFORM 1 FROM tickets WHERE id = v_ticket FOR NO KEY UPDATE;
        PERFORM flow_task_check_deps(p_id, v_ticket, p_deps);
    END IF;
    UPDATE tasks k SET
        content            = coalesce(p_content, k.content),
        description        = coalesce(p_description, k.description),
        status             = coalesce(p_status, k.status),
        done               = coalesce(p_done, k.done),
        estimated_hours    = coalesce(p_hours, k.estimated_hours),
        tags               = coalesce(p_tags, k.tags),
        agent_id           = CASE WHEN p_agent IS NULL THEN k.agent_id
                                  ELSE nullif(p_agent, '') END,
        dependencies       = coalesce(p_deps, k.dependencies),
        suggested_file_ids = coalesce(p_files, k.suggested_file_ids),
        completion_notes   = CASE WHEN p_notes IS NULL THEN k.completion_notes
                                  ELSE nullif(p_notes, '') END,
        order_index        = coalesce(p_order, k.order_index)
     WHERE k.id = p_id
    RETURNING * INTO v_task;
    RETURN v_task;
END $$;

-- Deletes a task and removes it from the dependencies of its ticket's
-- other tasks (a later statement, so it sees dependencies committed while
-- the delete waited for its row).
CREATE FUNCTION flow_task_delete(p_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_ticket bigint;
BEGIN
    DELETE FROM tasks WHERE id = p_id RETURNING ticket_id INTO v_ticket;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % not found', p_id USING ERRCODE = 'P0002';
    END IF;
    UPDATE tasks k SET dependencies = array_remove(k.dependencies, p_id)
     WHERE k.ticket_id = v_ticket AND p_id = ANY (k.dependencies);
    RETURN p_id;
END $$;

-- Sets order_index of the listed tasks of ticket p_ticket and returns all
-- its tasks in their new order. Every listed task must belong to the ticket,
-- else nothing changes.
CREATE FUNCTION flow_task_reorder(p_ticket bigint, p_ids bigint[], p_orders int[])
    RETURNS SETOF tasks LANGUAGE plpgsql AS $$
DECLARE
    v_bad bigint;
BEGIN
    PERFORM 1 FROM tickets WHERE id = p_ticket;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ticket % not found', p_ticket USING ERRCODE = 'P0002';
    END IF;
    SELECT x.id INTO v_bad
      FROM unnest(p_ids) WITH ORDINALITY AS x(id, n)
      LEFT JOIN tasks k ON k.id = x.id AND k.ticket_id = p_ticket
     WHERE k.id IS NULL ORDER BY x.n LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'task % is not a task of ticket %', v_bad, p_ticket
            USING ERRCODE = '22023';
    END IF;
    UPDATE tasks k SET order_index = x.ord
      FROM unnest(p_ids, p_orders) AS x(id, ord)
     WHERE k.id = x.id AND k.ticket_id = p_ticket;
    RETURN QUERY SELECT * FROM tasks k WHERE k.ticket_id = p_ticket
                  ORDER BY k.order_index, k.id;
END $$;
