#!/bin/sh
# The relay keeps two batches in flight, each in its own lane of an
# application and a job database connection.  A session holding a lock on
# herald.jobs blocks the inserts: both batches must be taken and both
# inserts sent meanwhile.  heraldd is then stopped with both in flight.
# The relay finishes both batches before it exits, the rest of the outbox
# must be unlocked, and a new heraldd must make exactly one job of every
# event, claimed in outbox order.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# Two full batches of 1000 rows and a short one.
EVENTS=2500

create_app_db

# No workers: the jobs stay queued for the checks.
write_conf <<EOF2
app_db = "$APP_DB";
queues = { held = { workers = 0; }; };
tasks = { probe = { queue = "held"; exec = [ "/bin/true" ]; }; };
events = { Pinged = [ "probe" ]; };
EOF2

# app_is QUERY EXPECTED: sql_is on the application database.
app_is() {
    [ "$(app_sql "$1" 2>/dev/null)" = "$2" ]
}

UNLOCKED_ROWS="SELECT count(*) FROM (SELECT 1 FROM herald.outbox
    FOR UPDATE SKIP LOCKED) s"

start_heraldd
wait_for 10 "the relay to register" sql_is \
    "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1

note "another session blocks inserts into herald.jobs"
open_session
echo "BEGIN; LOCK TABLE herald.jobs IN SHARE MODE;" >&3
wait_for 10 "the lock on herald.jobs to be held" sql_is \
    "SELECT count(*) FROM pg_locks
     WHERE relation = 'herald.jobs'::regclass AND mode = 'ShareLock'
       AND granted" 1

note "publish $EVENTS events"
app_sql "INSERT INTO herald.outbox (kind, event_id, event_type, payload)
    SELECT 'event', gen_random_uuid(), 'Pinged', jsonb_build_object('n', g)
    FROM generate_series(1, $EVENTS) g;
    NOTIFY herald_outbox" >/dev/null || fail "could not publish events"

wait_for 10 "both batches' inserts to wait for the lock" sql_is \
    "SELECT count(*) FROM pg_stat_activity
     WHERE datname = current_database() AND wait_event_type = 'Lock'
       AND query LIKE '%relay_arrays%'" 2

note "both batches are taken while their inserts wait"
app_is "$UNLOCKED_ROWS" $((EVENTS - 2000)) ||
    fail "$(app_sql "$UNLOCKED_ROWS") outbox rows unlocked, expected $((EVENTS - 2000))"
app_is "SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'herald relay'
      AND state = 'idle in transaction'" 2 ||
    fail "the relay's two application connections do not each hold a batch"

note "stop heraldd, then release the lock"
kill -TERM "$HERALDD_PID" || fail "heraldd is not running"
# heraldd sends SIGTERM to its children right after it logs this line.
# The relay waits for the first insert until the lock is released, so it
# receives the signal before it takes a third batch.
wait_for 10 "heraldd to begin its stop" log_has 'msg="heraldd stopping"'
echo "COMMIT;" >&3
close_session
wait_for 20 "heraldd to exit" not_alive "$HERALDD_PID"
wait "$HERALDD_PID"
HERALDD_STATUS=$?
HERALDD_PID=
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
log_has 'msg="relay stopped"' || fail "the relay did not log its stop"

note "both batches in flight are relayed, the rest stays in the outbox"
sql_is "SELECT count(*) FROM herald.jobs" 2000 ||
    fail "$(sql "SELECT count(*) FROM herald.jobs") jobs after the stop, expected 2000"
app_is "SELECT count(*) FROM herald.outbox" $((EVENTS - 2000)) ||
    fail "$(app_sql "SELECT count(*) FROM herald.outbox") outbox rows after the stop, expected $((EVENTS - 2000))"
app_is "$UNLOCKED_ROWS" $((EVENTS - 2000)) ||
    fail "outbox rows are still locked after the relay stopped"
app_is "SELECT min((payload->>'n')::int) FROM herald.outbox" 2001 ||
    fail "the outbox lost rows other than the two batches'"

note "a new heraldd relays the rest"
start_heraldd
wait_for 30 "the outbox to empty" outbox_empty
sql_is "SELECT count(*) FROM herald.jobs" $EVENTS ||
    fail "$(sql "SELECT count(*) FROM herald.jobs") jobs for $EVENTS events"
sql_is "SELECT count(DISTINCT event_id) FROM herald.jobs" $EVENTS ||
    fail "some event became more than one job"
sql_is "SELECT count(*) FROM herald.relayed" $EVENTS ||
    fail "$(sql "SELECT count(*) FROM herald.relayed") outbox rows recorded as relayed"
# Two inserts at once interleave their ids, but not their run_at.
sql_is "SELECT count(*) FROM (SELECT (payload->>'n')::int AS n,
        lag((payload->>'n')::int) OVER (ORDER BY run_at, id) AS before
    FROM herald.jobs) j WHERE n < before" 0 ||
    fail "jobs are not in outbox order by run_at and id"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
