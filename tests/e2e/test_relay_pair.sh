#!/bin/sh
# Two heraldd on one pair of databases run two relays at once.  Events
# written to the outbox while both run become exactly one job per
# subscribed task, jobs with a unique key one job per key, and the outbox
# ends empty.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

EVENTS=3000
KEYS=5

create_app_db

# No workers: the jobs stay queued, so the test counts what the relays
# made rather than what handlers did.
write_conf <<EOF2
app_db = "$APP_DB";
queues = { held = { workers = 0; }; };
tasks = {
  first = { queue = "held"; exec = [ "/bin/true" ]; };
  second = { queue = "held"; exec = [ "/bin/true" ]; };
};
events = { Happened = [ "first", "second" ]; };
EOF2

relays_registered() {
    sql_is "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 2
}

note "start two heraldd on the same databases"
start_heraldd
first_pid=$HERALDD_PID
"$HERALDD" -c "$HERALD_CONF" 2>>"$TEST_DIR/second.log" &
second_pid=$!
wait_for 10 "two relays to register" relays_registered

note "write $EVENTS events and 30 jobs with $KEYS unique keys in 30 transactions while both relays run"
i=0
while [ $i -lt 30 ]; do
    app_sql "INSERT INTO herald.outbox (kind, event_id, event_type, payload)
        SELECT 'event', gen_random_uuid(), 'Happened',
            jsonb_build_object('n', g)
        FROM generate_series(1, $((EVENTS / 30))) g;
        INSERT INTO herald.outbox (kind, task, payload, unique_key)
        VALUES ('job', 'first', '{}', 'pair:$((i % KEYS))');
        NOTIFY herald_outbox" ||
        fail "could not write the outbox"
    i=$((i + 1))
done
wait_for 30 "the outbox to drain" outbox_empty

sql_is "SELECT count(*) FROM herald.jobs" $((EVENTS * 2 + KEYS)) ||
    fail "expected $((EVENTS * 2 + KEYS)) jobs, found $(sql "SELECT count(*) FROM herald.jobs")"
sql_is "SELECT count(DISTINCT (event_id, task)) FROM herald.jobs
    WHERE event_id IS NOT NULL" \
    $((EVENTS * 2)) || fail "some event became the same job twice"
sql_is "SELECT count(DISTINCT u.key) FROM herald.jobs j
    JOIN herald.unique_keys u ON u.job_id = j.id
    WHERE j.event_id IS NULL" $KEYS ||
    fail "the keyed jobs do not hold one key each"
# Which relay takes which batch is up to the scheduler; record it.
note "batches relayed: $(grep -c 'msg="outbox batch relayed"' \
    "$HERALDD_LOG") by the first heraldd, $(grep -c \
    'msg="outbox batch relayed"' "$TEST_DIR/second.log") by the second"

kill -TERM "$second_pid"
wait_for 15 "the second heraldd to exit" not_alive "$second_pid"
stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
note "ok"
