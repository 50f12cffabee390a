#!/bin/sh
# Drill: two heraldd on one job database.  One janitor is active; when it
# is killed another takes over within seconds, and leaves the live workers
# registered although their heartbeats look old.  One frozen (SIGSTOP),
# idle or inside its transaction, loses its lock to another within 10 s
# or so.  A supervisor whose janitor stopped is kept while a worker of
# its own beats.  The active janitor
# prunes old counters and dead jobs in batches while workers run, removes
# the registrations of a supervisor whose heartbeat stopped, and a worker
# whose registration was removed is started again.  The server log shows
# no deadlock.  This drill reads the server log, so it runs its own
# server.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

start_private_pg
write_conf <<EOF2
retention = { counters = "1d"; dead = "2d"; };
queues = { dq = { workers = 2; concurrency = 2; }; };
tasks = { probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG", "20" ]; }; };
EOF2
SECOND_LOG="$TEST_DIR/heraldd2.log"

note "old rows to prune and a supervisor that stopped long ago"
sql "INSERT INTO herald.counters (minute, queue, task, completed)
     SELECT now() - interval '3 days' - n * interval '1 minute', 'dq',
         'probe', 1
     FROM generate_series(1, 3000) n;
     INSERT INTO herald.dead_jobs (id, task, queue, payload, priority,
         attempt, max_attempts, created_at, died_at, reason, errors)
     SELECT 1000000 + n, 'probe', 'dq', '{}', 0, 1, 1,
         now() - interval '4 days', now() - interval '3 days', 'exhausted',
         '[{\"outcome\": \"failed\"}]'
     FROM generate_series(1, 1200) n;
     INSERT INTO herald.dead_jobs (id, task, queue, payload, priority,
         attempt, max_attempts, created_at, died_at, reason, errors)
     VALUES (2000000, 'probe', 'dq', '{}', 0, 1, 1, now(), now(),
         'exhausted', '[{\"outcome\": \"failed\"}]');
     INSERT INTO herald.processes (id, kind, supervisor_id, host, pid,
         heartbeat_at)
     VALUES ('gone', 'supervisor', NULL, 'elsewhere', 1,
             now() - interval '10 minutes'),
            ('gone-worker', 'worker', 'gone', 'elsewhere', 2,
             now() - interval '10 minutes'),
            ('quiet', 'supervisor', NULL, 'elsewhere', 3,
             now() - interval '10 minutes'),
            ('quiet-worker', 'worker', 'quiet', 'elsewhere', 4, now())" ||
    fail "could not insert old rows"

note "two heraldd start with load"
enqueue_probes 400
start_heraldd
"$HERALDD" -c "$HERALD_CONF" 2>>"$SECOND_LOG" &
SECOND_PID=$!
wait_for 10 "4 workers to register" workers_registered 4

# The janitor's lock is the only advisory lock with one bigint key
# (objsubid 1); waiting workers hold locks with two integer keys.  Tests
# that run at the same time use other databases of the cluster.
active_janitors() {
    sql "SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND objsubid = 1 AND granted
          AND database = (SELECT oid FROM pg_database
                          WHERE datname = current_database())"
}
one_active() {
    [ "$(active_janitors)" -eq 1 ]
}
wait_for 10 "a janitor to become active" one_active
sleep 3
one_active || fail "$(active_janitors) janitors hold the lock"
[ "$(cat "$HERALDD_LOG" "$SECOND_LOG" | grep -c 'msg="janitor active"')" -eq 1 ] ||
    fail "more than one janitor reported itself active"
janitor=$(sed -n 's/.*msg="janitor active" role=janitor pid=\([0-9]*\) .*/\1/p' \
    "$HERALDD_LOG" "$SECOND_LOG")
# The console marks the janitor whose backend holds the lock as active.
ACTIVE_JANITOR="SELECT string_agg(pid::text, ',') FROM herald.processes
    WHERE kind = 'janitor' AND backend_pid = herald.janitor_backend_pid()"
sql_is "$ACTIVE_JANITOR" "$janitor" ||
    fail "the processes marked active are '$(sql "$ACTIVE_JANITOR")', not janitor $janitor"

note "the active janitor prunes in batches"
wait_for 15 "old counters and dead jobs to go" sql_is \
    "SELECT (SELECT count(*) FROM herald.counters
             WHERE minute < now() - interval '1 day') + (SELECT count(*)
             FROM herald.dead_jobs WHERE died_at < now() - interval '2 days')" 0
sql_is "SELECT count(*) FROM herald.dead_jobs WHERE id = 2000000" 1 ||
    fail "a dead job within its retention was pruned"
# The janitor removes no registration in its first 15 s, the time live
# processes have to reconnect after an outage.
wait_for 30 "the stale supervisor to be removed" sql_is \
    "SELECT count(*) FROM herald.processes
     WHERE id IN ('gone', 'gone-worker')" 0
