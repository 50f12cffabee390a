#!/bin/sh
# make install into a temporary root: the files land where they belong,
# the systemd unit starts the installed heraldd, the shared library
# exports the herald_ API alone, examples/signup builds against the
# installed library through pkg-config (shared and static) and runs,
# heraldd --check accepts the installed example configuration (and as
# root prints how to check it as the service user), the installed man pages
# render without warnings, the installed herald's metrics pass a strict
# checker, and make uninstall removes every file.

. "$HERALD_SRCDIR/tests/e2e/lib.sh"

ROOT=$TEST_DIR/root
chmod 755 "$TEST_DIR"
# Run as a test of make check, make would inherit its flags and print
# "Entering directory" lines into the output this test reads.
unset MAKEFLAGS MFLAGS MAKELEVEL

make -s -C "$HERALD_BUILDDIR" install DESTDIR="$ROOT" \
    >"$TEST_DIR/install.out" 2>&1 ||
    fail "make install failed: $(tail -n 20 "$TEST_DIR/install.out")"

# The configured directories, as the Makefile defines them.
dir_of() {
    make -s -C "$HERALD_BUILDDIR" --no-print-directory -f Makefile \
        -f - print-dir VAR="$1" <<'MK'
print-dir:
	@echo $($(VAR))
MK
}
prefix=$(dir_of prefix)
bindir=$ROOT$(dir_of bindir)
sbindir=$ROOT$(dir_of sbindir)
pkglibexecdir=$ROOT$(dir_of pkglibexecdir)
libdir=$ROOT$(dir_of libdir)
includedir=$ROOT$(dir_of includedir)
pkgdatadir=$ROOT$(dir_of pkgdatadir)
docdir=$ROOT$(dir_of docdir)
mandir=$ROOT$(dir_of mandir)
datadir=$ROOT$(dir_of datadir)

note "installed files"
for f in "$bindir/herald" "$sbindir/heraldd" \
    "$pkglibexecdir/heraldd-child" "$libdir/libherald.so" \
    "$libdir/libherald.a" "$includedir/herald.h" \
    "$includedir/herald_module.h" "$libdir/pkgconfig/herald.pc" \
    "$docdir/herald.conf" "$docdir/heraldd.service" \
    "$docdir/herald-metrics.service" "$docdir/herald-metrics.timer" \
    "$docdir/console.md" "$docdir/guarantees.md" "$docdir/metrics.md" \
    "$docdir/operations.md" "$docdir/security.md" \
    "$mandir/man1/herald.1" "$mandir/man8/heraldd.8" \
    "$mandir/man5/herald.conf.5" "$mandir/man3/libherald.3" \
    "$datadir/bash-completion/completions/herald"; do
    [ -f "$f" ] || fail "$f is not installed"
done
for f in "$HERALD_SRCDIR"/sql/job/*.sql "$HERALD_SRCDIR"/sql/app/*.sql; do
    kind=$(basename "$(dirname "$f")")
    cmp -s "$f" "$pkgdatadir/$kind/$(basename "$f")" ||
        fail "$kind/$(basename "$f") is not installed in $pkgdatadir"
done

note "the installed systemd unit starts the installed heraldd"
# The unit names the paths without DESTDIR, as systemd will see them.
exec_start="ExecStart=$(dir_of sbindir)/heraldd -c $(dir_of sysconfdir)/herald.conf"
grep -qxF "$exec_start" "$docdir/heraldd.service" ||
    fail "$docdir/heraldd.service lacks \"$exec_start\": $(grep '^ExecStart=' "$docdir/heraldd.service")"
grep -q '@[a-z]*@' "$docdir/heraldd.service" &&
    fail "$docdir/heraldd.service has a path left unset: $(grep '@[a-z]*@' "$docdir/heraldd.service")"

note "the shared library exports the herald_ API alone"
nm -D --defined-only "$libdir/libherald.so" | awk '{ print $3 }' |
    grep -v '^herald_' | grep -v '^$' >"$TEST_DIR/foreign.txt"
[ ! -s "$TEST_DIR/foreign.txt" ] ||
    fail "libherald.so exports $(tr '\n' ' ' <"$TEST_DIR/foreign.txt")"
for fn in $(sed -n 's/.*\(herald_[a-z_]*\)(.*/\1/p' \
    "$HERALD_SRCDIR/include/herald.h" | sort -u); do
    nm -D --defined-only "$libdir/libherald.so" | grep -q " T $fn\$" ||
        fail "libherald.so does not export $fn"
