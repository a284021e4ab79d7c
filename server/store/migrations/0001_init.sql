-- flowd schema, version 1: projects, tickets, tasks, queues, queue items.
-- Queue state lives only in queue_items. Timestamps are timestamptz; the API
-- reports them as epoch milliseconds.

CREATE FUNCTION flow_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (extract(epoch FROM t) * 1000)::bigint $$;

CREATE FUNCTION flow_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE projects (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    path        text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER projects_touch BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION flow_touch();

CREATE TABLE tickets (
    id                  bigserial PRIMARY KEY,
    project_id          bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    overview            text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'in_progress', 'closed')),
    priority            int NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10),
    tags                text[] NOT NULL DEFAULT '{}',
    suggested_file_ids  text[] NOT NULL DEFAULT '{}',
    suggested_agent_ids text[] NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_project ON tickets (project_id, status);
CREATE TRIGGER tickets_touch BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION flow_touch();

CREATE TABLE tasks (
    id                 bigserial PRIMARY KEY,
    ticket_id          bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    content            text NOT NULL CHECK (length(content) BETWEEN 1 AND 2000),
    description        text NOT NULL DEFAULT '',
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled')),
    done               boolean NOT NULL DEFAULT false,
    order_index        int NOT NULL DEFAULT 0,
    estimated_hours    double precision CHECK (estimated_hours >= 0),
    tags               text[] NOT NULL DEFAULT '{}',
    agent_id           text,
    dependencies       bigint[] NOT NULL DEFAULT '{}',
    suggested_file_ids text[] NOT NULL DEFAULT '{}',
    completion_notes   text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (done = (status = 'completed'))
);
CREATE INDEX tasks_ticket ON tasks (ticket_id, order_index, id);

-- status and done always agree: a status change sets done; a change of done
-- alone sets the status.
CREATE FUNCTION flow_task_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.done := (NEW.status = 'completed');
    ELSIF NEW.done IS DISTINCT FROM OLD.done THEN
        NEW.status := CASE WHEN NEW.done THEN 'completed' ELSE 'pending' END;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_sync BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION flow_task_sync();

-- A ticket follows its tasks: it closes when no task is left pending or in
-- progress and at least one is completed (cancelled tasks do not hold it
-- open), and a closed ticket reopens (in_progress) when it gains an open
-- task. Runs on every task insert, delete and status change.
CREATE FUNCTION flow_ticket_follow_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tid bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.ticket_id ELSE NEW.ticket_id END;
BEGIN
    UPDATE tickets t
       SET status = CASE WHEN s.open_tasks = 0 THEN 'closed' ELSE 'in_progress' END
      FROM (SELECT count(*) FILTER (WHERE k.status IN ('pending', 'in_progress')) AS open_tasks,
                   count(*) FILTER (WHERE k.status = 'completed') AS done_tasks
              FROM tasks k WHERE k.ticket_id = tid) s
     WHERE t.id = tid
       AND ((s.open_tasks = 0 AND s.done_tasks > 0 AND t.status <> 'closed')
         OR (s.open_tasks > 0 AND t.status = 'closed'));
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_follow_update AFTER UPDATE OF status ON tasks
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION flow_ticket_follow_tasks();
CREATE TRIGGER tasks_follow_insert_delete AFTER INSERT OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION flow_ticket_follow_tasks();

CREATE TABLE queues (
    id                 bigserial PRIMARY KEY,
    project_id         bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description        text NOT NULL DEFAULT '',
    max_parallel_items int NOT NULL DEFAULT 1 CHECK (max_parallel_items BETWEEN 1 AND 10000),
    is_active          boolean NOT NULL DEFAULT true,
    lease_seconds      int NOT NULL DEFAULT 30 CHECK (lease_seconds BETWEEN 1 AND 86400),
    max_attempts       int NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);
CREATE TRIGGER queues_touch BEFORE UPDATE ON queues
    FOR EACH ROW EXECUTE FUNCTION flow_touch();

-- One row per enqueued ticket or task. A task item carries its ticket too.
-- Priority: higher is more urgent. Claim order: priority DESC, id ASC.
CREATE TABLE queue_items (
    id               bigserial PRIMARY KEY,
    queue_id         bigint NOT NULL REFERENCES queues ON DELETE CASCADE,
    ticket_id        bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    task_id          bigint REFERENCES tasks ON DELETE CASCADE,
    priority         int NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'in_progress', 'completed', 'failed',
                                       'cancelled', 'dead')),
    attempt          int NOT NULL DEFAULT 0,
    max_attempts     int NOT NULL DEFAULT 3,
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    agent_id         text,
    error            text,
    completion_notes text,
    metadata         jsonb,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    CHECK ((status = 'in_progress') = (lease_owner IS NOT NULL))
);
-- Ready rows only: what a claim scans.
CREATE INDEX queue_items_ready ON queue_items (queue_id, priority DESC, id)
    WHERE status = 'queued';
CREATE INDEX queue_items_queue_status ON queue_items (queue_id, status);
-- A ticket or a task is active on a queue at most once.
CREATE UNIQUE INDEX queue_items_active_ticket ON queue_items (ticket_id)
    WHERE task_id IS NULL AND status IN ('queued', 'in_progress');
CREATE UNIQUE INDEX queue_items_active_task ON queue_items (task_id)
    WHERE task_id IS NOT NULL AND status IN ('queued', 'in_progress');
