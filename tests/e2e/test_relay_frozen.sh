#!/bin/sh
# A relay frozen inside a batch (SIGSTOP) loses its application session
# to idle_in_transaction_session_timeout, so the outbox rows it took are
# unlocked for another relay instead of waiting for the thaw.  After the
# thaw every event is one job, and the outbox is empty.  The test sets
# the timeout to 2 s through fault injection.  A lock on herald.jobs
# holds the batch: a live relay waiting on it past the timeout loses its
# session the same way, so this shows the timeout, not the freeze.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

EVENTS=10

create_app_db
write_conf <<EOF2
app_db = "$APP_DB";
queues = { held = { workers = 0; }; };
tasks = { probe = { queue = "held"; exec = [ "/bin/true" ]; }; };
events = { Pinged = [ "probe" ]; };
EOF2

UNLOCKED_ROWS="SELECT count(*) FROM (SELECT 1 FROM herald.outbox
    FOR UPDATE SKIP LOCKED) s"
app_is() {
    [ "$(app_sql "$1" 2>/dev/null)" = "$2" ]
}

export HERALD_FAULT_RELAY_IDLE_TIMEOUT=2s
start_heraldd
wait_for 10 "the relay to register" sql_is \
    "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1
relay=$(sql "SELECT pid FROM herald.processes WHERE kind = 'relay'")

note "a lock on herald.jobs holds the relay inside its batch"
open_session
echo "BEGIN; LOCK TABLE herald.jobs IN SHARE MODE;" >&3
wait_for 10 "the lock on herald.jobs to be held" sql_is \
    "SELECT count(*) FROM pg_locks
     WHERE relation = 'herald.jobs'::regclass AND mode = 'ShareLock'
       AND granted" 1
app_sql "INSERT INTO herald.outbox (kind, event_id, event_type, payload)
    SELECT 'event', gen_random_uuid(), 'Pinged', jsonb_build_object('n', g)
    FROM generate_series(1, $EVENTS) g;
    NOTIFY herald_outbox" >/dev/null || fail "could not publish events"
wait_for 10 "the relay to take the batch" app_is "$UNLOCKED_ROWS" 0

note "the frozen relay's rows are unlocked after the timeout"
kill -STOP "$relay"
frozen_at=$(now_ms)
wait_for 10 "the rows to be unlocked" app_is "$UNLOCKED_ROWS" "$EVENTS"
note "unlocked $(($(now_ms) - frozen_at)) ms after the freeze"
echo "COMMIT;" >&3
close_session
kill -CONT "$relay"

note "after the thaw every event is one job"
wait_for 20 "the outbox to empty" app_is "SELECT count(*) FROM herald.outbox" 0
wait_for 10 "$EVENTS jobs" sql_is "SELECT count(*) FROM herald.live_jobs" "$EVENTS"
sql_is "SELECT count(DISTINCT payload->>'n') FROM herald.live_jobs" "$EVENTS" ||
    fail "an event made two jobs or none"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
