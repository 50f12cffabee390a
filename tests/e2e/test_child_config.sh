#!/bin/sh
# A restarted heraldd-child that cannot parse the configuration heraldd
# passed it logs why.  The file's text comes from heraldd, but libconfig
# reads an @include file again in each child, so a child started after
# the included file was removed fails where heraldd succeeded.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

cat >"$TEST_DIR/queues.inc" <<EOF2
queues = { iq = { workers = 1; }; };
EOF2
write_conf <<EOF2
@include "$TEST_DIR/queues.inc"
tasks = { ok = { queue = "iq"; exec = [ "/bin/true" ]; }; };
EOF2
start_heraldd

worker=$(sql "SELECT pid FROM herald.processes WHERE kind = 'worker'")
[ -n "$worker" ] || fail "no worker registered"
rm "$TEST_DIR/queues.inc"
kill -KILL "$worker"
wait_for 10 "the restarted worker to log why its configuration is invalid" \
    log_has 'msg="configuration invalid" role=worker .*error=".*cannot open include file'

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
