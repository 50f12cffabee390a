#!/bin/sh
# The signup example end to end: a registration commits the user, the
# account row of the synchronous handler and both events in one
# transaction; the relay turns UserRegistered into a send_welcome_email
# job and AccountCreated into a provision_account job; heraldd runs them.
# A relay that dies between its two commits still yields one mail per
# user; a duplicate email publishes nothing; a missing spool directory
# makes the mail job retry and then dead-letter, and a retry after the
# fix delivers it.

. "${HERALD_SRCDIR:-.}/tests/e2e/lib.sh"

SIGNUP="$HERALD_BUILDDIR/examples/signup/signup"
SPOOL="$TEST_DIR/spool"
HOMES="$TEST_DIR/homes"

create_app_db
mkdir "$SPOOL" "$HOMES"

write_conf <<EOF2
app_db = "$APP_DB";
queues = { mail = { workers = 1; }; default = { workers = 1; }; };
tasks = {
  send_welcome_email = {
    queue = "mail";
    exec = [ "$HERALD_BUILDDIR/examples/signup/send-welcome", "$SPOOL" ];
    retry = { max_attempts = 3; base_delay = "100ms"; };
  };
  provision_account = {
    queue = "default";
    exec = [ "$HERALD_BUILDDIR/examples/signup/provision-account",
             "$HOMES" ];
  };
};
events = {
  UserRegistered = [ "send_welcome_email" ];
  AccountCreated = [ "provision_account" ];
};
EOF2

mail_count() {
    find "$SPOOL" -name '*.eml' | wc -l
}

mails_are() {
    [ "$(mail_count)" -eq "$1" ]
}

jobs_done() {
    sql_is "SELECT count(*) FROM herald.live_jobs" 0 &&
        [ "$(app_sql "SELECT count(*) FROM herald.outbox")" -eq 0 ]
}

relay_registered() {
    sql_is "SELECT count(*) FROM herald.processes WHERE kind = 'relay'" 1
}

note "the first relay dies after its job-database commit"
HERALD_FAULT=relay_after_job_commit
HERALD_FAULT_ONCE="$TEST_DIR/relay-fault"
export HERALD_FAULT HERALD_FAULT_ONCE
start_heraldd
wait_for 10 "the relay to register" relay_registered

note "a registration sends one welcome mail and provisions the account"
"$SIGNUP" -d "$APP_DB" --email ann@example.com --name Ann \
    >"$TEST_DIR/signup.out" 2>&1 || fail "signup failed: $(cat "$TEST_DIR/signup.out")"
wait_for 20 "ann's welcome mail" mails_are 1
wait_for 20 "every job to finish" jobs_done
log_has 'msg="fault injected"' || fail "the relay fault did not fire"
log_has 'role=relay' || fail "no relay log line"
[ "$(mail_count)" -eq 1 ] || fail "expected 1 mail, found $(mail_count)"
mail=$(find "$SPOOL" -name '*.eml')
grep -q "^To: Ann <ann@example.com>" "$mail" ||
    fail "the mail is not addressed to ann: $(cat "$mail")"
user_id=$(app_sql "SELECT id FROM users WHERE email = 'ann@example.com'")
[ -f "$HOMES/$user_id/profile" ] || fail "ann's account was not provisioned"
[ "$(app_sql "SELECT count(*) FROM accounts")" -eq 1 ] ||
    fail "the synchronous handler did not create the account row"
sql_is "SELECT sum(completed) FROM herald.counters" 2 ||
    fail "expected 2 completed jobs: $(sql "SELECT * FROM herald.counters")"
log_has 'event_type=UserRegistered' ||
    fail "job log lines do not name the event type"

note "an invalid email fails and publishes nothing"
if "$SIGNUP" -d "$APP_DB" --email '' --name Nobody >"$TEST_DIR/bad.out" 2>&1
then
    fail "signup with an empty email succeeded"
fi
grep -q 'invalid email ""' "$TEST_DIR/bad.out" ||
    fail "unexpected message: $(cat "$TEST_DIR/bad.out")"
[ "$(app_sql "SELECT count(*) FROM users WHERE email = ''")" -eq 0 ] ||
    fail "a user with an empty email was registered"

note "a duplicate email fails and publishes nothing"
if "$SIGNUP" -d "$APP_DB" --email ann@example.com --name Other \
    >"$TEST_DIR/dup.out" 2>&1; then
    fail "a duplicate registration succeeded"
fi
grep -q 'already registered' "$TEST_DIR/dup.out" ||
    fail "unexpected message: $(cat "$TEST_DIR/dup.out")"
[ "$(app_sql "SELECT count(*) FROM herald.outbox")" -eq 0 ] ||
    fail "the duplicate left outbox rows"
"$SIGNUP" -d "$APP_DB" --email bob@example.com --name Bob \
    >"$TEST_DIR/signup.out" 2>&1 || fail "signup of bob failed"
wait_for 20 "bob's welcome mail" mails_are 2
[ "$(grep -l 'ann@example.com' "$SPOOL"/*.eml | wc -l)" -eq 1 ] ||
    fail "ann got more than one mail"

note "a missing spool directory retries, then dead-letters"
mv "$SPOOL" "$SPOOL.away"
"$SIGNUP" -d "$APP_DB" --email cy@example.com --name Cy \
    >"$TEST_DIR/signup.out" 2>&1 || fail "signup of cy failed"
dead_mail() {
    sql_is "SELECT count(*) FROM herald.dead_jobs
        WHERE task = 'send_welcome_email' AND reason = 'exhausted'
          AND jsonb_array_length(errors) = 3" 1
}
wait_for 20 "cy's mail job in the dead-letter queue" dead_mail
sql_is "SELECT event_type FROM herald.dead_jobs" UserRegistered ||
    fail "the dead job lost its event type"

note "a retry after the fix delivers the mail"
mv "$SPOOL.away" "$SPOOL"
"$HERALD" -d "$JOB_DB" dead retry --all --task send_welcome_email \
    >"$TEST_DIR/retry.out" 2>&1 || fail "dead retry failed: $(cat "$TEST_DIR/retry.out")"
wait_for 20 "cy's welcome mail" mails_are 3
wait_for 20 "every job to finish" jobs_done

stop_heraldd 15
[ "$HERALDD_STATUS" -eq 0 ] || fail "heraldd exited with $HERALDD_STATUS"
check_no_leftovers
note "ok"
