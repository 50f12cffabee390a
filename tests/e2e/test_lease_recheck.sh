#!/bin/sh
# A worker that reconnects renews its leases, by token and owner, before
# it records any result.  A claim that committed without a WAL flush can
# be undone by a server crash, and its lease token handed to another
# claim of the same job.  The test simulates that: while the worker
# is cut off and its handler ends, its lease passes to another owner
# under the same token.  The worker must then log the lease as lost and
# leave the job alone, not complete it under the other owner's lease.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_handler hold <<EOF2
#!/bin/sh
touch "$TEST_DIR/started"
i=0
while [ ! -e "$TEST_DIR/release" ] && [ \$i -lt 600 ]; do
    sleep 0.05
    i=\$((i + 1))
done
touch "$TEST_DIR/ended"
EOF2
write_conf <<EOF2
queues = { rq = { workers = 1; concurrency = 1; }; };
tasks = { hold = { queue = "rq"; exec = [ "$TEST_DIR/hold" ]; }; };
EOF2
start_heraldd

allow_connections() {
    admin_sql "ALTER DATABASE \"$TEST_DB\" ALLOW_CONNECTIONS $1" >/dev/null ||
        fail "could not set ALLOW_CONNECTIONS $1 on $TEST_DB"
}

note "a job runs"
id=$(enqueue hold "queue => 'rq'")
wait_for 10 "job $id to start" test -e "$TEST_DIR/started"
token=$(sql "SELECT lease_token FROM herald.live_jobs
    WHERE id = $id AND state = 'running'")
[ -n "$token" ] || fail "job $id has no lease"

note "its lease passes to another owner under the same token"
sql "UPDATE herald.leases SET owner = 'another-worker'
    WHERE token = $token" >/dev/null

note "the worker is cut off while its handler ends"
allow_connections false
terminated=$(admin_sql "SELECT count(pg_terminate_backend(pid))
    FROM pg_stat_activity WHERE datname = '$TEST_DB'
      AND application_name = 'herald worker rq'")
[ "$terminated" = 1 ] || fail "found $terminated worker backends, not 1"
wait_for 10 "the lost connection to be logged" log_has \
    'msg="job database connection lost".* queue=rq'
touch "$TEST_DIR/release"
wait_for 10 "the handler to end" test -e "$TEST_DIR/ended"
wait_for 10 "a failed reconnection" log_has \
    'msg="could not connect to job database"'
allow_connections true

note "the worker finds the lease lost and records nothing"
lost="msg=\"job lease lost\" role=worker pid=[0-9]* job_id=$id "
completed="msg=\"job completed\" role=worker pid=[0-9]* job_id=$id "
outcome_logged() {
    log_has "$lost" || log_has "$completed"
}
wait_for 40 "the worker to log the job's outcome" outcome_logged
! log_has "$completed" ||
    fail "job $id was completed under another worker's lease"
log_has "$lost" || fail "the lost lease of job $id was not logged"
sql_is "SELECT count(*) FROM herald.jobs WHERE id = $id" 1 ||
    fail "job $id was deleted under another worker's lease"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
