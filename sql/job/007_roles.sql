-- Least privilege in the job database: four group roles (NOLOGIN), each
-- granted what one kind of client needs and nothing more.  Administrators
-- give their login roles membership, such as
-- GRANT herald_worker TO heraldd_login.
--
--   herald_producer  enqueues jobs through herald.enqueue and
--                    herald.enqueue_many, which run as their owner, and
--                    reads no table but herald.migrations.
--   herald_worker    what heraldd needs: claims, finishes and renews jobs,
--                    registers processes, runs the janitor and the relay.
--                    It owns nothing, so it can change no table definition.
--   herald_console   reads every table, payloads and output included, and
--                    acts only through functions that record the action:
--                    dead_retry, dead_purge, set_paused, cancel.
--   herald_viewer    reads what the console shows except payloads and
--                    output tails: column grants leave out payload and
--                    errors, and herald.jobs_redacted and
--                    herald.dead_jobs_redacted show the error history
--                    without output.
--
-- Roles belong to the cluster, not to a database, so a role that exists
-- already (a second job database, or the application database's
-- migration) is left as it is.
--
-- Functions that run as their owner (SECURITY DEFINER) set search_path,
-- so that no object of a caller's schema can stand in for a built-in.
--
-- Later migrations: the default privileges below give herald_worker the
-- use of new tables, sequences and functions and herald_console the
-- reading of new tables.  Every new function needs REVOKE ... FROM
-- PUBLIC; anything for herald_producer and herald_viewer, and every new
-- function that runs as its owner, needs its own grant and revoke.  CREATE OR REPLACE FUNCTION keeps grants but resets SECURITY
-- DEFINER and search_path, so a replaced function of this list must set
-- them again.

DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['herald_producer', 'herald_worker',
        'herald_console', 'herald_viewer']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                -- Another database's migration created it meanwhile.
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- An audit row names the login role.  Inside a function that runs as
-- its owner, current_user is the owner, so session_user it is.
ALTER TABLE herald.audit ALTER COLUMN db_user SET DEFAULT session_user;

-- Lock dead jobs, or jobs, for a retry, purge or cancel that reports the
-- ids it did not find.  SELECT ... FOR UPDATE needs the UPDATE privilege,
-- which herald_console does not have, so it locks through these.
CREATE FUNCTION herald.lock_dead_jobs(p_ids bigint[])
RETURNS TABLE (id bigint)
LANGUAGE sql AS $$
    SELECT d.id FROM herald.dead_jobs d WHERE d.id = ANY (p_ids)
    ORDER BY d.id FOR UPDATE;
$$;

CREATE FUNCTION herald.lock_jobs(p_ids bigint[])
RETURNS TABLE (id bigint, state text)
LANGUAGE sql AS $$
    SELECT j.id, j.state FROM herald.jobs j WHERE j.id = ANY (p_ids)
    ORDER BY j.id FOR UPDATE;
$$;

-- An error history without the output tails: each attempt keeps its
-- number, time, outcome, exit code, signal and duration.
CREATE FUNCTION herald.redact_errors(p_errors jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(e) = 'object'
                                   THEN e - 'output' ELSE e END
                              ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(p_errors) WITH ORDINALITY AS x(e, n);
$$;

-- The dead-job filter of 004, matching on task, queue and reason when
-- the payload is NULL, as in herald.dead_jobs_redacted, instead of
-- matching nothing.
CREATE OR REPLACE FUNCTION herald.dead_match(p_text text, p_task text,
    p_queue text, p_reason text, p_payload jsonb, p_errors jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_text, '') = ''
        OR strpos(lower(p_task || ' ' || p_queue || ' ' || p_reason || ' '
            || coalesce(p_payload::text, '') || ' '
            || coalesce(p_errors->-1->>'output', '')), lower(p_text)) > 0;
$$;

-- The tables of jobs as herald_viewer sees them: the same columns, with
-- payload NULL and the output tails left out of errors.
CREATE VIEW herald.jobs_redacted AS
    SELECT id, task, queue, NULL::jsonb AS payload, priority, run_at,
        attempt, max_attempts, state, lease_owner, lease_token, lease_until,
        attempted_at, created_at, event_id, event_type,
        herald.redact_errors(errors) AS errors
    FROM herald.jobs;

CREATE VIEW herald.dead_jobs_redacted AS
    SELECT id, task, queue, NULL::jsonb AS payload, priority, attempt,
        max_attempts, created_at, died_at, reason, event_id, event_type,
        herald.redact_errors(errors) AS errors
    FROM herald.dead_jobs;

-- Functions run by a role's members on objects they may not touch run as
-- their owner, with a fixed search_path.
DO $$
DECLARE
    v_function regprocedure;
BEGIN
    FOR v_function IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'herald'::regnamespace
          AND p.proname IN ('enqueue', 'enqueue_many', 'dead_retry',
              'dead_purge', 'set_paused', 'cancel', 'record_action',
              'lock_dead_jobs', 'lock_jobs')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER'
            ' SET search_path = pg_catalog, herald, pg_temp', v_function);
    END LOOP;
