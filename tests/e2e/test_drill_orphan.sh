#!/bin/sh
# Drill: SIGKILL a worker while its handler runs.  The handler and the
# child it forked are gone within two seconds (heraldd, a subreaper,
# kills the orphans), the job runs again within a few seconds instead of
# after its 60-second lease, and two executions never overlap.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# The first attempt forks a long sleep and sleeps; a later attempt ends
# at once.  Each execution records its pid and notes any execution of
# the job that still runs.
write_handler long <<EOF2
#!/bin/sh
for f in "$TEST_DIR"/running.*; do
    [ -e "\$f" ] || continue
    kill -0 "\$(cat "\$f")" 2>/dev/null && echo overlap >>"$TEST_DIR/overlap"
done
echo \$\$ >"$TEST_DIR/running.\$\$"
echo "\$HERALD_ATTEMPT \$\$" >>"$TEST_DIR/starts"
if [ "\$HERALD_ATTEMPT" -gt 1 ]; then
    exit 0
fi
env -i /bin/sleep 301 &
echo \$! >"$TEST_DIR/bare"
sleep 300 &
echo \$! >"$TEST_DIR/grandchild"
sleep 300
EOF2

# A handler that leaves a process in a session of its own and ends.
write_handler leaver <<EOF2
#!/bin/sh
setsid /bin/sleep 302 </dev/null >/dev/null 2>&1 &
left=\$!
# Out of the handler's group before the handler ends and the group dies.
while [ "\$(ps -o sid= -p \$left | tr -d ' ')" != "\$left" ]; do
    sleep 0.01
done
echo \$left >"$TEST_DIR/left"
EOF2

write_conf <<EOF2
queues = { oq = { workers = 1; concurrency = 2; poll_interval = "500ms"; }; };
tasks = { long = { queue = "oq"; exec = [ "$TEST_DIR/long" ];
                   retry = { max_attempts = 3; base_delay = "100ms"; }; };
          leaver = { queue = "oq"; exec = [ "$TEST_DIR/leaver" ]; }; };
EOF2
start_heraldd

note "a process a finished handler left in its own session is killed"
leaver=$(enqueue leaver "queue => 'oq'")
wait_for 10 "the leaving handler to start its process" test -s "$TEST_DIR/left"
left=$(cat "$TEST_DIR/left")
wait_for 15 "heraldd to kill the process left behind" not_alive "$left"
log_has "msg=\"orphaned handler killed\" .* handler_pid=$left job_id=$leaver attempt=1" ||
    fail "the process left by job $leaver was not reported with its job"

id=$(enqueue long "queue => 'oq'")
has_grandchild() { [ -s "$TEST_DIR/grandchild" ]; }
wait_for 10 "the handler to start" has_grandchild
handler=$(sed -n '1s/^1 //p' "$TEST_DIR/starts")
grandchild=$(cat "$TEST_DIR/grandchild")
alive "$handler" || fail "handler $handler is not running"
worker=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'")
[ -n "$worker" ] || fail "no worker registered"

note "killing worker $worker (handler $handler, its child $grandchild)"
kill -KILL "$worker"
killed_at=$(now_ms)
wait_for 2 "the orphaned handler to die" not_alive "$handler"
wait_for 2 "the handler's child to die" not_alive "$grandchild"
wait_for 2 "heraldd to report the orphans with their job" log_has \
    "msg=\"orphaned handler killed\" .* job_id=$id attempt=1"
# One with an empty environment is reported too, with no job id.
bare=$(cat "$TEST_DIR/bare")
wait_for 2 "heraldd to report the orphan with no environment" log_has \
    "msg=\"orphaned handler killed\" .* handler_pid=$bare job_id=unknown"
# The handler died with its worker; only the processes it left are
# killed, and each is reported once.
killed=$(grep 'msg="orphaned handler killed"' "$HERALDD_LOG" |
    sed 's/.* handler_pid=\([0-9]*\).*/\1/')
[ "$(echo "$killed" | sort | uniq -d)" = "" ] ||
    fail "an orphan was reported twice: $(echo $killed)"

second_start() { grep -q '^2 ' "$TEST_DIR/starts" 2>/dev/null; }
wait_for 5 "the job to run again" second_start
note "job ran again $(($(now_ms) - killed_at)) ms after the kill"
job_gone() { sql_is "SELECT count(*) FROM herald.jobs WHERE id = $id" 0; }
wait_for 5 "the job to complete" job_gone

[ ! -e "$TEST_DIR/overlap" ] || fail "two executions of the job overlapped"
[ "$(grep -c . "$TEST_DIR/starts")" -eq 2 ] ||
    fail "expected 2 executions, got: $(cat "$TEST_DIR/starts")"
log_has 'msg="jobs of dead worker taken back"' ||
    fail "the new worker did not take the jobs back"
sql_is "SELECT coalesce(sum(completed), 0) FROM herald.counters
    WHERE task = 'long'" 1 || fail "the job did not complete once"
alive "$HERALDD_PID" || fail "heraldd died"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
