#!/bin/sh
# Drill: leases of 2 seconds.  A worker stopped with SIGSTOP past its
# lease loses the job to another worker, which finishes it, even while
# the janitor's connection is cut every second.  After SIGCONT its own
# completion is rejected and logged.  Jobs that run
# several times longer than the lease, on workers that stay alive, run
# once.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

write_conf <<EOF2
lease = "2s";
queues = {
  dq = { workers = 2; };
  lq = { workers = 1; concurrency = 3; };
};
tasks = {
  probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG", "3000" ]; };
  long = { queue = "lq"; exec = [ "$PROBE", "$PROBE_LOG", "7000" ]; };
};
EOF2
start_heraldd

probe_started() {
    grep -q "^start $1 [0-9]* $2\$" "$PROBE_LOG" 2>/dev/null
}

note "long jobs start"
long_ids=$(sql "SELECT herald.enqueue('long', 'lq')
    FROM generate_series(1, 3)" | tr '\n' ' ')

note "a worker is stopped while its job runs"
enqueue_probes 1
id=$(sql "SELECT id FROM drill_enqueued")
wait_for 10 "job $id to start" probe_started "$id" 1
owner=$(sql "SELECT p.pid FROM herald.live_jobs j
    JOIN herald.processes p ON p.id = j.lease_owner WHERE j.id = $id")
[ -n "$owner" ] || fail "no worker holds job $id"
kill -STOP "$owner"
stopped=$owner

note "the job is taken back and finished by the other worker"
# The janitor's own connection is cut every second meanwhile.  Such a
# short loss must not put off the expiry of leases, as an outage of the
# database does.
last_cut=0
cut_janitor_and_check() {
    if [ $(($(now_ms) - last_cut)) -ge 1000 ]; then
        sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = 'herald janitor'
              AND datname = current_database()" >/dev/null
        last_cut=$(now_ms)
    fi
    probe_started "$id" 2
}
wait_for 15 "job $id to start again" cut_janitor_and_check
wait_for 15 "job $id to complete" all_jobs_finished
second=$(sed -n "s/^start $id \\([0-9]*\\) 2\$/\\1/p" "$PROBE_LOG")
log_has "msg=\"expired leases\"" || fail "the janitor did not expire the lease"

note "the stopped worker resumes and its completion is rejected"
kill -CONT "$owner"
stopped=
wait_for 10 "worker $owner to log the lost lease" log_has \
    "msg=\"job lease lost\" role=worker pid=$owner job_id=$id "
check_no_job_lost_or_twice
sql_is "SELECT count(*) FROM drill_runs WHERE kind = 'end' AND job_id = $id" 2 ||
    fail "job $id did not run to its end twice"
[ -n "$second" ] || fail "no second execution of job $id"

note "jobs longer than the lease ran once"
for long in $long_ids; do
    wait_for 15 "long job $long to complete" sql_is \
        "SELECT count(*) FROM herald.jobs WHERE id = $long" 0
done
load_probes
for long in $long_ids; do
    sql_is "SELECT count(*) || ' ' || max(attempt) FROM drill_runs
        WHERE kind = 'start' AND job_id = $long" "1 1" ||
        fail "long job $long ran $(sql "SELECT count(*) FROM drill_runs
            WHERE kind = 'start' AND job_id = $long") times"
done
sql_is "SELECT coalesce(sum(completed), 0) FROM herald.counters
    WHERE task = 'long'" 3 || fail "the long jobs were not completed once"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
