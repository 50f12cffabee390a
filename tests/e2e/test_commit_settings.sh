#!/bin/sh
# A worker's claims that carry no completion commit with
# synchronous_commit off.  Everything else it commits keeps the
# database's setting, on here, because completions, failed attempts and
# moves to the dead-letter queue must reach disk before the commit
# returns.  Deferred triggers record the setting as each transaction
# commits.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

admin_sql "ALTER DATABASE \"$TEST_DB\" SET synchronous_commit = on" \
    >/dev/null || fail "could not set synchronous_commit on $TEST_DB"
sql "CREATE TABLE commit_settings (tbl text, op text, setting text);
CREATE FUNCTION record_commit_setting() RETURNS trigger
LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO commit_settings
    VALUES (TG_TABLE_NAME, TG_OP, current_setting('synchronous_commit'));
    RETURN NULL;
END
\$\$;
CREATE CONSTRAINT TRIGGER record_claim AFTER INSERT ON herald.leases
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION record_commit_setting();
CREATE CONSTRAINT TRIGGER record_end AFTER UPDATE OR DELETE ON herald.jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION record_commit_setting();
CREATE CONSTRAINT TRIGGER record_burial AFTER INSERT ON herald.dead_jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION record_commit_setting();" \
    >/dev/null || fail "could not create the triggers"

write_conf <<EOF2
queues = { cq = { workers = 1; concurrency = 2; }; };
tasks = {
  ok = { queue = "cq"; exec = [ "/bin/true" ]; };
  again = { queue = "cq"; exec = [ "/bin/sh", "-c", "exit 75" ];
            retry = { base_delay = "1h"; }; };
  bad = { queue = "cq"; exec = [ "/bin/sh", "-c", "exit 65" ]; };
};
EOF2
start_heraldd

job_gone() {
    sql_is "SELECT count(*) FROM herald.live_jobs WHERE id = $1" 0
}

note "jobs enqueued one at a time complete"
for i in 1 2 3 4 5; do
    id=$(enqueue ok "queue => 'cq'")
    wait_for 10 "job $id to complete" job_gone "$id"
done

note "a batch completes, some of it with the next claim"
sql "SELECT herald.enqueue('ok', 'cq') FROM generate_series(1, 20)" \
    >/dev/null || fail "could not enqueue the batch"
wait_for 20 "the batch to complete" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE task = 'ok'" 0

note "a failed attempt and a permanent failure are recorded"
id=$(enqueue again "queue => 'cq'")
wait_for 10 "the failed attempt of job $id" sql_is \
    "SELECT attempt FROM herald.live_jobs WHERE id = $id" 1
id=$(enqueue bad "queue => 'cq'")
wait_for 10 "job $id to reach the dead-letter queue" job_gone "$id"

# The 7 jobs enqueued alone each came with a claim of its own.
[ "$(sql "SELECT count(*) FROM commit_settings
    WHERE tbl = 'leases' AND setting = 'off'")" -ge 7 ] ||
    fail "claims without completions: $(sql "SELECT string_agg(setting,
        ',') FROM commit_settings WHERE tbl = 'leases'")"
sql_is "SELECT count(*) FROM commit_settings
    WHERE tbl IN ('jobs', 'dead_jobs') AND setting <> 'on'" 0 ||
    fail "results committed without waiting for the disk: $(sql "SELECT
        string_agg(tbl || ' ' || op, ', ') FROM commit_settings
        WHERE tbl IN ('jobs', 'dead_jobs') AND setting <> 'on'")"
[ "$(sql "SELECT count(*) FROM commit_settings
    WHERE tbl = 'jobs' AND op = 'DELETE'")" -ge 26 ] ||
    fail "fewer than 26 deletions of jobs were recorded"
sql_is "SELECT count(*) > 0 FROM commit_settings
    WHERE tbl = 'jobs' AND op = 'UPDATE'" t ||
    fail "the failed attempt was not recorded"
sql_is "SELECT count(*) FROM commit_settings WHERE tbl = 'dead_jobs'" 1 ||
    fail "the burial was not recorded"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
