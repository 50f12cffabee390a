#!/bin/sh
# SIGHUP with new event routes replaces the relay, which builds the jobs
# of each event from the routes: an event published after the reload
# becomes one job for every task the new file subscribes to it.  The same
# applies to a new queue of a subscribed task.  A reload that changes
# nothing the relay reads keeps it running.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"


create_app_db

# conf TASKS AUDIT_QUEUE MAX_JOBS: Pinged goes to TASKS, and the task
# audit runs on AUDIT_QUEUE.  No worker runs, so the jobs stay queued.
conf() {
    write_conf <<EOF2
app_db = "$APP_DB";
queues = {
  held = { workers = 0; max_jobs = $3; };
  other = { workers = 0; };
};
tasks = {
  probe = { queue = "held"; exec = [ "/bin/true" ]; };
  audit = { queue = "$2"; exec = [ "/bin/true" ]; };
};
events = { Pinged = [ $1 ]; };
EOF2
}

# publish N: commit event N and wake the relay.
publish() {
    app_sql "INSERT INTO herald.outbox (kind, event_id, event_type, payload)
        VALUES ('event', gen_random_uuid(), 'Pinged',
            jsonb_build_object('n', $1));
        NOTIFY herald_outbox" >/dev/null || fail "could not publish event $1"
}

relay_pid() {
    sql "SELECT coalesce(max(pid), 0) FROM herald.processes
        WHERE kind = 'relay'"
}

# relay_replaced OLD_PID: succeed once one relay other than OLD_PID is
# registered and OLD_PID exited.
relay_replaced() {
    _now=$(relay_pid)
    [ "$_now" -ne 0 ] && [ "$_now" -ne "$1" ] && not_alive "$1" &&
        sql_is "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1
}

reloads_above() {
    [ "$(grep -c 'msg="configuration reloaded"' "$HERALDD_LOG")" -gt "$1" ]
}

# reload N: send SIGHUP and wait for the Nth reload to be logged.
reload() {
    kill -HUP "$HERALDD_PID"
    wait_for 10 "reload $1" reloads_above $(($1 - 1))
}

# jobs_of N: the tasks and queues of event N's jobs, one line each.
jobs_of() {
    sql "SELECT task || ':' || queue FROM herald.jobs
        WHERE payload->>'n' = '$1' ORDER BY task"
}

# has_jobs N COUNT: succeed once event N became COUNT jobs.
has_jobs() {
    sql_is "SELECT count(*) FROM herald.jobs WHERE payload->>'n' = '$1'" "$2"
}

conf '"probe"' held 0
start_heraldd
wait_for 10 "the relay to register" sql_is \
    "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1
relay=$(relay_pid)

publish 1
wait_for 10 "event 1 to become a job" has_jobs 1 1
[ "$(jobs_of 1)" = "probe:held" ] || fail "event 1 became: $(jobs_of 1)"

note "a new subscriber replaces the relay"
conf '"probe", "audit"' held 0
reload 1
wait_for 10 "relay $relay to be replaced" relay_replaced "$relay"
relay=$(relay_pid)
publish 2
wait_for 10 "event 2 to become two jobs" has_jobs 2 2
[ "$(jobs_of 2)" = "audit:held
probe:held" ] || fail "event 2 became: $(jobs_of 2)"

note "a new queue of a subscribed task replaces the relay"
conf '"probe", "audit"' other 0
reload 2
wait_for 10 "relay $relay to be replaced" relay_replaced "$relay"
relay=$(relay_pid)
publish 3
wait_for 10 "event 3 to become two jobs" has_jobs 3 2
[ "$(jobs_of 3)" = "audit:other
probe:held" ] || fail "event 3 became: $(jobs_of 3)"

note "a setting the relay does not read keeps it"
conf '"probe", "audit"' other 1000
reload 3
[ "$(relay_pid)" -eq "$relay" ] && alive "$relay" ||
    fail "a new max_jobs replaced the relay"

sql_is "SELECT count(DISTINCT payload->>'n') FROM herald.jobs" 3 ||
    fail "an event became no job"
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
