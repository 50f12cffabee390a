#!/bin/sh
# Drill: PostgreSQL fails under a running heraldd.  A fast restart, an
# immediate restart (crash recovery), pg_terminate_backend() on every
# herald backend, a server in recovery (read-only until promoted) and an
# outage longer than the lease.  After each, every process reconnects and
# listens again, so a new job starts soon after the server is back, and
# no job is lost or completed twice.  This drill restarts PostgreSQL, so
# it runs its own server.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
DRILL_TASKS="'probe', 'long'"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

start_private_pg
write_conf <<EOF2
queues = { dq = { workers = 2; concurrency = 2; poll_interval = "1m"; }; };
tasks = { probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG", "100" ];
                    retry = { base_delay = "100ms"; }; }; };
EOF2
start_heraldd
# The poll interval of a minute leaves only NOTIFY to wake the workers.

probe_started() {
    grep -q "^start $1 " "$PROBE_LOG" 2>/dev/null
}

# outage_begins: mark where the log of the next outage starts.
outage_begins() {
    outage_line=$(($(wc -l <"$HERALDD_LOG") + 1))
}

# longest_retry: the maximum wait before a reconnection that a worker
# logged since outage_begins, in ms.
longest_retry() {
    tail -n "+$outage_line" "$HERALDD_LOG" | grep ' role=worker ' |
        sed -n 's/.* retry_ms=\([0-9]*\).*/\1/p' | sort -n | tail -n 1
}

# after_recovery WHAT: enqueue a job and check that it starts within
# MAX_START_MS of the server accepting connections again (at $back),
# plus the longest wait a worker logged before reconnecting, which grows
# with the outage.  The time includes the enqueue, the 50 ms polling of
# wait_for and the probes that fill the slots.  A worker that did not
# listen again would start it only at its poll, a minute later.
MAX_START_MS=${HERALD_DRILL_MAX_START_MS:-2000}
after_recovery() {
    _retry=$(longest_retry)
    _limit=$((MAX_START_MS + ${_retry:-0}))
    # Ahead of the probes still queued, which run 100 ms each.
    _id=$(enqueue probe "queue => 'dq', priority => -1") ||
        fail "enqueue after $1 failed"
    sql "INSERT INTO drill_enqueued VALUES ($_id)" >/dev/null
    wait_for 30 "job $_id to start after $1" probe_started "$_id"
    _ms=$(($(now_ms) - back))
    note "a new job started $_ms ms after $1 (limit $_limit ms)"
    [ "$_ms" -le "$_limit" ] ||
        fail "job $_id started $_ms ms after $1 (limit $_limit ms)"
}

# Jobs in flight while the server goes away.
enqueue_probes 20

note "fast restart"
outage_begins
pg_ctl_private -w restart -m fast || fail "fast restart failed"
back=$(now_ms)
after_recovery "a fast restart"
wait_for 10 "3 lost connections to be logged" sh -c \
    "[ \$(grep -c 'msg=\"job database connection lost\"' '$HERALDD_LOG') -ge 3 ]"

note "immediate restart"
enqueue_probes 20
outage_begins
pg_ctl_private -w restart -m immediate || fail "immediate restart failed"
back=$(now_ms)
after_recovery "an immediate restart"