done

note "examples/signup builds against the installed library"
# herald.pc names the prefix without DESTDIR: a copy points into $ROOT.
mkdir -p "$TEST_DIR/pkgconfig"
sed "s|^prefix=.*|prefix=$ROOT$prefix|" "$libdir/pkgconfig/herald.pc" \
    >"$TEST_DIR/pkgconfig/herald.pc"
export PKG_CONFIG_PATH="$TEST_DIR/pkgconfig"
pc() {
    pkg-config "$@"
}
cflags=$(pc --cflags herald jansson) || fail "pkg-config --cflags failed"
libs=$(pc --libs herald jansson) || fail "pkg-config --libs failed"
case $cflags in *"$includedir"*) ;; *) fail "cflags lack $includedir" ;; esac
# A sanitizer build's library needs the sanitizer runtimes in every
# program it is linked into, loaded first.
sanitize=$(dir_of CFLAGS | tr ' ' '\n' | grep -- '^-fsanitize=' || true)
${CC:-cc} -o "$TEST_DIR/signup" "$HERALD_SRCDIR/examples/signup/signup.c" \
    $cflags $sanitize $libs 2>"$TEST_DIR/cc.err" ||
    fail "signup does not build: $(cat "$TEST_DIR/cc.err")"
ldd_out=$(LD_LIBRARY_PATH="$libdir" ldd "$TEST_DIR/signup")
case $ldd_out in *"$libdir/libherald.so"*) ;;
    *) fail "signup is not linked with the installed libherald" ;; esac

# libherald.a with the packages herald.pc requires privately, linked as
# shared libraries: libpq's own static dependencies are not installed.
private=$(pc --print-requires-private herald | awk '{ print $1 }')
static_libs="$(pc --libs herald jansson $private | sed 's/-lherald//') -lm" ||
    fail "pkg-config --libs of the private requirements failed"
${CC:-cc} -o "$TEST_DIR/signup-static" \
    "$HERALD_SRCDIR/examples/signup/signup.c" $cflags $sanitize \
    "$libdir/libherald.a" $static_libs 2>"$TEST_DIR/cc.err" ||
    fail "signup does not link statically: $(cat "$TEST_DIR/cc.err")"

note "the libherald(3) example builds"
awk '/^\.SH EXAMPLE/ { s = 1 } s && /^\.EX/ && !done { p = 1; next }
    p && /^\.EE/ { p = 0; done = 1 } p' "$mandir/man3/libherald.3" |
    sed -e 's/\\e/\\/g' -e 's/\\-/-/g' >"$TEST_DIR/example.c"
${CC:-cc} -Wall -Werror -Wno-unused-parameter -o "$TEST_DIR/example" \
    "$TEST_DIR/example.c" $cflags $sanitize $libs 2>"$TEST_DIR/cc.err" ||
    fail "the libherald(3) example does not build: $(cat "$TEST_DIR/cc.err")"

note "signup and the example run with the installed library"
APP_DB_NAME="${TEST_DB}_app"
EXTRA_DATABASES=$APP_DB_NAME
APP_DB="$HERALD_TEST_CONNINFO dbname=$APP_DB_NAME"
admin_sql "CREATE DATABASE \"$APP_DB_NAME\"" >/dev/null ||
    fail "could not create $APP_DB_NAME"
"$bindir/herald" -d "$APP_DB" migrate --app >/dev/null ||
    fail "installed herald could not migrate the outbox"
