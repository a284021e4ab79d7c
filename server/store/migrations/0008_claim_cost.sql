-- flowd schema, version 8: the claim path costs less per call.
-- docs/performance.md measures each change; semantics are unchanged
-- (docs/queue-semantics.md).

-- ---- plans made once per session ----

-- PL/pgSQL plans each statement of a function with the call's arguments as
-- constants (a custom plan) until PostgreSQL judges a generic plan no
-- costlier; for the claim it never did, so every Claim planned its
-- statements afresh: about 0.45 ms of a 1-item claim's 0.9 ms. The
-- statements of these functions look rows up by key, by the ready index in
-- priority order, or by the ids they are given: their plan does not depend
-- on the arguments' values, and a generic plan, made once per connection,
-- is the same plan without the planning.
ALTER FUNCTION flow_claimed_mark_running(text, bigint[])
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION flow_report(text, bigint[], int[], boolean[], text[], text[], text[], boolean[],
                           int, int)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION flow_enqueue_task(bigint, bigint, int, timestamptz, int)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION flow_enqueue_ticket(bigint, bigint, int, boolean, timestamptz, int)
    SET plan_cache_mode = force_generic_plan;

-- ---- the claim ----

-- As in 0007, with a generic plan, and
--  - the worker's last_seen_at written only when it is more than a second
--    old: a worker that claims often (a drain, a long poll woken every few
--    ms) no longer writes its row, and the two index entries of its new
--    version, on every Claim. Liveness is judged over many seconds
--    (ListWorkers' connected, the rescuer forgetting quiet workers), so a
--    second's lag changes nothing there;
--  - the ids it claimed left in the session setting flow.claimed ('{}' for
--    none), where flowd's next statement, sent in the same round trip and
--    run once the claim has committed (its queue row locks released),
--    reads them to return the items' tickets, tasks and projects.
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