# A supervisor whose janitor stopped writing its heartbeat is not dead
# while a child of its own still beats.
sql_is "SELECT count(*) FROM herald.processes
    WHERE id IN ('quiet', 'quiet-worker')" 2 ||
    fail "a supervisor with a live worker was removed with its worker"
sql "DELETE FROM herald.processes WHERE id IN ('quiet', 'quiet-worker')" \
    >/dev/null

note "the active janitor is killed and another takes over"
# The live workers' heartbeats look as old as after a long outage.  The
# janitor is stopped first, so that it cannot remove them itself.
kill -STOP "$janitor"
sql "UPDATE herald.processes SET heartbeat_at = now() - interval '10 minutes'
    WHERE kind = 'worker'" >/dev/null || fail "could not age the heartbeats"
kill -KILL "$janitor"
start=$(now_ms)
new_active() {
    [ "$(cat "$HERALDD_LOG" "$SECOND_LOG" |
        grep -c 'msg="janitor active"')" -eq 2 ]
}
wait_for 10 "another janitor to become active" new_active
note "a janitor took over $(($(now_ms) - start)) ms after the kill"
wait_for 10 "one janitor to hold the lock" one_active
successor=$(sed -n 's/.*msg="janitor active" role=janitor pid=\([0-9]*\) .*/\1/p' \
    "$HERALDD_LOG" "$SECOND_LOG" | grep -v "^$janitor\$")
sql_is "$ACTIVE_JANITOR" "$successor" ||
    fail "the processes marked active are '$(sql "$ACTIVE_JANITOR")', not janitor $successor"
wait_for 20 "the 4 workers to beat again" sql_is \
    "SELECT count(*) FROM herald.processes WHERE kind = 'worker'
       AND heartbeat_at > now() - interval '1 minute'" 4
if cat "$HERALDD_LOG" "$SECOND_LOG" |
    grep -q 'msg="registration removed, restarting" role=worker'; then
    fail "the new janitor removed live workers whose heartbeats were old"
fi

note "a frozen active janitor loses its lock to another"
kill -STOP "$successor"
start=$(now_ms)
third_active() {
    [ "$(cat "$HERALDD_LOG" "$SECOND_LOG" |
        grep -c 'msg="janitor active"')" -eq 3 ]
}
status=0
wait_for 20 "a janitor to take over from the frozen one" third_active ||
    status=$?
kill -CONT "$successor"
[ "$status" -eq 0 ] || fail "no janitor took over from the frozen one"
note "a janitor took over $(($(now_ms) - start)) ms after the freeze"
sleep 3
one_active || fail "$(active_janitors) janitors hold the lock after the thaw"

note "so does one frozen inside its transaction"
# A lock on herald.leases stops the active janitor inside the
# transaction that expires leases.  It is frozen there, then the lock is
# released, so it sits idle in its transaction.
active=$(sql "$ACTIVE_JANITOR")
open_session
echo "BEGIN; LOCK TABLE herald.leases IN ACCESS EXCLUSIVE MODE;" >&3
wait_for 10 "janitor $active to wait for the lock" sql_is \
    "SELECT count(*) FROM pg_stat_activity
     WHERE datname = current_database()
       AND application_name = 'herald janitor' AND wait_event_type = 'Lock'" 1
kill -STOP "$active"
echo "COMMIT;" >&3
close_session
start=$(now_ms)
fourth_active() {
    [ "$(cat "$HERALDD_LOG" "$SECOND_LOG" |
        grep -c 'msg="janitor active"')" -eq 4 ]
}
wait_for 20 "a janitor to take over from the one frozen in a transaction" \
    fourth_active
kill -CONT "$active"
note "a janitor took over $(($(now_ms) - start)) ms after the release"
sleep 3
one_active || fail "$(active_janitors) janitors hold the lock after the thaw"

note "a worker whose registration was removed is started again"
victim=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'
    ORDER BY pid LIMIT 1")
sql "DELETE FROM herald.processes WHERE pid = $victim" >/dev/null
wait_for 15 "worker $victim to exit" not_alive "$victim"
cat "$HERALDD_LOG" "$SECOND_LOG" |
    grep -q "msg=\"registration removed, restarting\" role=worker pid=$victim " ||
    fail "worker $victim did not log its removed registration"
wait_for 10 "4 workers to run again" workers_registered 4

wait_for 30 "every probe to finish" all_jobs_finished
check_no_job_lost_or_twice
kill -TERM "$SECOND_PID"
stop_heraldd 20
wait_for 20 "the second heraldd to exit" not_alive "$SECOND_PID"
if grep -q "deadlock detected" "$PRIVATE_PG/server.log"; then
    fail "deadlocks in the server log: $(grep -A3 'deadlock detected' "$PRIVATE_PG/server.log")"
fi
stop_private_pg
check_no_leftovers
exit 0