note "terminated backends"
herald_backends() {
    [ "$(psql "$JOB_DB" -XAtq -c "SELECT count(*) FROM pg_stat_activity
        WHERE application_name LIKE 'herald %'")" -ge 3 ]
}
wait_for 30 "the 3 processes of heraldd to reconnect" herald_backends
enqueue_probes 20
outage_begins
terminated=$(psql "$JOB_DB" -XAtq -c "SELECT count(pg_terminate_backend(pid))
    FROM pg_stat_activity WHERE application_name LIKE 'herald %'")
[ "$terminated" -ge 3 ] || fail "only $terminated herald backends found"
back=$(now_ms)
after_recovery "pg_terminate_backend"

note "a server in recovery, then promoted"
connect_errors() {
    grep -c 'level=error msg="could not connect to job database"' \
        "$HERALDD_LOG"
}
connect_errors_above() {
    [ "$(connect_errors)" -gt "$1" ]
}
restored() {
    grep -c 'msg="job database connection restored"' "$HERALDD_LOG"
}
errors=$(connect_errors)
outage_begins
pg_ctl_private -w stop -m fast || fail "stop failed"
restored_before=$(restored)
pg_owner touch "$PRIVATE_PG/data/standby.signal"
pg_ctl_private -w start || fail "start in recovery failed"
sleep_until=$(($(now_ms) + 1500))
wait_for 10 "a refused connection to be logged" connect_errors_above "$errors"
sql_is "SELECT pg_is_in_recovery()" t || fail "the server is not in recovery"
while [ "$(now_ms)" -lt "$sleep_until" ]; do sleep 0.1; done
[ "$(restored)" -eq "$restored_before" ] ||
    fail "a process connected to the server in recovery"
pg_ctl_private -w promote || fail "promote failed"
back=$(now_ms)
after_recovery "promotion"

# A job whose notification went out while a worker was disconnected is
# found by the next claim or announced by the janitor's first round after
# it reconnects.  A job whose claim response was lost waits for its lease
# to expire.
wait_for 90 "every job to finish" all_jobs_finished
check_no_job_lost_or_twice

note "an outage longer than the lease"
# Four jobs fill the four slots and end during an outage of 3 s, longer
# than the lease of 2 s.  The workers renew their leases as they
# reconnect, before the janitor expires any, so no job runs twice.
stop_heraldd 20
write_conf <<EOF2
lease = "2s";
queues = { dq = { workers = 2; concurrency = 2; poll_interval = "1m"; }; };
tasks = { long = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG", "2500" ]; };
};
EOF2
start_heraldd
expired=$(grep -c 'msg="job lease expired"' "$HERALDD_LOG")
starts=$(grep -c '^start' "$PROBE_LOG")
sql "INSERT INTO drill_enqueued
    SELECT herald.enqueue('long', queue => 'dq')
    FROM generate_series(1, 4)" >/dev/null || fail "could not enqueue"
long_started() {
    [ "$(grep -c '^start' "$PROBE_LOG")" -ge "$(($1 + 4))" ]
}
wait_for 10 "the 4 long jobs to start" long_started "$starts"
pg_ctl_private -w stop -m fast || fail "stop failed"
resume_at=$(($(now_ms) + 3000))
while [ "$(now_ms)" -lt "$resume_at" ]; do sleep 0.1; done
pg_ctl_private -w start || fail "start failed"
wait_for 30 "the long jobs to finish" all_jobs_finished
[ "$(grep -c '^start' "$PROBE_LOG")" -eq "$((starts + 4))" ] ||
    fail "jobs ran again after the outage: $(tail -n 12 "$PROBE_LOG")"
[ "$(grep -c 'msg="job lease expired"' "$HERALDD_LOG")" -eq "$expired" ] ||
    fail "leases of live workers expired: $(grep 'lease expired' "$HERALDD_LOG")"
check_no_job_lost_or_twice

note "each outage is logged once per process"
errors=$(grep -c 'level=error msg="could not connect to job database"' \
    "$HERALDD_LOG")
[ "$errors" -le 15 ] ||
    fail "$errors connection errors logged for 3 processes and 5 outages"
log_has 'msg="job database connection restored".* failures=' ||
    fail "no restored connection logged with its failure count"
# The janitor logs how long it was without the database, as workers do.
log_has 'msg="job database connection restored" role=janitor .*outage_ms=' ||
    fail "the janitor logged no restored connection with the outage"
alive "$HERALDD_PID" || fail "heraldd died"
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
stop_private_pg
check_no_leftovers
exit 0
