#!/bin/sh
# Drill: the workers of one queue exit as soon as they start (the fault
# point worker_start).  heraldd restarts them after growing delays, marks
# them failed after restart_limit.failures exits, shows that in the log
# and in herald status, and keeps the other queues working, while its own
# CPU use stays near zero.  Workers that reach max_jobs or max_rss are
# replaced after their job, which is no failure.  A worker marked failed
# leaves no registration behind.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

write_conf <<EOF2
restart_limit = { failures = 4; window = "1m"; };
queues = { dq = { workers = 1; }; bad = { workers = 1; };
           jq = { workers = 1; concurrency = 2; max_jobs = 5; };
           mq = { workers = 1; max_rss = "1kB"; }; };
tasks = { probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG" ]; };
          probe_jq = { queue = "jq"; exec = [ "$PROBE", "$PROBE_LOG" ]; };
          probe_mq = { queue = "mq"; exec = [ "$PROBE", "$PROBE_LOG" ]; }; };
EOF2

HERALD_FAULT=worker_start
HERALD_FAULT_QUEUE=bad
export HERALD_FAULT HERALD_FAULT_QUEUE
touch "$HERALDD_LOG"
"$HERALDD" -c "$HERALD_CONF" 2>>"$HERALDD_LOG" &
HERALDD_PID=$!
wait_for 10 "heraldd to report ready" log_has 'msg="heraldd ready"'
wait_for 10 "the workers of dq, jq and mq to register" workers_registered 3
log_has 'msg="fault injected" role=worker pid=[0-9]* point=worker_start queue=bad' ||
    fail "the fault did not fire"

note "the failing worker is restarted after growing delays, then marked failed"
wait_for 15 "the worker of bad to be marked failed" log_has \
    'msg="child failed, restarts paused" role=heraldd pid=[0-9]* child_role=worker queue=bad failures=4'
delays=$(sed -n 's/.*msg="child exited".* queue=bad exit_code=70 restart_delay_ms=\([0-9]*\).*/\1/p' \
    "$HERALDD_LOG" | tr '\n' ' ')
[ "$delays" = "100 200 400 " ] ||
    fail "restart delays of the failing worker: $delays (expected 100 200 400)"
wait_for 10 "the failed worker in herald.failed_children" sql_is \
    "SELECT role || ' ' || queue || ' ' || failures
     FROM herald.failed_children" "worker bad 4"
"$HERALD" -d "$JOB_DB" status >"$TEST_DIR/status.out" 2>&1 ||
    fail "herald status failed: $(cat "$TEST_DIR/status.out")"
grep -q "^failed: worker #1 of queue bad on .* 4 failures" "$TEST_DIR/status.out" ||
    fail "herald status does not show the failed worker: $(cat "$TEST_DIR/status.out")"

note "the other queue keeps working and heraldd stays idle"
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$HERALDD_PID/stat"
}
before=$(cpu_ticks)
enqueue_probes 50
wait_for 20 "the probes to finish" all_jobs_finished
check_no_job_lost_or_twice
sleep 2
after=$(cpu_ticks)
# Clock ticks are usually 10 ms; forking a few workers costs less.
[ $((after - before)) -le 10 ] ||
    fail "heraldd used $((after - before)) clock ticks of CPU while idle"
exits=$(grep -c 'msg="child exited".* queue=bad' "$HERALDD_LOG")
[ "$exits" -eq 4 ] || fail "the failed worker was restarted again ($exits exits)"
alive "$HERALDD_PID" || fail "heraldd died"

note "workers past max_jobs or max_rss are replaced"
jq=$(sql "SELECT herald.enqueue('probe_jq', 'jq')
    FROM generate_series(1, 12)" | tr '\n' ' ')
mq=$(sql "SELECT herald.enqueue('probe_mq', 'mq')
    FROM generate_series(1, 3)" | tr '\n' ' ')
wait_for 20 "the jobs of jq and mq to finish" sql_is \
    "SELECT count(*) FROM herald.jobs" 0
sql_is "SELECT task || ' ' || sum(completed) FROM herald.counters
    WHERE task IN ('probe_jq', 'probe_mq') GROUP BY task ORDER BY task" \
    "$(printf 'probe_jq 12\nprobe_mq 3')" ||
    fail "the jobs of jq and mq were not completed once each"
recycled=$(grep -c 'msg="worker recycling" .* queue=jq reason=max_jobs' \
    "$HERALDD_LOG")
[ "$recycled" -ge 2 ] || fail "the worker of jq was recycled $recycled times"
recycled=$(grep -c 'msg="worker recycling" .* queue=mq reason=max_rss' \
    "$HERALDD_LOG")
[ "$recycled" -ge 3 ] || fail "the worker of mq was recycled $recycled times"
if log_has 'msg="child failed,.* queue=[jm]q'; then
    fail "a recycled worker was counted as failed"
fi
log_has 'level=info msg="child exited" .* queue=jq exit_code=75' ||
    fail "no recycled worker exited with status 75, logged as info"

note "a reload restarts the failed worker and counts it"
kill -HUP "$HERALDD_PID"
wait_for 10 "the reload" log_has \
    'msg="configuration reloaded" .* retired=0 started=0 failed_restarted=1'
wait_for 10 "the worker of bad to start again" sh -c \
    "[ \$(grep -c 'msg=\"child exited\".* queue=bad' '$HERALDD_LOG') -gt 4 ]"

note "a worker that heraldd stops restarting leaves no registration"
jq_pid() {
    sql "SELECT coalesce(max(pid), 0) FROM herald.processes
        WHERE kind = 'worker' AND queue = 'jq'"
}
new_jq_worker() {
    _p=$(jq_pid)
    [ "$_p" -ne 0 ] && [ "$_p" -ne "$last" ] && alive "$_p"
}
last=0
for i in 1 2 3 4; do
    wait_for 10 "worker $i of jq to register" new_jq_worker
    last=$(jq_pid)
    kill -KILL "$last"
done
wait_for 10 "the worker of jq to be marked failed" log_has \
    'msg="child failed, restarts paused" .* queue=jq'
wait_for 10 "the failed worker's registration to go" sql_is \
    "SELECT count(*) FROM herald.processes
     WHERE kind = 'worker' AND queue = 'jq'" 0
sql_is "SELECT count(*) FROM herald.failed_children WHERE queue = 'jq'" 1 ||
    fail "the failed worker of jq is not listed"

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
