-- A ticket follows its tasks (flow_ticket_follow_tasks, 0001): the count of
-- its open tasks now runs after locking the ticket row. Before, two
-- transactions completing a ticket's last two tasks at once (two workers)
-- each counted the other's task as still open under its own snapshot, and the
-- ticket stayed in_progress with every task completed. The lock serialises
-- them; the count, a new statement, sees the other's committed change.
-- Lock order stays task, then ticket, as everywhere else.
CREATE OR REPLACE FUNCTION flow_ticket_follow_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tid bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.ticket_id ELSE NEW.ticket_id END;
BEGIN
    PERFORM 1 FROM tickets WHERE id = tid FOR NO KEY UPDATE;
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
