# Functions of the crash drills (test_drill_*.sh), sourced after lib.sh.
#
# A drill runs jobs of the task "probe", whose handler (tests/e2e/probe)
# appends "start ID PID ATTEMPT" and "end ID PID ATTEMPT" to $PROBE_LOG
# for every execution, then checks that no job was lost and none was
# completed twice.

PROBE="$HERALD_BUILDDIR/tests/e2e/probe"
PROBE_LOG="$TEST_DIR/probe.log"
# The tasks of the jobs in drill_enqueued, as an SQL list.
DRILL_TASKS=${DRILL_TASKS:-"'probe'"}
[ -x "$PROBE" ] || fail "$PROBE is missing; run make check"

# enqueue_probes N [SQL ARGUMENTS]: enqueue N probe jobs in one
# transaction and remember their ids in the table drill_enqueued.
enqueue_probes() {
    sql "SET client_min_messages = warning;
        CREATE TABLE IF NOT EXISTS drill_enqueued (id bigint PRIMARY KEY);
        INSERT INTO drill_enqueued
        SELECT herald.enqueue('probe', ${2:-queue => 'dq'})
        FROM generate_series(1, $1)" >/dev/null ||
        fail "could not enqueue $1 probe jobs"
}

# load_probes: copy $PROBE_LOG into the table drill_runs (kind, job_id,
# pid, attempt).
load_probes() {
    sql "SET client_min_messages = warning;
        CREATE TABLE IF NOT EXISTS drill_runs (kind text, job_id bigint,
            pid integer, attempt integer);
        TRUNCATE drill_runs" || fail "could not create drill_runs"
    if [ -s "$PROBE_LOG" ]; then
        psql "$JOB_DB" -XAtq -v ON_ERROR_STOP=1 \
            -c "\\copy drill_runs FROM '$PROBE_LOG' WITH (DELIMITER ' ')" ||
            fail "could not load $PROBE_LOG"
    fi
}

# Succeed when no enqueued job is left in herald.live_jobs, which has the
# jobs of the inbox too.
all_jobs_finished() {
    sql_is "SELECT count(*) FROM herald.live_jobs
        WHERE id IN (SELECT id FROM drill_enqueued)" 0
}

# completed_ids: print the job ids that heraldd logged as completed.
completed_ids() {
    sed -n 's/.*msg="job completed".* job_id=\([0-9]*\) .*/\1/p' \
        "$HERALDD_LOG" | sort -n
}

# check_no_job_lost_or_twice: every enqueued job ended completed or dead
# (with its history), none was completed twice, and every completed job
# ran to its end at least once.  The counters count each completion in
# the transaction that deletes the job, so they are exact; the log may
# miss the line of a worker killed right after its commit.
check_no_job_lost_or_twice() {
    _enqueued=$(sql "SELECT count(*) FROM drill_enqueued")
    sql_is "SELECT count(*) FROM herald.live_jobs
        WHERE id IN (SELECT id FROM drill_enqueued)" 0 ||
        fail "jobs left unfinished: $(sql "SELECT id, state, attempt
            FROM herald.live_jobs ORDER BY id LIMIT 10")"
    _dead=$(sql "SELECT count(*) FROM herald.dead_jobs
        WHERE id IN (SELECT id FROM drill_enqueued)")
    sql_is "SELECT count(*) FROM herald.dead_jobs
        WHERE id IN (SELECT id FROM drill_enqueued)
          AND jsonb_array_length(errors) = 0" 0 ||
        fail "a dead job has no history"
    _counted=$(sql "SELECT coalesce(sum(completed), 0) FROM herald.counters
        WHERE task IN ($DRILL_TASKS)")
    [ "$_counted" -eq $((_enqueued - _dead)) ] ||
        fail "$_enqueued jobs enqueued and $_dead dead, but the counters show $_counted completions"
    _dups=$(completed_ids | uniq -d | head -5)
    [ -z "$_dups" ] || fail "jobs logged as completed twice: $_dups"
    load_probes
    _unrun=$(sql "SELECT count(*) FROM drill_enqueued e
        WHERE e.id NOT IN (SELECT id FROM herald.dead_jobs)
          AND e.id NOT IN (SELECT job_id FROM drill_runs
                           WHERE kind = 'end')")
    [ "$_unrun" -eq 0 ] ||
        fail "$_unrun jobs completed without an execution that ended"
    note "$_enqueued jobs: $((_enqueued - _dead)) completed once, $_dead dead, $(sql "SELECT count(*) FROM drill_runs
        WHERE kind = 'start' AND job_id IN (SELECT id FROM drill_enqueued)") executions"
}

# pg_owner CMD...: run CMD as the owner of the private clusters (the
# "postgres" user when the tests run as root), as scripts/pg does.
pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

PG_BINDIR=
for _d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    PG_BINDIR=$_d
done

# start_private_pg: start a PostgreSQL of this test alone in $TEST_DIR/pg,
# on a port no other test uses, and point JOB_DB at a migrated database
# there.  A drill that restarts or stops PostgreSQL must use this, since
# tests that run alongside share the other server.
start_private_pg() {
    chmod 755 "$TEST_DIR"
    PRIVATE_PG="$TEST_DIR/pg"
    HERALD_PGPORT=$((6000 + $$ % 1000))
    export HERALD_PGPORT
    "$HERALD_SRCDIR/scripts/pg" start "$PRIVATE_PG" >"$TEST_DIR/pg.env" ||
        fail "could not start a private PostgreSQL"
    PRIVATE_PGUSER=$(sed -n 's/^PGUSER=//p' "$TEST_DIR/pg.env")
    PRIVATE_CONNINFO="host=$PRIVATE_PG port=$HERALD_PGPORT user=$PRIVATE_PGUSER"
    JOB_DB="$PRIVATE_CONNINFO dbname=drill"
    psql "$PRIVATE_CONNINFO dbname=postgres" -XAtq \
        -c "CREATE DATABASE drill" >/dev/null ||
        fail "could not create the drill database"
    "$HERALD" -d "$JOB_DB" migrate >"$TEST_DIR/migrate-private.out" 2>&1 ||
        fail "herald migrate failed on the private server"
    trap drill_cleanup EXIT
}

# pg_ctl_private ARGS...: run pg_ctl on the private cluster.
pg_ctl_private() {
    pg_owner "$PG_BINDIR/pg_ctl" -D "$PRIVATE_PG/data" \
        -l "$PRIVATE_PG/server.log" "$@" >/dev/null
}

# stop_private_pg: stop the private server, whose processes would
# otherwise count as leftovers of the test.
stop_private_pg() {
    "$HERALD_SRCDIR/scripts/pg" stop "$PRIVATE_PG" ||
        fail "could not stop the private PostgreSQL"
}

drill_cleanup() {
    _drill_status=$?
    if [ -n "${HERALDD_PID:-}" ] && alive "$HERALDD_PID"; then
        kill -KILL "$HERALDD_PID" 2>/dev/null
    fi
    "$HERALD_SRCDIR/scripts/pg" stop "$PRIVATE_PG" >/dev/null 2>&1 ||
        pg_ctl_private -m immediate stop 2>/dev/null
    (exit "$_drill_status")
    cleanup
}
