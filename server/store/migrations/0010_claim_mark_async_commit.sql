-- flowd schema, version 10: the transaction that marks claimed items' tasks
-- and tickets in progress (0009) commits without waiting for its WAL flush
-- (synchronous_commit off, for that transaction only). What it writes is
-- derived state that is allowed to be lost: if the server crashes before
-- the flush, the tasks stay pending, exactly as when flowd stops between
-- the claim and the marking, and the items' leases restore the rest. The
-- claim itself, completions and every other change stay durable, and a
-- later durable commit flushes this one with it.
CREATE OR REPLACE FUNCTION flow_claimed_mark_running(p_owner text, p_ids bigint[]) RETURNS void
    LANGUAGE plpgsql AS $$
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
