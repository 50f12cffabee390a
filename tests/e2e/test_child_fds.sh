#!/bin/sh
# heraldd-child keeps only the descriptors it uses.  heraldd copies the
# child specification, the start pipe and a worker's region of started
# jobs above descriptor 5 before moving them to descriptors 3 to 5, and
# those copies must close when heraldd-child is executed.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

write_conf <<EOF2
queues = { fq = { workers = 1; }; };
tasks = { ok = { queue = "fq"; exec = [ "/bin/true" ]; }; };
EOF2
start_heraldd

# descriptors_of PID: print the target of each open descriptor of PID.
descriptors_of() {
    for _fd in /proc/"$1"/fd/*; do
        readlink "$_fd"
    done
}

children=$(ps -o pid= --ppid "$HERALDD_PID")
[ -n "$children" ] || fail "heraldd $HERALDD_PID has no children"
for pid in $children; do
    role=$(ps -o args= -p "$pid")
    descriptors_of "$pid" >"$TEST_DIR/fds.$pid"
    note "$role (pid $pid): $(tr '\n' ' ' <"$TEST_DIR/fds.$pid")"
    ! grep -q 'memfd:herald-child' "$TEST_DIR/fds.$pid" ||
        fail "$role (pid $pid) still holds its child specification"
    case $role in
    *worker*)
        started=$(grep -c 'memfd:herald-started' "$TEST_DIR/fds.$pid")
        [ "$started" -eq 1 ] ||
            fail "$role (pid $pid) holds $started descriptors of its started jobs, expected 1"
        ;;
    esac
done

stop_heraldd 20
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
