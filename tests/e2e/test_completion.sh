#!/bin/sh
# bash completion of herald: commands, options, actions, and queue and
# task names read from the configuration.  Needs bash, not a database.

set -u
: "${HERALD:?}" "${HERALD_SRCDIR:?}"

if ! command -v bash >/dev/null 2>&1; then
    echo "SKIP: bash is not installed"
    exit 77
fi

TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/herald-test_completion.XXXXXX") ||
    exit 1
trap 'rm -rf "$TEST_DIR"' EXIT
trap 'exit 1' INT TERM HUP

cat >"$TEST_DIR/herald.conf" <<EOF2
job_db = "dbname=unused";
queues = { mail = {}; images = {}; };
tasks = {
  send_welcome_email = { queue = "mail"; exec = [ "/bin/true" ]; };
  resize_image = { queue = "images"; exec = [ "/bin/true" ]; };
};
EOF2

# complete EXPECTED WORD...: complete the last WORD of "herald WORD..."
# and compare the sorted candidates, one a line joined by spaces.
cat >"$TEST_DIR/complete.bash" <<'EOF2'
. "$HERALD_SRCDIR/doc/completion/herald"
expected=$1
shift
COMP_WORDS=("$HERALD" "$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_herald
got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
got=${got% }
if [[ $got != "$expected" ]]; then
    echo "FAIL: herald $*<TAB>: got \"$got\", expected \"$expected\"" >&2
    exit 1
fi
EOF2

failures=0
complete() {
    HERALD="$HERALD" HERALD_SRCDIR="$HERALD_SRCDIR" \
        bash "$TEST_DIR/complete.bash" "$@" || failures=$((failures + 1))
}

conf=$TEST_DIR/herald.conf
complete "config console" "con"
complete "metrics migrate" "m"
complete "--config= --dbname= --help --version" "--"
complete "list purge retry show" "dead" ""
complete "resize_image send_welcome_email" -c "$conf" enqueue ""
complete "send_welcome_email" --config="$conf" enqueue "s"
complete "images mail" -c "$conf" jobs --queue ""
complete "--queue=mail" -c "$conf" jobs "--queue=m"
complete "resize_image" -c "$conf" dead list -t "r"
complete "images mail" -c "$conf" queue pause ""
complete "pause resume" -c "$conf" queue ""
complete "queued retrying running scheduled" jobs --state ""
complete "--json" status "--j"
complete "cancel retry-now show" job ""
complete "--dry-run" dead "--d"
complete "events queues tasks" config --names ""
complete "--read-only" console "--r"
# Without a configuration there are no names, and no error either.
complete "" -c "$TEST_DIR/missing.conf" enqueue ""

[ "$failures" -eq 0 ] || exit 1
echo "test_completion: ok"
