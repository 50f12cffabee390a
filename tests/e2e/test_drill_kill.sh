#!/bin/sh
# Drill: SIGKILL a random worker every 400 ms for 8 seconds while 2000
# jobs run.  Every job ends completed or dead, none is completed twice,
# and heraldd stays up and restarts every worker.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

write_conf <<EOF2
lease = "2s";
restart_limit = { failures = 1000; };
queues = { dq = { workers = 4; concurrency = 4; poll_interval = "500ms"; }; };
tasks = { probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG", "40" ];
                    retry = { max_attempts = 5; base_delay = "100ms"; }; }; };
EOF2
# Debug lines would make the log large; info keeps every job line.
sed -i 's/log_level = "debug"/log_level = "info"/' "$HERALD_CONF"
start_heraldd
enqueue_probes 2000

worker_pids() {
    sql "SELECT pid FROM herald.processes WHERE kind = 'worker'"
}

note "killing workers"
kills=0
end=$(($(now_ms) + 8000))
while [ "$(now_ms)" -lt "$end" ] && ! all_jobs_finished; do
    victim=$(worker_pids | shuf -n 1)
    if [ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null; then
        kills=$((kills + 1))
    fi
    sleep 0.4
done
note "$kills workers killed"
[ "$kills" -ge 5 ] || fail "only $kills workers were killed"

wait_for 40 "every job to finish" all_jobs_finished
alive "$HERALDD_PID" || fail "heraldd died"
wait_for 20 "4 workers to run again" workers_registered 4
check_no_job_lost_or_twice
# A killed worker's replacement takes its jobs back at once; a lease
# expires only when the replacement was not started in time.
log_has 'msg="jobs of dead worker taken back"' ||
    log_has 'msg="expired leases"' ||
    fail "no job of a killed worker was taken back"
# Every lost attempt that a replacement took back has a line with its job
# id: "job lost" when the job runs again, "job dead" when it died.
lost_total=$(sed -n 's/.*msg="jobs of dead worker taken back".* lost=\([0-9]*\) .*/\1/p' \
    "$HERALDD_LOG" | awk '{ sum += $1 } END { print sum + 0 }')
lost_lines=$(grep -c 'msg="job lost" .*status=lost ' "$HERALDD_LOG")
dead_lines=$(grep -c 'msg="job dead" .*reason=lost' "$HERALDD_LOG")
[ $((lost_lines + dead_lines)) -ge "$lost_total" ] ||
    fail "$lost_total lost attempts taken back, but only $lost_lines \"job lost\" and $dead_lines \"job dead\" lines"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
