#!/bin/sh
# A result that the job database rejects again and again (a trigger, for
# example) is given up after eight tries, about 25 s.  The worker frees
# the job's slot and logs "job result not recorded".  The job's lease is
# no longer renewed and expires, so the janitor takes the job back with a
# lost attempt, and it runs again.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_handler fail.sh <<EOF2
#!/bin/sh
exit 1
EOF2
write_conf <<EOF2
lease = "2s";
queues = { q = { workers = 1; concurrency = 1; poll_interval = "200ms"; }; };
tasks = {
  fails = { queue = "q"; exec = [ "$TEST_DIR/fail.sh" ];
            retry = { base_delay = "100ms"; jitter = 0.0; }; };
  works = { queue = "q"; exec = [ "/bin/true" ]; };
};
EOF2
sql "CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    RAISE EXCEPTION 'rejected by the test';
END
\$\$;
CREATE TRIGGER reject_poison BEFORE UPDATE ON herald.jobs FOR EACH ROW
    WHEN (NEW.payload ? 'poison' AND NEW.errors <> OLD.errors)
    EXECUTE FUNCTION reject_poison()" >/dev/null ||
    fail "could not create the trigger"
start_heraldd

poison=$(enqueue fails "queue => 'q', max_attempts => 2,
    payload => '{\"poison\": 1}'")
wait_for 10 "the poisoned job's result to be rejected" log_has \
    'msg="job database error" .* operation=fail .*sqlstate=P0001'
other=$(enqueue works "queue => 'q'")

note "the result is given up and the slot freed"
wait_for 60 "the worker to give the result up" log_has \
    "msg=\"job result not recorded\" .* job_id=$poison task=fails queue=q attempt=1 tries=8"
wait_for 10 "job $other to run in the freed slot" sql_is \
    "SELECT count(*) FROM herald.live_jobs WHERE id = $other" 0
sql "DROP TRIGGER reject_poison ON herald.jobs" >/dev/null ||
    fail "could not drop the trigger"

note "the lease expires, the attempt counts as lost, and the job runs again"
wait_for 20 "job $poison to die after its second attempt" sql_is \
    "SELECT count(*) FROM herald.dead_jobs WHERE id = $poison" 1
sql_is "SELECT string_agg(e->>'outcome', ' ' ORDER BY n)
    FROM herald.dead_jobs, jsonb_array_elements(errors)
        WITH ORDINALITY AS x(e, n)
    WHERE id = $poison" "lost failed" ||
    fail "job $poison's history: $(sql "SELECT errors FROM herald.dead_jobs
        WHERE id = $poison")"

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
exit 0
