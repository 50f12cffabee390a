#!/bin/sh
# Drill: stopping heraldd with jobs running.  After the grace period the
# handlers' process groups are killed, one that ignores SIGTERM included,
# their jobs go back to the queue uncounted, and a restarted heraldd runs
# them again.  A second SIGTERM skips the grace period.  Grandchildren of
# handlers never outlive a stop, and no zombie is left behind.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
DRILL_TASKS="'probe', 'stubborn'"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

write_handler forker.sh <<EOF2
#!/bin/sh
sleep 300 &
echo \$! >"$TEST_DIR/grandchild.\$HERALD_JOB_ID"
[ "\$1" = wait ] && sleep 300
exit 0
EOF2

# conf GRACE SLEEP_MS: a queue of probes that sleep SLEEP_MS, one of
# probes that ignore SIGTERM, and one of handlers that fork.
conf() {
    write_conf "$1" <<EOF2
queues = { dq = { workers = 1; concurrency = 3; };
           fq = { workers = 1; concurrency = 2; }; };
tasks = {
  probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG", "$2" ]; };
  stubborn = { queue = "dq";
               exec = [ "$PROBE", "$PROBE_LOG", "$2", "ignore-term" ]; };
  forker = { queue = "fq"; exec = [ "$TEST_DIR/forker.sh" ]; };
  forker_wait = { queue = "fq"; exec = [ "$TEST_DIR/forker.sh", "wait" ]; };
};
EOF2
}

runs_started() {
    [ "$(cat "$PROBE_LOG" 2>/dev/null | grep -c '^start ')" -ge "$1" ]
}

probe_pids() {
    sed -n 's/^start [0-9]* \([0-9]*\) .*/\1/p' "$PROBE_LOG"
}

# no_zombies PID...: succeed when no child of the PIDs is a zombie.
no_zombies() {
    for _p in "$@"; do
        if ps -o stat= --ppid "$_p" 2>/dev/null | grep -q '^Z'; then
            return 1
        fi
    done
    return 0
}

note "a handler's grandchild dies when the handler exits"
conf 1s 30000
start_heraldd
forker=$(enqueue forker "queue => 'fq'")
wait_for 10 "job $forker to complete" sql_is \
    "SELECT count(*) FROM herald.jobs WHERE id = $forker" 0
grandchild=$(cat "$TEST_DIR/grandchild.$forker")
wait_for 5 "grandchild $grandchild to die" not_alive "$grandchild"
workers=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'")
wait_for 5 "the workers to reap their handlers" no_zombies $workers

note "SIGTERM with long jobs: the grace period ends, the jobs go back"
enqueue_probes 2
stubborn=$(enqueue stubborn "queue => 'dq'")
sql "INSERT INTO drill_enqueued VALUES ($stubborn)" >/dev/null
waiter=$(enqueue forker_wait "queue => 'fq'")
wait_for 10 "3 probes to start" runs_started 3
wait_for 10 "the waiting forker to start" \
    test -s "$TEST_DIR/grandchild.$waiter"
handlers=$(probe_pids)
waiter_child=$(cat "$TEST_DIR/grandchild.$waiter")
start=$(now_ms)
stop_heraldd 15
elapsed=$(($(now_ms) - start))
note "heraldd stopped after $elapsed ms"
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
# The grace period (1 s), then SIGTERM, SIGKILL 3 s later for the
# handler that ignores SIGTERM.
[ "$elapsed" -ge 1000 ] || fail "heraldd stopped before the grace period"
[ "$elapsed" -lt 6000 ] || fail "heraldd took $elapsed ms to stop"
for pid in $handlers $waiter_child; do
    not_alive "$pid" || fail "process $pid outlived heraldd"
done
sql_is "SELECT count(*) FROM herald.jobs
    WHERE state = 'queued' AND attempt = 0
      AND jsonb_array_length(errors) = 0" 4 ||
    fail "the jobs are not back in their queues uncounted: $(sql "SELECT id, state, attempt FROM herald.jobs")"
[ "$(grep -c 'msg="job released"' "$HERALDD_LOG")" -eq 4 ] ||
    fail "expected 4 jobs released"
log_has 'msg="grace period over, stopping handlers"' ||
    fail "the end of the grace period was not logged"
check_no_leftovers

note "a restarted heraldd runs the released jobs"
conf 1s 100
start_heraldd
wait_for 15 "every probe to finish" all_jobs_finished
check_no_job_lost_or_twice
load_probes
sql_is "SELECT count(*) FROM drill_runs WHERE kind = 'end'" 3 ||
    fail "the released probes did not run to their end after the restart"

note "a second SIGTERM skips the grace period"
conf 30s 30000
kill -HUP "$HERALDD_PID"
wait_for 10 "the reload" log_has 'msg="configuration reloaded"'
wait_for 10 "the new workers to register" workers_registered 2
slow=$(enqueue probe "queue => 'dq'")
wait_for 10 "job $slow to start" grep -q "^start $slow " "$PROBE_LOG"
start=$(now_ms)
kill -TERM "$HERALDD_PID"
sleep 0.3
kill -TERM "$HERALDD_PID"
wait_for 10 "heraldd to exit" not_alive "$HERALDD_PID"
elapsed=$(($(now_ms) - start))
wait "$HERALDD_PID"
status=$?
HERALDD_PID=
note "heraldd stopped after $elapsed ms"
[ "$status" -eq 0 ] || fail "heraldd exited with $status"
[ "$elapsed" -lt 5000 ] ||
    fail "a second SIGTERM took $elapsed ms with a grace period of 30 s"
sql_is "SELECT state || ' ' || attempt FROM herald.jobs WHERE id = $slow" \
    "queued 0" || fail "job $slow was not released"
log_has 'msg="heraldd stopping now"' || fail "the fast stop was not logged"
check_no_leftovers
exit 0
