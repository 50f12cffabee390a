#!/bin/sh
# A herald command stopped by a signal while its statement waits for a
# lock cancels the statement in the server.  Without the cancel, the
# server goes on waiting with herald's transaction and its locks until
# the lock is released, long after herald has gone.  Nothing changes.
# The signals are SIGTERM and SIGHUP, since a background job of a shell
# without job control ignores SIGINT; all three take the same path.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

unset HERALD_CONFIG

for i in 1 2; do
    id=$(enqueue send_mail "queue => 'mail'")
    token=$(sql "SELECT lease_token FROM herald.claim('mail', 'test', 1,
        60000) WHERE id = $id")
    [ "$(sql "SELECT herald.fail($id, $token, '{}', true, 0)")" = dead ] ||
        fail "could not make job $id dead"
done

note "another session locks the dead jobs"
open_session
echo "BEGIN; LOCK TABLE herald.dead_jobs IN ACCESS EXCLUSIVE MODE;" >&3
wait_for 10 "the lock on herald.dead_jobs to be held" sql_is \
    "SELECT count(*) FROM pg_locks
     WHERE relation = 'herald.dead_jobs'::regclass
       AND mode = 'AccessExclusiveLock' AND granted" 1

# stop_purge SIGNAL STATUS: start herald dead purge, which waits for the
# lock, stop it with SIGNAL, and check that it exits with STATUS and that
# its statement ends in the server.
stop_purge() {
    note "herald dead purge waits for the lock and gets SIG$1"
    "$HERALD" -d "$JOB_DB" dead purge --all --yes >"$TEST_DIR/purge" \
        2>"$TEST_DIR/purge.err" &
    _pid=$!
    wait_for 10 "herald dead purge to wait for the lock" sql_is \
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'herald'
           AND wait_event_type = 'Lock'" 1
    kill -"$1" "$_pid"
    _status=0
    wait "$_pid" || _status=$?
    [ "$_status" -eq "$2" ] || fail "herald exited with $_status after SIG$1"
    wait_for 10 "the server to end herald's statement after SIG$1" sql_is \
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'herald'" 0
    [ ! -s "$TEST_DIR/purge" ] ||
        fail "the stopped purge printed: $(cat "$TEST_DIR/purge")"
}

stop_purge TERM 143
# A dropped ssh session sends SIGHUP.
stop_purge HUP 129

echo "COMMIT;" >&3
close_session
sql_is "SELECT count(*) FROM herald.dead_jobs" 2 ||
    fail "the stopped purges deleted dead jobs"
exit 0
