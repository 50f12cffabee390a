#!/bin/sh
# heraldd restarts a worker and the janitor killed with SIGKILL, with a
# growing delay when a worker keeps dying, and jobs still run afterwards.
# Each replacement removes the registration of the child it replaces.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_handler ok.sh <<EOF2
#!/bin/sh
touch "$TEST_DIR/done.\$HERALD_JOB_ID"
EOF2
write_conf <<EOF2
queues = { rq = { workers = 2; poll_interval = "1s"; }; };
tasks = { ok = { queue = "rq"; exec = [ "$TEST_DIR/ok.sh" ]; }; };
EOF2
start_heraldd

worker_pids() {
    sql "SELECT pid FROM herald.processes WHERE kind = 'worker' ORDER BY pid"
}

# new_worker_count OLD_PIDS: print how many registered workers have a pid
# not among OLD_PIDS (a comma-separated list).
new_worker_count() {
    sql "SELECT count(*) FROM herald.processes
        WHERE kind = 'worker' AND pid NOT IN ($1)"
}

new_workers_are() {
    [ "$(new_worker_count "$1")" -eq "$2" ]
}

note "a worker killed with SIGKILL is logged and replaced"
old=$(worker_pids | tr '\n' ',' | sed 's/,$//')
victim=${old%%,*}
alive "$victim" || fail "worker $victim is not running"
kill -KILL "$victim"
wait_for 10 "heraldd to log the exit of worker $victim" log_has \
    "msg=\"child exited\".* child_pid=$victim child_role=worker queue=rq signal=9 restart_delay_ms=100"
wait_for 10 "a new worker to register" new_workers_are "$old" 1
# The replacement removes the registration the dead worker left, so
# herald status and the metrics count live processes at once.
wait_for 10 "the registration of worker $victim to go" sql_is \
    "SELECT count(*) FROM herald.processes WHERE pid = $victim" 0
sql_is "SELECT count(*) FROM herald.processes WHERE kind = 'worker'" 2 ||
    fail "$(sql "SELECT count(*) FROM herald.processes WHERE kind = 'worker'") workers registered, expected 2"

note "a worker that keeps dying is restarted after a growing delay"
second=$(sql "SELECT pid FROM herald.processes
    WHERE kind = 'worker' AND pid NOT IN ($old)")
kill -KILL "$second"
wait_for 10 "heraldd to log the exit of worker $second" log_has \
    "msg=\"child exited\".* child_pid=$second child_role=worker queue=rq signal=9 restart_delay_ms=200"
wait_for 10 "another new worker to register" \
    new_workers_are "$old,$second" 1

note "a killed janitor is replaced"
janitor=$(sql "SELECT pid FROM herald.processes WHERE kind = 'janitor'")
[ -n "$janitor" ] || fail "no janitor registered"
kill -KILL "$janitor"
wait_for 10 "heraldd to log the exit of janitor $janitor" log_has \
    "msg=\"child exited\".* child_pid=$janitor child_role=janitor signal=9"
wait_for 10 "a new janitor to register" sql_is \
    "SELECT count(*) FROM herald.processes
    WHERE kind = 'janitor' AND pid <> $janitor" 1
sql_is "SELECT count(*) FROM herald.processes WHERE pid = $janitor" 0 ||
    fail "the killed janitor $janitor is still registered"

note "jobs enqueued after the restarts run"
ids=
for i in 1 2 3 4; do
    ids="$ids $(enqueue ok "queue => 'rq'")"
done
for id in $ids; do
    wait_for 10 "job $id to run" test -f "$TEST_DIR/done.$id"
done
wait_for 10 "every job to complete" \
    sql_is "SELECT count(*) FROM herald.live_jobs" 0

alive "$HERALDD_PID" || fail "heraldd died"
stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
log_has 'msg="worker stopping" .* reason=signal ' ||
    fail "no worker logged its stop with reason=signal"
check_no_leftovers

note "the workers of a heraldd killed with SIGKILL log why they stop"
start_heraldd
kill -KILL "$HERALDD_PID"
wait "$HERALDD_PID" 2>/dev/null
HERALDD_PID=
wait_for 10 "a worker to log that heraldd is gone" \
    log_has 'msg="worker stopping" .* reason=supervisor_gone '
check_no_leftovers
exit 0
