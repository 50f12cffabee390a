#!/bin/sh
# SIGTERM drains heraldd.  A running job finishes within the grace period.
# A job that outlasts it is killed and put back in its queue without
# counting the attempt.  Either way heraldd exits 0 and leaves nothing.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_handler slow.sh <<EOF2
#!/bin/sh
echo \$\$ >"$TEST_DIR/handler.\$HERALD_JOB_ID"
sleep "\$(cat "$TEST_DIR/sleep_s")"
touch "$TEST_DIR/done.\$HERALD_JOB_ID"
EOF2

# conf GRACE: write the configuration with a grace period of GRACE.
conf() {
    write_conf "$1" <<EOF2
queues = { dq = { workers = 1; }; };
tasks = { slow = { queue = "dq"; exec = [ "$TEST_DIR/slow.sh" ];
                   timeout = "1m"; }; };
EOF2
}

# start_job: enqueue a slow job, wait until its handler runs, print its id.
start_job() {
    _id=$(enqueue slow "queue => 'dq'")
    wait_for 10 "job $_id to run" test -s "$TEST_DIR/handler.$_id"
    echo "$_id"
}

note "a job shorter than the grace period finishes and is completed"
echo 2 >"$TEST_DIR/sleep_s"
conf 10s
start_heraldd
id=$(start_job)
start=$(now_ms)
stop_heraldd 10
elapsed=$(($(now_ms) - start))
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
[ -f "$TEST_DIR/done.$id" ] || fail "job $id did not finish"
sql_is "SELECT count(*) FROM herald.jobs WHERE id = $id" 0 ||
    fail "job $id was not completed"
sql_is "SELECT sum(completed) FROM herald.counters" 1 ||
    fail "the completion of job $id was not counted"
[ "$elapsed" -lt 10000 ] || fail "heraldd took $elapsed ms to stop"
log_has 'msg="heraldd stopping"' || fail "heraldd did not log stopping"
log_has 'msg="heraldd stopped"' || fail "heraldd did not log stopped"
sql_is "SELECT count(*) FROM herald.processes" 0 ||
    fail "heraldd left rows in herald.processes"
check_no_leftovers

note "a job longer than the grace period is killed and put back"
echo 300 >"$TEST_DIR/sleep_s"
conf 500ms
start_heraldd
id=$(start_job)
handler=$(cat "$TEST_DIR/handler.$id")
start=$(now_ms)
stop_heraldd 10
elapsed=$(($(now_ms) - start))
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
not_alive "$handler" || fail "handler $handler of job $id still runs"
[ -f "$TEST_DIR/done.$id" ] && fail "job $id finished instead of being killed"
sql_is "SELECT state || ' ' || attempt || ' ' || jsonb_array_length(errors)
    FROM herald.jobs WHERE id = $id" "queued 0 0" ||
    fail "job $id is not back in its queue with its attempt uncounted"
log_has "msg=\"job released\".* job_id=$id " ||
    fail "the log does not report the release of job $id"
[ "$elapsed" -lt 5000 ] || fail "heraldd took $elapsed ms to stop"
check_no_leftovers
exit 0