LD_LIBRARY_PATH="$libdir" "$TEST_DIR/signup" -d "$APP_DB" \
    --email ada@example.com --name Ada >"$TEST_DIR/signup.out" 2>&1 ||
    fail "signup failed: $(cat "$TEST_DIR/signup.out")"
"$TEST_DIR/signup-static" -d "$APP_DB" --email bob@example.com \
    --name Bob >"$TEST_DIR/signup.out" 2>&1 ||
    fail "static signup failed: $(cat "$TEST_DIR/signup.out")"
[ "$(psql "$APP_DB" -XAtq -c "SELECT count(*) FROM users")" = 2 ] ||
    fail "signup did not register two users"
LD_LIBRARY_PATH="$libdir" "$TEST_DIR/example" "$APP_DB" "$JOB_DB" \
    >"$TEST_DIR/example.out" 2>&1 ||
    fail "the example failed: $(cat "$TEST_DIR/example.out")"
sql_is "SELECT count(*) FROM herald.live_jobs WHERE task = 'daily_report'" 1 ||
    fail "the example enqueued no daily_report job"

note "heraldd --check accepts the installed example configuration"
if [ "$(id -u)" -eq 0 ]; then
    # As the unprivileged user heraldd.service runs as.
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$sbindir/heraldd" -c "$docdir/herald.conf" --check \
        >"$TEST_DIR/check.out" 2>&1
else
    "$sbindir/heraldd" -c "$docdir/herald.conf" --check \
        >"$TEST_DIR/check.out" 2>&1
fi || fail "heraldd --check rejected the example: $(cat "$TEST_DIR/check.out")"

# The example runs handlers as the user of heraldd, so started as root
# heraldd rejects it, and --check prints how to check it for the service.
if [ "$(id -u)" -eq 0 ]; then
    note "heraldd --check as root names the service user"
    status=0
    "$sbindir/heraldd" -c "$docdir/herald.conf" --check \
        >"$TEST_DIR/check.out" 2>&1 || status=$?
    [ "$status" -eq 78 ] ||
        fail "heraldd --check as root exited $status, expected 78"
    grep -q 'the handler would run as root' "$TEST_DIR/check.out" ||
        fail "heraldd --check as root gave no reason: $(cat "$TEST_DIR/check.out")"
    grep -qF "run \"sudo -u herald heraldd --check -c $docdir/herald.conf\"" \
        "$TEST_DIR/check.out" ||
        fail "heraldd --check as root did not say how to check as herald: $(cat "$TEST_DIR/check.out")"
fi

note "the installed man pages render without warnings"
for page in "$mandir"/man*/*; do
    groff -ww -z -man "$page" 2>"$TEST_DIR/groff.err" ||
        fail "groff failed on $page"
    [ ! -s "$TEST_DIR/groff.err" ] ||
        fail "groff warns on $page: $(cat "$TEST_DIR/groff.err")"
done

note "the installed herald's metrics pass the checker"
enqueue some_task >/dev/null
"$bindir/herald" -d "$JOB_DB" metrics >"$TEST_DIR/metrics" ||
    fail "installed herald metrics failed"
awk -f "$HERALD_SRCDIR/tests/e2e/promcheck.awk" <"$TEST_DIR/metrics" \
    >/dev/null 2>"$TEST_DIR/check.err" ||
    fail "invalid metrics: $(cat "$TEST_DIR/check.err")"
grep -q '^herald_jobs{queue="default",task="some_task",state="queued"} 1$' \
    "$TEST_DIR/metrics" || fail "the enqueued job is not in the metrics"

note "make uninstall removes every file"
make -s -C "$HERALD_BUILDDIR" uninstall DESTDIR="$ROOT" \
    >"$TEST_DIR/uninstall.out" 2>&1 ||
    fail "make uninstall failed: $(tail -n 20 "$TEST_DIR/uninstall.out")"
left=$(find "$ROOT" -type f -o -type l)
[ -z "$left" ] || fail "left after make uninstall: $left"

note "ok"
