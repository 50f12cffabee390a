#!/bin/sh
# A module handler that aborts ends its worker and the jobs running
# beside it.  The replacement counts a lost attempt for the crashing job
# alone.  That job waits its retry delay, with the signal in its history
# and a "job crashed its worker" line.  The others go back to their queue
# with no attempt counted, run again and complete.  Such a crash does not
# count toward restart_limit: three crashed jobs in a row, with a limit
# of two failures, leave the worker running.  A handler that calls
# exit(), or a module whose initializer does, is blamed the same way.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

MODULE="$HERALD_BUILDDIR/tests/e2e/.libs/test-module.so"
[ -f "$MODULE" ] || fail "test module $MODULE was not built"

write_conf <<EOF2
restart_limit = { failures = 2; };
queues = { mq = { workers = 1; concurrency = 4; poll_interval = "100ms"; }; };
tasks = {
    mod = {
        queue = "mq";
        module = { path = "$MODULE"; symbol = "test_handler"; };
        retry = { max_attempts = 3; base_delay = "30s"; factor = 1.0;
                  jitter = 0.0; };
    };
};
EOF2
sed -i 's/log_level = "debug"/log_level = "info"/' "$HERALD_CONF"
start_heraldd
wait_for 15 "the worker to register" workers_registered 1

# Three jobs run for 3 s; the fourth aborts after 1 s, while they run.
ids=$(sql "SELECT string_agg(herald.enqueue('mod', queue => 'mq',
        payload => CASE WHEN i = 4 THEN '{\"sleep_ms\": 1000, \"abort\": true}'
                        ELSE '{\"sleep_ms\": 3000}' END::jsonb)::text, ' '
        ORDER BY i)
    FROM generate_series(1, 4) AS i")
crash=${ids##* }
others=$(echo "${ids% *}" | tr ' ' ',')

wait_for 20 "the crash to be taken back" log_has \
    "msg=\"job crashed its worker\" .*job_id=$crash .*signal=6 "
# The take-back is logged after the crash, in a line of its own.
wait_for 10 "the jobs beside the crash to be released" log_has \
    "msg=\"jobs of dead worker taken back\" .*jobs=4 lost=1 released=3 "

note "the crashing job counts the attempt and waits its retry delay"
sql_is "SELECT attempt || ' ' || (run_at > now() + interval '20 seconds')
    FROM herald.jobs WHERE id = $crash" "1 true" ||
    fail "job $crash: $(sql "SELECT attempt, run_at - now() FROM herald.jobs
        WHERE id = $crash")"
sql_is "SELECT (errors->-1->>'outcome') || ' ' || (errors->-1->>'signal')
        || ' ' || (errors->-1->>'output' LIKE '%signal 6%')
    FROM herald.jobs WHERE id = $crash" "lost 6 true" ||
    fail "the history of job $crash does not name the signal: $(sql "SELECT errors
        FROM herald.jobs WHERE id = $crash")"

note "the jobs beside it run again with no attempt counted, and complete"
wait_for 20 "jobs $others to complete" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE id IN ($others)" 0
sql_is "SELECT coalesce(sum(completed), 0) FROM herald.counters
    WHERE task = 'mod'" 3 || fail "the three jobs were not completed once"
sql_is "SELECT count(*) FROM herald.dead_jobs" 0 || fail "a job died"
! log_has "msg=\"job lost\" .*job_id=\($(echo "$others" | sed 's/,/\\|/g')\) " ||
    fail "a job beside the crash counted a lost attempt"

note "crashes of module jobs do not stop the worker's restarts"
more=$(sql "SELECT string_agg(herald.enqueue('mod', queue => 'mq',
        payload => '{\"sleep_ms\": 100, \"abort\": true}')::text, ' ')
    FROM generate_series(1, 2)")
for id in $more; do
    wait_for 20 "job $id to crash its worker" log_has \
        "msg=\"job crashed its worker\" .*job_id=$id .*signal=6 "
    [ "$(grep -c "msg=\"job crashed its worker\" .*job_id=$id " \
        "$HERALDD_LOG")" -eq 1 ] || fail "job $id was blamed more than once"
done
! log_has 'msg="child failed, restarts paused"' ||
    fail "the crashes of module jobs paused the worker's restarts"
# The two jobs may crash one worker together or one each, so every
# worker that died of SIGABRT counts: two or three.
deaths=$(grep -c 'msg="child exited" .*child_role=worker .*signal=6 ' \
    "$HERALDD_LOG")
[ "$deaths" -ge 2 ] || fail "expected 2 or 3 crashed workers, got $deaths"
[ "$(grep -c 'msg="restart not counted as a failure" .*reason=module_crash' \
    "$HERALDD_LOG")" -eq "$deaths" ] ||
    fail "expected $deaths restarts not counted"
wait_for 15 "the worker to run again" workers_registered 1

note "a handler that calls exit() is blamed as one that crashes"
ids=$(sql "SELECT string_agg(herald.enqueue('mod', queue => 'mq',
        payload => CASE WHEN i = 2 THEN '{\"sleep_ms\": 300, \"exit\": 3}'
                        ELSE '{\"sleep_ms\": 1500}' END::jsonb)::text, ' '
        ORDER BY i)
    FROM generate_series(1, 2) AS i")
quitter=${ids##* }
beside=${ids%% *}
wait_for 20 "the exit to be taken back" log_has \
    "msg=\"job ended its worker\" .*job_id=$quitter .*cause=exit "
sql_is "SELECT (errors->-1->>'outcome') || ' ' ||
        coalesce(errors->-1->>'signal', 'none') || ' ' ||
        (errors->-1->>'output' LIKE '%called exit()%')
    FROM herald.jobs WHERE id = $quitter" "lost none true" ||
    fail "the history of job $quitter does not name the exit: $(sql "SELECT
        errors FROM herald.jobs WHERE id = $quitter")"
wait_for 20 "job $beside to complete" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE id = $beside" 0
! log_has "msg=\"job lost\" .*job_id=$beside " ||
    fail "the job beside the exit counted a lost attempt"
log_has "msg=\"restart not counted as a failure\" .*job_id=$quitter " ||
    fail "the exit counted toward restart_limit"
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"

note "a module whose initializer calls exit() uses up its job's attempts"
# Each worker loads the module for the job and ends.  The job must die
# after its attempts, and a job of another task on the queue must run.
sed -i 's/base_delay = "30s"/base_delay = "10ms"/' \
    "$HERALD_CONF"
sed -i 's|^tasks = {|tasks = {\n    other = { queue = "mq"; exec = [ "/bin/true" ]; };|' \
    "$HERALD_CONF"
: >"$HERALDD_LOG"
export HERALD_TEST_MODULE_INIT=exit
start_heraldd
unset HERALD_TEST_MODULE_INIT
doomed=$(sql "SELECT herald.enqueue('mod', queue => 'mq', max_attempts => 2)")
wait_for 30 "job $doomed to die" sql_is \
    "SELECT count(*) FROM herald.dead_jobs WHERE id = $doomed" 1
sql_is "SELECT attempt FROM herald.dead_jobs WHERE id = $doomed" 2 ||
    fail "job $doomed died after $(sql "SELECT attempt FROM herald.dead_jobs
        WHERE id = $doomed") attempts, expected 2"
other=$(sql "SELECT herald.enqueue('other', queue => 'mq')")
wait_for 15 "job $other of the other task to run" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE id = $other" 0
! log_has 'msg="child failed, restarts paused"' ||
    fail "the module's exits paused the worker's restarts"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
