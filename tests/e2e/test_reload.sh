#!/bin/sh
# SIGHUP replaces exactly the children whose settings changed: a new
# max_jobs replaces the queue's workers and leaves the janitor running, a
# new retention replaces the janitor and leaves the workers running, and
# an unchanged file replaces nothing.  A file whose connection string
# libpq rejects is not taken, and a worker that dies afterwards restarts
# with the file that heraldd checked.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

# conf MAX_JOBS DEAD_RETENTION
conf() {
    write_conf <<EOF2
queues = { rq = { workers = 1; max_jobs = $1; }; };
tasks = { ok = { queue = "rq"; exec = [ "/bin/true" ]; }; };
retention = { dead = "$2"; };
EOF2
}

pid_of() {
    sql "SELECT coalesce(max(pid), 0) FROM herald.processes
        WHERE kind = '$1'"
}

registered() {
    [ "$(pid_of "$1")" -ne 0 ]
}

# replaced KIND OLD_PID: succeed once another process of KIND registered
# and OLD_PID exited.
replaced() {
    _now=$(pid_of "$1")
    [ "$_now" -ne 0 ] && [ "$_now" -ne "$2" ] && not_alive "$2"
}

reloads_above() {
    [ "$(grep -c 'msg="configuration reloaded"' "$HERALDD_LOG")" -gt "$1" ]
}

# last_reload WORDS: succeed when the last reload line logged WORDS.
last_reload() {
    grep 'msg="configuration reloaded"' "$HERALDD_LOG" | tail -n 1 |
        grep -q -- "$1"
}

# reload N: send SIGHUP and wait for the Nth reload to be logged.
reload() {
    kill -HUP "$HERALDD_PID"
    wait_for 10 "reload $1" reloads_above $(($1 - 1))
}

conf 0 30d
start_heraldd
wait_for 10 "the janitor to register" registered janitor
worker=$(pid_of worker)
janitor=$(pid_of janitor)

note "a new max_jobs replaces the worker only"
conf 1000 30d
reload 1
last_reload "retired=1 started=1" ||
    fail "max_jobs did not replace one child"
log_has 'msg="queue changed" .*queue=rq changed=max_jobs$' ||
    fail "the reload did not name the changed setting of rq"
wait_for 10 "worker $worker to be replaced" replaced worker "$worker"
[ "$(pid_of janitor)" -eq "$janitor" ] && alive "$janitor" ||
    fail "a new max_jobs replaced the janitor"
worker=$(pid_of worker)

note "a new retention replaces the janitor only"
started=$(sql "SELECT started_at FROM herald.processes
    WHERE kind = 'supervisor'")
conf 1000 7d
reload 2
last_reload "retired=1 started=1" ||
    fail "retention did not replace one child"
log_has 'msg="settings changed" .*changed=retention$' ||
    fail "the reload did not name the retention"
wait_for 10 "janitor $janitor to be replaced" replaced janitor "$janitor"
[ "$(pid_of worker)" -eq "$worker" ] && alive "$worker" ||
    fail "a new retention replaced the worker"
wait_for 10 "the new janitor to keep dead jobs 7 days" \
    sql_is "SELECT dead_ms FROM herald.retention" $((7 * 86400000))
# The old janitor left the supervisor's registration alone.
sql_is "SELECT started_at FROM herald.processes WHERE kind = 'supervisor'" \
    "$started" || fail "replacing the janitor registered heraldd anew"
log_has 'msg="registration removed, restarting"' &&
    fail "a child found its registration removed"

note "an unchanged file replaces nothing"
changes=$(grep -Ec 'msg="(queue|task|settings) (added|removed|changed)"' \
    "$HERALDD_LOG")
reload 3
last_reload 'retired=0 started=0' ||
    fail "an unchanged file replaced children"
[ "$(grep -Ec 'msg="(queue|task|settings) (added|removed|changed)"' \
    "$HERALDD_LOG")" -eq "$changes" ] ||
    fail "an unchanged file logged changes: $(tail -n 5 "$HERALDD_LOG")"

note "a connection string that libpq rejects keeps the running file"
cp "$HERALD_CONF" "$TEST_DIR/good.conf"
sed 's/^job_db = .*/job_db = "host=\/tmp bogus_keyword=1";/' \
    "$TEST_DIR/good.conf" >"$HERALD_CONF"
kill -HUP "$HERALDD_PID"
wait_for 10 "the reload to fail" log_has \
    'msg="configuration reload failed, keeping the running configuration".*job_db: invalid connection string'
[ "$(pid_of worker)" -eq "$worker" ] && alive "$worker" ||
    fail "a rejected file replaced the worker"

note "a restarted worker runs the file heraldd checked, not the one on disk"
kill -KILL "$worker"
wait_for 10 "worker $worker to be replaced" replaced worker "$worker"
log_has 'msg="configuration invalid"' &&
    fail "the restarted worker read the file on disk"

enqueue ok "queue => 'rq'" >/dev/null
wait_for 10 "the job to finish" sql_is "SELECT count(*) FROM herald.live_jobs" 0

note "a reload names the queues and tasks it adds and removes"
write_conf <<EOF2
queues = { rq2 = { workers = 2; }; };
tasks = { ok2 = { queue = "rq2"; exec = [ "/bin/true" ]; }; };
retention = { dead = "7d"; };
EOF2
reload 4
for line in 'msg="queue removed" .*queue=rq$' \
    'msg="queue added" .*queue=rq2 workers=2$' \
    'msg="task removed" .*task=ok queue=rq$' \
    'msg="task added" .*task=ok2 queue=rq2$'; do
    log_has "$line" || fail "no line like /$line/ after the reload"
done
# Tasks came and went, but no event route changed.
log_has 'msg="settings changed" .*events' &&
    fail "a reload that changed no event route logged events"

note "a reload names the settings of a task it changes"
write_conf <<EOF2
queues = { rq2 = { workers = 2; }; };
tasks = { ok2 = { queue = "rq2"; exec = [ "/bin/true" ]; timeout = "5s"; }; };
retention = { dead = "7d"; };
EOF2
reload 5
log_has 'msg="task changed" .*task=ok2 queue=rq2 changed=timeout$' ||
    fail "the reload did not name the changed timeout of ok2"

note "a reload names the other settings it changes"
write_conf <<EOF2
queues = { rq2 = { workers = 2; }; };
tasks = { ok2 = { queue = "rq2"; exec = [ "/bin/true" ]; timeout = "5s"; }; };
retention = { dead = "7d"; };
restart_limit = { failures = 9; };
confirm_over = 7;
EOF2
reload 6
log_has 'msg="settings changed" .*changed=restart_limit,confirm_over$' ||
    fail "the reload did not name restart_limit and confirm_over"
stop_heraldd 10
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
