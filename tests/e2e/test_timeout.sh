#!/bin/sh
# A handler that outlives its timeout is stopped with its whole process
# group, including a grandchild that ignores SIGTERM, and the attempt is
# recorded with the outcome timeout.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# The grandchild ignores SIGTERM, so only the SIGKILL to the group that
# follows the handler's exit ends it.
write_handler slow.sh <<EOF2
#!/bin/sh
sh -c 'trap "" TERM; sleep 300' &
echo \$! >"$TEST_DIR/grandchild.\$HERALD_JOB_ID"
echo \$\$ >"$TEST_DIR/handler.\$HERALD_JOB_ID"
sleep 300
EOF2
# Every process of this one ignores SIGTERM, so it takes SIGKILL.
write_handler stubborn.sh <<EOF2
#!/bin/sh
trap "" TERM
echo \$\$ >"$TEST_DIR/handler.\$HERALD_JOB_ID"
sleep 300
EOF2

write_conf <<EOF2
queues = { tq = { workers = 1; concurrency = 2; }; };
tasks = {
  slow = { queue = "tq"; exec = [ "$TEST_DIR/slow.sh" ]; timeout = "1s"; };
  stubborn = { queue = "tq"; exec = [ "$TEST_DIR/stubborn.sh" ];
               timeout = "1s"; };
};
EOF2
start_heraldd

slow=$(enqueue slow "queue => 'tq', max_attempts => 1")
stubborn=$(enqueue stubborn "queue => 'tq', max_attempts => 1")
wait_for 10 "the slow handler to start" \
    test -s "$TEST_DIR/grandchild.$slow" -a -s "$TEST_DIR/handler.$slow"
wait_for 10 "the stubborn handler to start" \
    test -s "$TEST_DIR/handler.$stubborn"
handler=$(cat "$TEST_DIR/handler.$slow")
grandchild=$(cat "$TEST_DIR/grandchild.$slow")
stubborn_pid=$(cat "$TEST_DIR/handler.$stubborn")
alive "$grandchild" || fail "the grandchild $grandchild is not running"

note "the handler and its grandchild are gone after the timeout"
wait_for 10 "job $slow to die" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $slow" exhausted
not_alive "$handler" || fail "handler $handler still runs after its timeout"
not_alive "$grandchild" ||
    fail "grandchild $grandchild still runs after its handler's timeout"
sql_is "SELECT errors->0->>'outcome' FROM herald.dead_jobs WHERE id = $slow" \
    timeout || fail "the attempt of job $slow is not recorded as timeout"
duration=$(sql "SELECT errors->0->>'duration_ms' FROM herald.dead_jobs
    WHERE id = $slow")
[ "$duration" -ge 1000 ] && [ "$duration" -lt 3000 ] ||
    fail "job $slow ran $duration ms with a timeout of 1000 ms"
log_has "msg=\"job failed\".* job_id=$slow task=slow queue=tq attempt=1 status=timeout" ||
    fail "the log does not report the timeout of job $slow"

note "a handler that ignores SIGTERM is killed"
wait_for 10 "job $stubborn to die" \
    sql_is "SELECT reason FROM herald.dead_jobs WHERE id = $stubborn" exhausted
not_alive "$stubborn_pid" ||
    fail "handler $stubborn_pid still runs after SIGKILL"
sql_is "SELECT (errors->0->>'outcome') || ' ' || (errors->0->>'signal')
    FROM herald.dead_jobs WHERE id = $stubborn" "timeout 9" ||
    fail "the attempt of job $stubborn is not a timeout ended by SIGKILL"

# The processes a worker killed at a timeout come to heraldd while they
# die; no worker died, so none is an orphan.
! log_has 'msg="orphaned handler killed"' ||
    fail "heraldd reported processes its worker killed as orphans: $(grep orphaned "$HERALDD_LOG")"

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
