-- flow-bench --setup-sql experiment: no JIT compilation inside the claim function
-- (PostgreSQL's jit_above_cost is passed once queue_items is large). Not a migration.
ALTER FUNCTION flow_claim_worker(bigint, text, text[], int, bigint) SET jit = off;
