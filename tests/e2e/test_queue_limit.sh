#!/bin/sh
# A queue limit through heraldd: three workers of four slots each never
# run more than "limit" jobs of the queue at once, sampled from the
# database while probe jobs run.  The limit replaces the one that another
# host stored, with one warning, which gives the rate as a whole number.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"
. "${HERALD_SRCDIR:-.}/tests/e2e/drill.sh"

write_conf <<EOF2
queues = { dq = { workers = 3; concurrency = 4; limit = 3; rate = 1000000;
                  poll_interval = "200ms"; }; };
tasks = { probe = { queue = "dq"; exec = [ "$PROBE", "$PROBE_LOG", "300" ]; }; };
EOF2
# The limit that another host stored from its own herald.conf.
sql "INSERT INTO herald.queue_limits (queue, max_running, stored_by)
    VALUES ('dq', 5, 'other-host')" >/dev/null
start_heraldd
sql_is "SELECT max_running FROM herald.queue_limits WHERE queue = 'dq'" 3 ||
    fail "the workers did not store the limit"
sql_is "SELECT stored_by FROM herald.queue_limits WHERE queue = 'dq'" \
    "$(hostname)" || fail "the limit does not name this host"
log_has 'msg="queue limits replaced" .*queue=dq limit=3 rate=1000000 previous_limit=5 .*previous_host=other-host' ||
    fail "replacing another host's limit logged no warning"
[ "$(grep -c 'msg="queue limits replaced"' "$HERALDD_LOG")" -eq 1 ] ||
    fail "the workers of one host warned about each other"

enqueue_probes 24
max=0
while ! all_jobs_finished; do
    n=$(sql "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'")
    [ "$n" -gt "$max" ] && max=$n
    sleep 0.05
done
note "at most $max jobs ran at once"
[ "$max" -le 3 ] || fail "$max jobs ran at once, over the limit of 3"
[ "$max" -ge 2 ] || fail "only $max job ran at once"
check_no_job_lost_or_twice

stop_heraldd 20
check_no_leftovers
exit 0
