#!/bin/sh
# heraldd speaks systemd's notify protocol when NOTIFY_SOCKET is set:
# READY=1 once its children run, STATUS lines, WATCHDOG=1 pings at half
# of WATCHDOG_USEC, RELOADING=1 on SIGHUP and STOPPING=1 on SIGTERM.  A
# small receiver (tests/e2e/notify-listen) stands in for systemd.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

LISTEN="$HERALD_BUILDDIR/tests/e2e/notify-listen"
SOCKET="$TEST_DIR/notify.sock"
MESSAGES="$TEST_DIR/notify.out"
[ -x "$LISTEN" ] || fail "$LISTEN is missing; run make check"

write_conf <<EOF2
queues = { nq = { workers = 2; }; };
tasks = { ok = { queue = "nq"; exec = [ "/bin/true" ]; }; };
EOF2

"$LISTEN" "$SOCKET" "$MESSAGES" &
LISTEN_PID=$!
wait_for 5 "the notify socket" test -S "$SOCKET"

count() {
    grep -c "^$1" "$MESSAGES" 2>/dev/null || true
}
count_above() {
    [ "$(count "$1")" -gt "$2" ]
}

note "READY and STATUS after the children start"
NOTIFY_SOCKET=$SOCKET WATCHDOG_USEC=400000 start_heraldd
wait_for 5 "READY=1" count_above READY=1 0
grep -q '^STATUS=3 children running, 0 failed$' "$MESSAGES" ||
    fail "no STATUS line after READY: $(cat "$MESSAGES")"

note "WATCHDOG pings every 200 ms"
pings=$(count WATCHDOG=1)
sleep 1
[ $(($(count WATCHDOG=1) - pings)) -ge 3 ] ||
    fail "$(($(count WATCHDOG=1) - pings)) watchdog pings in one second"

note "RELOADING on SIGHUP"
kill -HUP "$HERALDD_PID"
wait_for 5 "RELOADING=1" count_above RELOADING=1 0
wait_for 5 "READY=1 after the reload" count_above READY=1 1

note "STOPPING on SIGTERM"
stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
count_above STOPPING=1 0 || fail "no STOPPING=1: $(cat "$MESSAGES")"
grep -q '^STATUS=stopping' "$MESSAGES" || fail "no STATUS line on stopping"
# A heraldd whose heraldd-child, beside it, cannot run the workers of
# queue "bad", as one of another version or with a broken @include file
# could not.  An installed heraldd-child would be found first.
if [ ! -x /usr/local/libexec/herald/heraldd-child ]; then
    note "READY although a child of the start exits before it runs"
    mkdir "$TEST_DIR/bin"
    cp "$HERALDD" "$TEST_DIR/bin/heraldd"
    cat >"$TEST_DIR/bin/heraldd-child" <<EOF2
#!/bin/sh
[ "\$1 \${2:-}" = "worker bad" ] && exit 70
exec "$HERALD_BUILDDIR/heraldd-child" "\$@"
EOF2
    chmod +x "$TEST_DIR/bin/heraldd-child"
    write_conf <<EOF2
queues = { nq = { workers = 1; }; bad = { workers = 1; }; };
tasks = { ok = { queue = "nq"; exec = [ "/bin/true" ]; }; };
EOF2
    ready=$(count READY=1)
    NOTIFY_SOCKET=$SOCKET "$TEST_DIR/bin/heraldd" -c "$HERALD_CONF" \
        2>>"$HERALDD_LOG" &
    HERALDD_PID=$!
    wait_for 10 "READY=1 with a child that cannot run" \
        count_above READY=1 "$ready"
    grep -q 'msg="child exited".*queue=bad' "$HERALDD_LOG" ||
        fail "the worker of queue bad did not exit: $(cat "$HERALDD_LOG")"
    stop_heraldd 15
fi

kill "$LISTEN_PID"
wait "$LISTEN_PID" 2>/dev/null
check_no_leftovers
exit 0
