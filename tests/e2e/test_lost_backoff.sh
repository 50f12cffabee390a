#!/bin/sh
# A lost attempt waits the task's retry delay, as a failed one does, so
# a handler that kills its worker does not run again at once.  Both ways
# of losing an attempt are covered: a worker killed with SIGKILL, whose
# replacement takes its job back, and a worker stopped past its lease,
# whose job the janitor takes back, and logs as dead after its last
# attempt.  Each job then runs again once it is due, and completes.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# A job hangs until $TEST_DIR/go exists, and logs each start.
write_handler run.sh <<EOF2
#!/bin/sh
cat >/dev/null
echo "\$HERALD_JOB_ID \$HERALD_ATTEMPT" >>"$TEST_DIR/starts"
[ -e "$TEST_DIR/go" ] && exit 0
exec sleep 300
EOF2

write_conf <<EOF2
lease = "2s";
restart_limit = { failures = 100; };
queues = { kq = { workers = 1; concurrency = 2; poll_interval = "100ms"; }; };
tasks = {
    run = { queue = "kq"; exec = [ "$TEST_DIR/run.sh" ];
            retry = { max_attempts = 5; base_delay = "40s"; factor = 1.0;
                      jitter = 0.0; }; };
};
EOF2
sed -i 's/log_level = "debug"/log_level = "info"/' "$HERALD_CONF"
# History times are written in UTC whatever the database's zone.
sql "ALTER DATABASE \"$(sql "SELECT current_database()")\"
    SET timezone = 'Asia/Kolkata'" >/dev/null
start_heraldd

started() {
    grep -q "^$1 $2\$" "$TEST_DIR/starts" 2>/dev/null
}

worker_pid() {
    sql "SELECT pid FROM herald.processes WHERE kind = 'worker'"
}

# delay_left ID: the seconds until job ID is due, rounded down.
delay_left() {
    sql "SELECT floor(extract(epoch FROM run_at - now()))::int
        FROM herald.jobs WHERE id = $1 AND state = 'queued' AND attempt = 1"
}

note "a worker is killed while its job runs"
killed=$(sql "SELECT herald.enqueue('run', queue => 'kq')")
wait_for 10 "job $killed to start" started "$killed" 1
victim=$(worker_pid)
[ -n "$victim" ] || fail "no worker is registered"
kill -KILL "$victim"
wait_for 15 "job $killed to be taken back" log_has \
    "msg=\"job lost\" .*job_id=$killed .*delay_ms=40000 "
left=$(delay_left "$killed")
[ -n "$left" ] && [ "$left" -ge 30 ] && [ "$left" -le 40 ] ||
    fail "job $killed is due in '$left' s, not in about 40 s"
"$HERALD" -d "$JOB_DB" job show "$killed" >"$TEST_DIR/job.out" ||
    fail "herald job show $killed failed"
for line in '^state: +retrying$' '^attempts: +1 of 10$' \
    '^due: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z \(in [0-9]+s\)$' \
    '^created: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z \(' \
    '^  attempt 1  .*Z  lost '; do
    grep -Eq "$line" "$TEST_DIR/job.out" ||
        fail "herald job show $killed has no line like /$line/: $(cat "$TEST_DIR/job.out")"
done
"$HERALD" -d "$JOB_DB" job show --json "$killed" >"$TEST_DIR/job.json" ||
    fail "herald job show --json $killed failed"
grep -q '"state": "retrying"' "$TEST_DIR/job.json" ||
    fail "herald job show --json: $(cat "$TEST_DIR/job.json")"

note "a worker is stopped past its lease while its job runs"
wait_for 15 "a replacement worker" workers_registered 1
stopped=$(sql "SELECT herald.enqueue('run', queue => 'kq')")
wait_for 10 "job $stopped to start" started "$stopped" 1
owner=$(worker_pid)
kill -STOP "$owner"
wait_for 15 "the lease of job $stopped to expire" log_has \
    "msg=\"job lease expired\" .*job_id=$stopped .*status=retrying delay_ms=40000"
kill -CONT "$owner"
left=$(delay_left "$stopped")
[ -n "$left" ] && [ "$left" -ge 30 ] && [ "$left" -le 40 ] ||
    fail "job $stopped is due in '$left' s, not in about 40 s"
grep -c "^$killed " "$TEST_DIR/starts" | grep -qx 1 ||
    fail "job $killed ran again before it was due"

note "a job whose last attempt the janitor takes back is logged as dead"
wait_for 15 "worker $owner to drop job $stopped" log_has \
    "msg=\"job lease lost\" .*job_id=$stopped "
last=$(sql "SELECT herald.enqueue('run', queue => 'kq', max_attempts => 1)")
wait_for 10 "job $last to start" started "$last" 1
kill -STOP "$owner"
wait_for 15 "the lease of job $last to expire" log_has \
    "msg=\"job lease expired\" .*job_id=$last .*status=dead delay_ms=0"
kill -CONT "$owner"
log_has "msg=\"job dead\" .*job_id=$last .*reason=lost" ||
    fail "no job dead line for job $last"
sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $last" lost ||
    fail "job $last is not dead with reason lost"
at=$(sql "SELECT errors->-1->>'at' FROM herald.dead_jobs WHERE id = $last")
case $at in
*+00:00) ;;
*) fail "the lost attempt of job $last was written at $at, not in UTC" ;;
esac
"$HERALD" -d "$JOB_DB" dead show "$last" >"$TEST_DIR/show.out" ||
    fail "herald dead show $last failed"
grep -Eq "^  attempt 1  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z  lost " \
    "$TEST_DIR/show.out" ||
    fail "herald dead show prints the lost attempt as: $(grep attempt "$TEST_DIR/show.out")"
grep -Eq "^died: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z \(" \
    "$TEST_DIR/show.out" ||
    fail "herald dead show prints the time of death as: $(grep died "$TEST_DIR/show.out")"

note "both jobs run again when due, and complete"
touch "$TEST_DIR/go"
sql "UPDATE herald.jobs SET run_at = now() WHERE id IN ($killed, $stopped)" \
    >/dev/null
wait_for 15 "both jobs to complete" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE id IN ($killed, $stopped)" 0
sql_is "SELECT count(*) FROM herald.dead_jobs
    WHERE id IN ($killed, $stopped)" 0 || fail "a job died"
started "$killed" 2 || fail "job $killed did not run a second attempt"
started "$stopped" 2 || fail "job $stopped did not run a second attempt"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
# The stopped worker's handlers ended after their jobs were taken back,
# and attempts it no longer owned are not its failures to log.
for id in "$stopped" "$last"; do
    ! log_has "msg=\"job failed\" .*job_id=$id " ||
        fail "the stopped worker logged job $id as failed"
done
check_no_leftovers
exit 0
