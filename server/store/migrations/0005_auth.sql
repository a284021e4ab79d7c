-- Authentication and authorization: users and service accounts, API keys,
-- refresh tokens, revoked access tokens, project membership, audit log.
-- Secrets are never stored: passwords as Argon2id PHC strings, API keys and
-- refresh tokens as SHA-256 digests of 256-bit random values.

CREATE TABLE users (
    id                 bigserial PRIMARY KEY,
    username           text NOT NULL UNIQUE
                       CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    kind               text NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'service')),
    role               text NOT NULL CHECK (role IN ('admin', 'member', 'worker')),
    password_hash      text,
    disabled           boolean NOT NULL DEFAULT false,
    failed_logins      int NOT NULL DEFAULT 0,
    lockouts           int NOT NULL DEFAULT 0,
    locked_until       timestamptz,
    -- Access tokens issued before this are rejected (revoke all tokens).
    tokens_valid_after timestamptz NOT NULL DEFAULT '-infinity',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'user' AND role IN ('admin', 'member') AND password_hash IS NOT NULL)
        OR (kind = 'service' AND role IN ('worker', 'member') AND password_hash IS NULL))
);
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION flow_touch();

CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    prefix       text NOT NULL UNIQUE,
    key_hash     bytea NOT NULL CHECK (length(key_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- One row per refresh token. Tokens of one login share a family; a token
-- is used once (used_at), and using a used or revoked one revokes the family.
CREATE TABLE refresh_tokens (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    family      bigint NOT NULL,
    token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
    access_jti  text NOT NULL,
    access_exp  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE SEQUENCE refresh_token_families;

-- Access tokens revoked before they expire; rows go once expires_at passes.
CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    user_id    bigint REFERENCES users ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE project_members (
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role       text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);

-- The principal (service account) that registered a worker: only it (or an
-- admin) may act as that worker.
ALTER TABLE workers ADD COLUMN principal_id bigint REFERENCES users ON DELETE CASCADE;

CREATE TABLE audit_events (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor_id bigint,
    actor    text NOT NULL DEFAULT '-',
    action   text NOT NULL,
    target   text NOT NULL DEFAULT '',
    peer     text NOT NULL DEFAULT '',
    outcome  text NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail   text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);

-- The project an object belongs to: kind is project, ticket, task, queue or
-- item. NULL when the object does not exist.
CREATE FUNCTION flow_project_of(p_kind text, p_id bigint) RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT CASE p_kind
        WHEN 'project' THEN (SELECT id FROM projects WHERE id = p_id)
        WHEN 'ticket' THEN (SELECT project_id FROM tickets WHERE id = p_id)
        WHEN 'task' THEN (SELECT k.project_id FROM tasks t JOIN tickets k ON k.id = t.ticket_id
                           WHERE t.id = p_id)
        WHEN 'queue' THEN (SELECT project_id FROM queues WHERE id = p_id)
        WHEN 'item' THEN (SELECT q.project_id FROM queue_items i JOIN queues q ON q.id = i.queue_id
                           WHERE i.id = p_id)
    END $$;

-- Authorization of a member for a set of objects (parallel arrays of kinds
-- and ids): the index (1-based) of the first object that exists but lies in
-- a project the user is not a member of (with at least p_need, 'member' or
-- 'owner'), or 0 when every existing object is allowed.
CREATE FUNCTION flow_member_denied(p_user bigint, p_kinds text[], p_ids bigint[], p_need text)
    RETURNS int LANGUAGE plpgsql STABLE AS $$
DECLARE
    i int;
    proj bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        proj := flow_project_of(p_kinds[i], p_ids[i]);
        CONTINUE WHEN proj IS NULL;
        IF NOT EXISTS (SELECT 1 FROM project_members m
                        WHERE m.project_id = proj AND m.user_id = p_user
                          AND (p_need = 'member' OR m.role = 'owner')) THEN
            RETURN i;
        END IF;
    END LOOP;
    RETURN 0;
END $$;

-- Usernames are unique regardless of case, so "Admin" cannot pose as "admin".
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));

-- Token revocation (store/users.c). Logins and refreshes issue a token pair
-- in a transaction that holds the user's row FOR SHARE from before the
-- access token is signed until its refresh row is stored; the functions
-- below first lock the user's row FOR NO KEY UPDATE, so they wait for any
-- pair being issued and then see (and revoke) it. Every access token has a
-- refresh row naming its jti, which is how the access tokens of a family, or
-- those a user got in the second of a revocation, are revoked one by one.
-- Access tokens that expired more than 5 minutes ago (the largest JWT
-- leeway, JWT_MAX_LEEWAY) are dead anyway and are not listed.

-- Revokes every refresh token of family p_family and every access token
-- issued with one. Returns how many of its refresh tokens were still usable.
CREATE FUNCTION flow_refresh_revoke_family(p_family bigint) RETURNS int
    LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    PERFORM 1 FROM users u
      WHERE u.id IN (SELECT t.user_id FROM refresh_tokens t WHERE t.family = p_family)
        FOR NO KEY UPDATE;
    INSERT INTO revoked_tokens (jti, user_id, expires_at)
        SELECT t.access_jti, t.user_id, t.access_exp FROM refresh_tokens t
         WHERE t.family = p_family AND t.access_exp > now() - interval '5 minutes'
        ON CONFLICT (jti) DO NOTHING;
    WITH v AS (UPDATE refresh_tokens t SET revoked_at = now()
                WHERE t.family = p_family AND t.revoked_at IS NULL
            RETURNING t.used_at IS NULL AND t.expires_at > now() AS live)
    SELECT count(*) FILTER (WHERE live) INTO n FROM v;
    RETURN n;
END $$;

-- Revokes every token of user p_user: access tokens issued before this
-- second through tokens_valid_after (the guard compares it with the token's
-- iat, whole seconds), those issued during this second by jti, refresh
-- tokens by revoked_at. A login right after still works. Returns how many
-- refresh tokens were still usable, or -1 when there is no such user.
CREATE FUNCTION flow_user_revoke_tokens(p_user bigint) RETURNS int
    LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    UPDATE users u SET tokens_valid_after = greatest(u.tokens_valid_after,
                                                     date_trunc('second', now()))
     WHERE u.id = p_user;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    INSERT INTO revoked_tokens (jti, user_id, expires_at)
        SELECT t.access_jti, t.user_id, t.access_exp FROM refresh_tokens t
         WHERE t.user_id = p_user AND t.access_exp > now() - interval '5 minutes'
        ON CONFLICT (jti) DO NOTHING;
    WITH v AS (UPDATE refresh_tokens t SET revoked_at = now()
                WHERE t.user_id = p_user AND t.revoked_at IS NULL
            RETURNING t.used_at IS NULL AND t.expires_at > now() AS live)
    SELECT count(*) FILTER (WHERE live) INTO n FROM v;
    RETURN n;
END $$;

-- Project membership changes. Each locks the project's row first, so the
-- changes of one project run one at a time and the "last owner" check
-- cannot be raced.

-- For a membership change: locks project p_project (so two changes cannot
-- both remove its last owner) and returns the id of user p_username; raises
-- no_data_found naming the project or the user that does not exist.
CREATE FUNCTION flow_member_target(p_project bigint, p_username text) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
BEGIN
    PERFORM 1 FROM projects p WHERE p.id = p_project FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'project % not found', p_project USING ERRCODE = 'no_data_found';
    END IF;
    SELECT u.id INTO uid FROM users u WHERE u.username = p_username;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_username USING ERRCODE = 'no_data_found';
    END IF;
    RETURN uid;
END $$;

-- Makes user p_username a member of project p_project with role p_role
-- (adding it or changing its role). A project's last owner stays an owner.
CREATE FUNCTION flow_member_set(p_project bigint, p_username text, p_role text)
    RETURNS TABLE (o_user bigint, o_role text, o_added bigint)
    LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    cur text;
BEGIN
    uid := flow_member_target(p_project, p_username);
    SELECT m.role INTO cur FROM project_members m
     WHERE m.project_id = p_project AND m.user_id = uid;
    IF cur = 'owner' AND p_role <> 'owner' AND NOT EXISTS (
            SELECT 1 FROM project_members m
             WHERE m.project_id = p_project AND m.role = 'owner' AND m.user_id <> uid) THEN
        RAISE EXCEPTION 'user % is the last owner of project %; make another member an owner first',
            p_username, p_project USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN QUERY
        INSERT INTO project_members AS m (project_id, user_id, role)
        VALUES (p_project, uid, p_role)
        ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role
        RETURNING m.user_id, m.role, flow_ms(m.added_at);
END $$;

-- Removes user p_username from project p_project: true when it was a
-- member. A project's last owner cannot be removed.
CREATE FUNCTION flow_member_remove(p_project bigint, p_username text) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    uid bigint;
    cur text;
BEGIN
    uid := flow_member_target(p_project, p_username);
    SELECT m.role INTO cur FROM project_members m
     WHERE m.project_id = p_project AND m.user_id = uid;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF cur = 'owner' AND NOT EXISTS (
            SELECT 1 FROM project_members m
             WHERE m.project_id = p_project AND m.role = 'owner' AND m.user_id <> uid) THEN
        RAISE EXCEPTION 'user % is the last owner of project %; make another member an owner first',
            p_username, p_project USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    DELETE FROM project_members m WHERE m.project_id = p_project AND m.user_id = uid;
    RETURN true;
END $$;