END
$$;

-- Nobody but the roles below uses the schema.  PostgreSQL grants EXECUTE
-- on every new function to PUBLIC, so that goes first.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA herald FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA herald FROM PUBLIC;
GRANT USAGE ON SCHEMA herald TO herald_producer, herald_worker,
    herald_console, herald_viewer;
GRANT SELECT ON herald.migrations TO herald_producer, herald_worker,
    herald_console, herald_viewer;

-- herald_producer: enqueue, nothing else.
GRANT EXECUTE ON FUNCTION
    herald.enqueue(text, text, jsonb, integer, timestamptz, integer, text,
        text),
    herald.enqueue_many(jsonb)
    TO herald_producer;

-- herald_worker: the rows heraldd writes, and every function except the
-- console's actions.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA herald
    TO herald_worker;
REVOKE INSERT, UPDATE, DELETE ON herald.migrations, herald.audit,
    herald.queues FROM herald_worker;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA herald TO herald_worker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA herald TO herald_worker;
REVOKE EXECUTE ON FUNCTION
    herald.dead_retry(bigint[], text, text),
    herald.dead_purge(bigint[], text, text),
    herald.set_paused(text, boolean, text, text),
    herald.cancel(bigint[], text, text),
    herald.record_action(text, text, text, bigint[], text, bigint, text,
        text),
    herald.lock_dead_jobs(bigint[]),
    herald.lock_jobs(bigint[])
    FROM herald_worker;

-- herald_console: read everything, act through the audited functions.
GRANT SELECT ON ALL TABLES IN SCHEMA herald TO herald_console;
GRANT EXECUTE ON FUNCTION
    herald.dead_retry(bigint[], text, text),
    herald.dead_purge(bigint[], text, text),
    herald.set_paused(text, boolean, text, text),
    herald.cancel(bigint[], text, text),
    herald.record_action(text, text, text, bigint[], text, bigint, text,
        text),
    herald.lock_dead_jobs(bigint[]),
    herald.lock_jobs(bigint[]),
    herald.dead_match(text, text, text, text, jsonb, jsonb),
    herald.redact_errors(jsonb)
    TO herald_console;

-- herald_viewer: every column but payload and errors, the redacted
-- views, and no audit trail (its filter text may quote a payload).
GRANT SELECT (id, task, queue, priority, run_at, attempt, max_attempts,
    state, lease_owner, lease_token, lease_until, attempted_at, created_at,
    event_id, event_type) ON herald.jobs TO herald_viewer;
GRANT SELECT (id, task, queue, priority, attempt, max_attempts, created_at,
    died_at, reason, event_id, event_type) ON herald.dead_jobs
    TO herald_viewer;
GRANT SELECT ON herald.counters, herald.processes, herald.queues,
    herald.event_counters, herald.relay_status, herald.failed_children,
    herald.waiters, herald.jobs_redacted, herald.dead_jobs_redacted
    TO herald_viewer;
GRANT EXECUTE ON FUNCTION
    herald.dead_match(text, text, text, text, jsonb, jsonb),
    herald.redact_errors(jsonb)
    TO herald_viewer;

-- Objects of later migrations, when the same role applies them.  A
-- per-schema default cannot take back PostgreSQL's global EXECUTE for
-- PUBLIC, so a later function still needs REVOKE ... FROM PUBLIC;
-- tests/db/test_roles.c fails on any function of the schema left
-- executable by PUBLIC.
ALTER DEFAULT PRIVILEGES IN SCHEMA herald
    GRANT EXECUTE ON FUNCTIONS TO herald_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA herald
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO herald_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA herald
    GRANT USAGE ON SEQUENCES TO herald_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA herald
    GRANT SELECT ON TABLES TO herald_console;
