-- flow-bench --setup-sql experiment: flow_ms() declared STABLE, so PostgreSQL inlines
-- it (declared IMMUTABLE over a STABLE expression it never is). Not a migration.
CREATE OR REPLACE FUNCTION flow_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT (extract(epoch FROM t) * 1000)::bigint $$;
