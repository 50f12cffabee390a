#!/bin/sh
# Drill: the relay dies between its job-database commit and the deletion
# of its outbox rows (the fault point relay_after_job_commit) while events
# keep arriving.  The restarted relay sends the batch again, the unique
# origin key drops the copies, and every event becomes exactly one job
# that completes once.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

create_app_db

write_conf <<EOF2
app_db = "$APP_DB";
queues = { dq = { workers = 2; concurrency = 4; }; };
tasks = { probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG" ]; }; };
events = { Pinged = [ "probe" ]; };
EOF2

# publish N: commit N events in one transaction and wake the relay.
publish() {
    app_sql "INSERT INTO herald.outbox (kind, event_id, event_type, payload)
        SELECT 'event', gen_random_uuid(), 'Pinged', '{}'
        FROM generate_series(1, $1);
        NOTIFY herald_outbox" >/dev/null || fail "could not publish events"
}

HERALD_FAULT=relay_after_job_commit
HERALD_FAULT_ONCE="$TEST_DIR/relay-fault"
export HERALD_FAULT HERALD_FAULT_ONCE
start_heraldd
wait_for 10 "the relay to register" sql_is \
    "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1

note "events arrive while the relay dies after a commit"
for i in $(seq 1 20); do
    publish 50
    sleep 0.1
done
wait_for 10 "the fault to fire" log_has 'msg="fault injected"'
wait_for 30 "the outbox to empty" outbox_empty
wait_for 30 "every job to finish" sql_is "SELECT count(*) FROM herald.jobs" 0

note "every event became one job, completed once"
sql_is "SELECT count(*) FROM herald.relayed" 1000 ||
    fail "$(sql "SELECT count(*) FROM herald.relayed") outbox rows relayed"
sql_is "SELECT coalesce(sum(completed), 0) FROM herald.counters" 1000 ||
    fail "$(sql "SELECT sum(completed) FROM herald.counters") jobs completed for 1000 events"
sql_is "SELECT count(*) FROM herald.dead_jobs" 0 || fail "jobs died"
dups=$(completed_ids | uniq -d | head -5)
[ -z "$dups" ] || fail "jobs logged as completed twice: $dups"
log_has 'msg="child exited".* child_role=relay exit_code=70' ||
    fail "the relay did not exit at the fault"
# The restarted relay removed the registration of the one that died.
sql_is "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1 ||
    fail "$(sql "SELECT count(*) FROM herald.processes WHERE kind = 'relay'") relays registered, expected 1"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
# The batch of the relay that died is counted once, by the transaction
# that inserted its jobs.
sql_is "SELECT relayed_total FROM herald.relay_status" 1000 ||
    fail "relay_status counts $(sql "SELECT relayed_total FROM herald.relay_status") jobs relayed for 1000 events"
check_no_leftovers
exit 0
