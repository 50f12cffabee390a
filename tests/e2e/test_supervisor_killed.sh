#!/bin/sh
# heraldd killed with SIGKILL keeps its registration.  Its children get
# SIGTERM from the kernel and stop.  Its janitor removes the supervisor's
# row on a normal stop, but leaves it here.  So the console shows the host
# dead until the row is pruned, instead of showing nothing.  A heraldd
# started again registers beside it.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_conf <<EOF2
queues = { mail = { workers = 1; }; };
tasks = { send_mail = { queue = "mail"; exec = [ "/bin/true" ]; }; };
EOF2
start_heraldd
supervisor=$(sql "SELECT id FROM herald.processes WHERE kind = 'supervisor'")
janitor=$(sql "SELECT pid FROM herald.processes WHERE kind = 'janitor'")
[ -n "$supervisor" ] && [ -n "$janitor" ] ||
    fail "no supervisor or janitor registered: $(sql "SELECT kind, pid
        FROM herald.processes")"

note "heraldd is killed"
kill -KILL "$HERALDD_PID"
wait "$HERALDD_PID" 2>/dev/null
HERALDD_PID=
wait_for 20 "the janitor to exit" not_alive "$janitor"
wait_for 20 "the worker to unregister" workers_registered 0
log_has "msg=\"supervisor gone, its registration kept\" .*supervisor_id=$supervisor " ||
    fail "the janitor did not log that it kept the registration"
sql_is "SELECT count(*) FROM herald.processes
    WHERE id = '$supervisor' AND kind = 'supervisor'" 1 ||
    fail "the killed supervisor's registration was removed"

note "heraldd starts again beside the dead registration"
start_heraldd
sql_is "SELECT count(*) FROM herald.processes WHERE kind = 'supervisor'" 2 ||
    fail "expected the dead and the new supervisor: $(sql "SELECT id, pid
        FROM herald.processes WHERE kind = 'supervisor'")"
stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
sql_is "SELECT count(*) FROM herald.processes
    WHERE kind = 'supervisor' AND id <> '$supervisor'" 0 ||
    fail "a normal stop left the new supervisor's registration"
check_no_leftovers
exit 0
