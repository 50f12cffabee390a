#!/bin/sh
# Drill: heraldd is killed while PostgreSQL is down and a handler runs.
# Its worker gets SIGTERM from the kernel and stops, but it cannot give
# the job back without the database.  It must exit all the same once the
# grace period and the margin after it are over, when heraldd would have
# killed it, and leave the job to the janitor: the job runs again after
# PostgreSQL and heraldd are back.  This drill stops PostgreSQL, so it
# runs its own server.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

start_private_pg
write_handler hang <<EOF2
#!/bin/sh
cat >/dev/null
echo "\$HERALD_ATTEMPT" >>"$TEST_DIR/starts"
sleep 300
EOF2
write_conf 1s <<EOF2
lease = "2s";
queues = { oq = { workers = 1; }; };
tasks = { hang = { queue = "oq"; exec = [ "$TEST_DIR/hang" ]; }; };
EOF2
start_heraldd

id=$(enqueue hang "queue => 'oq'")
started() {
    [ -s "$TEST_DIR/starts" ] && [ "$(grep -c . "$TEST_DIR/starts")" -ge "$1" ]
}
wait_for 10 "job $id to start" started 1
worker=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'")
[ -n "$worker" ] || fail "no worker registered"

note "stopping PostgreSQL, then killing heraldd"
pg_ctl_private -w stop -m fast || fail "could not stop PostgreSQL"
kill -KILL "$HERALDD_PID"
wait "$HERALDD_PID" 2>/dev/null
HERALDD_PID=
killed_at=$(now_ms)
# A grace period of 1 s, 3 s for the handlers to die after SIGTERM and a
# margin of 5 s, as heraldd allows before SIGKILL.
wait_for 20 "worker $worker to exit without heraldd" not_alive "$worker"
note "worker exited $(($(now_ms) - killed_at)) ms after heraldd was killed"
log_has 'msg="worker stopped with jobs not recorded"' ||
    fail "the worker did not report the jobs it left"

note "PostgreSQL and heraldd are back"
pg_ctl_private -w start || fail "could not start PostgreSQL"
start_heraldd
wait_for 20 "job $id to run again" started 2
sql_is "SELECT attempt FROM herald.live_jobs WHERE id = $id" 2 ||
    fail "job $id does not run its second attempt: $(sql "SELECT state,
        attempt FROM herald.live_jobs WHERE id = $id")"

stop_heraldd 20
stop_private_pg
check_no_leftovers
exit 0
