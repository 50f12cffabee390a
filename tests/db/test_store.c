/*
 * test_store.c: herald_enqueue and the job store against a real job
 * database: the life of a job from enqueue through claim, failure, the
 * dead table and back.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herald.h"
#include "db.h"
#include "store.h"
#include "util.h"
#include "dbtest.h"

#define LEASE_MS	60000
#define WORKER		"w-test"

/* Enqueue a job that must be accepted and return its id. */
static int64_t
enqueue(struct dbtest *db, const char *task, const char *queue,
    int priority, int64_t run_at_us, int max_attempts)
{
	struct herald_job_options	options = {
		.queue = queue,
		.priority = priority,
		.run_at_us = run_at_us,
		.max_attempts = max_attempts,
	};
	struct herald_error		error;
	int64_t				id = 0;

	if (herald_enqueue(db->conn, task, "{\"n\": 1}", &options, &id,
	    &error) == -1)
		fail_msg("enqueue failed: %s", error.message);
	return id;
}

/* Claim exactly one job of queue and return it in *job. */
static void
claim_one(struct dbtest *db, const char *queue, struct hd_job *job)
{
	struct herald_error	 error;
	struct hd_job		*jobs;
	int			 n;

	n = hd_store_claim(db->conn, queue, WORKER, 1, LEASE_MS, &jobs,
	    &error);
	if (n != 1)
		fail_msg("claim returned %d: %s", n, n == -1 ? error.message :
		    "no job");
	*job = jobs[0];
	free(jobs);
}

/* Fail the claimed job with outcome; return what hd_store_fail returned. */
static int
fail_job(struct dbtest *db, const struct hd_job *job,
    enum hd_outcome outcome, int exit_code, int64_t delay_ms)
{
	struct hd_attempt	attempt = {
		.outcome = outcome,
		.exit_code = exit_code,
		.duration_ms = 12,
		.output = "it broke",
	};
	struct herald_error	error;
	int			rc;

	rc = hd_store_fail(db->conn, job, &attempt, delay_ms, &error);
	if (rc == -1)
		fail_msg("fail failed: %s", error.message);
	return rc;
}

/* Enqueue a job, claim it and fail it permanently; return its id. */
static int64_t
make_dead(struct dbtest *db, const char *task, const char *queue)
{
	struct hd_job	job;
	int64_t		id;

	id = enqueue(db, task, queue, 0, 0, 0);
	claim_one(db, queue, &job);
	assert_int_equal(job.id, id);
	assert_int_equal(fail_job(db, &job, HD_OUTCOME_PERMANENT, 65, 0),
	    HD_FAIL_DEAD);
	hd_job_release(&job);
	return id;
}

/* Assert that the query of the printf format returns the text expected. */
#define assert_text(conn, expected, ...) do {				\
	char *value_ = dbtest_text((conn), __VA_ARGS__);		\
									\
	assert_non_null(value_);					\
	assert_string_equal(value_, (expected));			\
	free(value_);							\
} while (0)

static void
test_enqueue_defaults(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	int64_t			 id = 0;

	assert_int_equal(herald_enqueue(db->conn, "send_mail",
	    "{\"to\": \"a@example.com\"}", NULL, &id, &error), 0);

	assert_true(id > 0);
	assert_text(db->conn, "send_mail",
	    "SELECT task FROM herald.live_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "default",
	    "SELECT queue FROM herald.live_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "{\"to\": \"a@example.com\"}",
	    "SELECT payload::text FROM herald.live_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "queued",
	    "SELECT state FROM herald.live_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT priority FROM herald.live_jobs WHERE id = %" PRId64, id), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT attempt FROM herald.live_jobs WHERE id = %" PRId64, id), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT max_attempts FROM herald.live_jobs WHERE id = %" PRId64, id),
	    HERALD_DEFAULT_MAX_ATTEMPTS);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs WHERE id = %" PRId64
	    " AND run_at <= now()", id), 1);
}

static void
test_enqueue_options(void **state)
{
	struct dbtest			*db = *state;
	struct herald_job_options	 options = {
		.queue = "mail",
		.priority = -5,
		.run_at_us = INT64_C(4102444800123456),
		.max_attempts = 3,
	};
	struct herald_error		 error;
	int64_t				 id = 0;

	assert_int_equal(herald_enqueue(db->conn, "send_mail", "[1, 2]",
	    &options, &id, &error), 0);

	assert_text(db->conn, "mail",
	    "SELECT queue FROM herald.live_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[1, 2]",
	    "SELECT payload::text FROM herald.live_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT priority FROM herald.live_jobs WHERE id = %" PRId64, id), -5);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT max_attempts FROM herald.live_jobs WHERE id = %" PRId64, id),
	    3);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT (extract(epoch FROM run_at) * 1000000)::bigint"
	    " FROM herald.live_jobs WHERE id = %" PRId64, id),
	    INT64_C(4102444800123456));
}

static void
test_enqueue_null_payload(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	int64_t			 id = 0;

	assert_int_equal(herald_enqueue(db->conn, "t", NULL, NULL, &id,
	    &error), 0);

	assert_text(db->conn, "{}",
	    "SELECT payload::text FROM herald.live_jobs WHERE id = %" PRId64, id);
}

static void
test_enqueue_joins_transaction(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	PGconn			*other;

	other = dbtest_connect(db);

	dbtest_exec(db->conn, "BEGIN");
	assert_int_equal(herald_enqueue(db->conn, "kept", NULL, NULL, NULL,
	    &error), 0);
	assert_int_equal(dbtest_int(other, "SELECT count(*) FROM herald.live_jobs"),
	    0);
	dbtest_exec(db->conn, "COMMIT");
	assert_int_equal(dbtest_int(other, "SELECT count(*) FROM herald.live_jobs"),
	    1);

	dbtest_exec(db->conn, "BEGIN");
	assert_int_equal(herald_enqueue(db->conn, "dropped", NULL, NULL, NULL,
	    &error), 0);
	dbtest_exec(db->conn, "ROLLBACK");
	assert_int_equal(dbtest_int(other, "SELECT count(*) FROM herald.live_jobs"),
	    1);
	assert_int_equal(dbtest_int(other,
	    "SELECT count(*) FROM herald.live_jobs WHERE task = 'dropped'"), 0);
	PQfinish(other);
}

struct bad_enqueue {
	const char			*label;
	const char			*task;
	const char			*payload;
	struct herald_job_options	 options;
};

static const struct bad_enqueue bad_enqueues[] = {
	{ "null task", NULL, NULL, { 0 } },
	{ "bad task", "send mail", NULL, { 0 } },
	{ "bad queue", "t", NULL, { .queue = "a/b" } },
	{ "empty queue", "t", NULL, { .queue = "" } },
	{ "invalid json", "t", "{\"a\":", { 0 } },
	{ "scalar payload", "t", "42", { 0 } },
	{ "nul in payload", "t", "{\"a\": \"\\u0000\"}", { 0 } },
	{ "priority too high", "t", NULL, { .priority = 32768 } },
	{ "priority too low", "t", NULL, { .priority = -32769 } },
	{ "negative attempts", "t", NULL, { .max_attempts = -1 } },
	{ "too many attempts", "t", NULL, { .max_attempts = 1001 } },
	{ "negative run_at", "t", NULL, { .run_at_us = -1 } },
	{ "run_at past 9999", "t", NULL, { .run_at_us = INT64_MAX } },
};

static void
test_enqueue_bad_arguments(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	size_t			 i;

	dbtest_exec(db->conn, "BEGIN");
	for (i = 0; i < sizeof(bad_enqueues) / sizeof(bad_enqueues[0]); i++) {
		const struct bad_enqueue *c = &bad_enqueues[i];

		print_message("enqueue: %s\n", c->label);
		memset(&error, 0, sizeof(error));
		assert_int_equal(herald_enqueue(db->conn, c->task, c->payload,
		    &c->options, NULL, &error), -1);
		assert_int_equal(error.code, HERALD_EINVAL);
		assert_int_equal(PQtransactionStatus(db->conn),
		    PQTRANS_INTRANS);
	}
	dbtest_exec(db->conn, "COMMIT");

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

static void
test_enqueue_payload_over_limit(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	size_t			 len = HERALD_PAYLOAD_MAX + 1;
	char			*payload;

	payload = malloc(len + 1);
	assert_non_null(payload);
	memset(payload, ' ', len);
	payload[0] = '[';
	payload[len - 1] = ']';
	payload[len] = '\0';

	assert_int_equal(herald_enqueue(db->conn, "t", payload, NULL, NULL,
	    &error), -1);
	free(payload);

	assert_int_equal(error.code, HERALD_EINVAL);
	assert_string_equal(error.message,
	    "payload is 1048577 bytes, over the limit of 1048576");
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

static void
test_enqueue_unmigrated_database(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	assert_int_equal(herald_enqueue(db->conn, "t", NULL, NULL, NULL,
	    &error), -1);

	/* The insert names a relation of the missing schema. */
	assert_int_equal(error.code, HERALD_ESCHEMA);
	assert_string_equal(error.sqlstate, "42P01");
}

static void
test_claim_order(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int64_t			 now_us = hd_realtime_us(), ids[7];
	int			 n;

	ids[0] = enqueue(db, "a", "default", 0, now_us - 3000000, 0);
	ids[1] = enqueue(db, "b", "default", -1, now_us - 1000000, 0);
	ids[2] = enqueue(db, "c", "default", 0, now_us - 5000000, 0);
	ids[3] = enqueue(db, "d", "default", 0, 0, 0);
	ids[4] = enqueue(db, "e", "default", -9, now_us + 3600000000LL, 0);
	ids[5] = enqueue(db, "f", "default", 0, now_us - 5000000, 0);
	ids[6] = enqueue(db, "g", "other", -9, 0, 0);

	n = hd_store_claim(db->conn, "default", WORKER, 10, LEASE_MS, &jobs,
	    &error);

	assert_int_equal(n, 5);
	assert_int_equal(jobs[0].id, ids[1]);
	assert_int_equal(jobs[1].id, ids[2]);
	assert_int_equal(jobs[2].id, ids[5]);
	assert_int_equal(jobs[3].id, ids[0]);
	assert_int_equal(jobs[4].id, ids[3]);
	assert_string_equal(jobs[0].task, "b");
	assert_string_equal(jobs[0].queue, "default");
	assert_string_equal(jobs[0].payload, "{\"n\": 1}");
	assert_int_equal(jobs[0].priority, -1);
	assert_int_equal(jobs[0].attempt, 1);
	assert_int_equal(jobs[0].max_attempts, HERALD_DEFAULT_MAX_ATTEMPTS);
	assert_true(jobs[0].lease_token > 0);
	assert_null(jobs[0].event_id);
	assert_null(jobs[0].event_type);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'"
	    " AND lease_owner = '" WORKER "' AND attempt = 1"
	    " AND lease_until > now()"), 5);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs WHERE state = 'queued'"
	    " AND id IN (%" PRId64 ", %" PRId64 ")", ids[4], ids[6]), 2);
	hd_jobs_free(jobs, n);
}

static void
test_claim_in_batches(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int			 i;

	for (i = 0; i < 5; i++)
		enqueue(db, "t", "default", 0, 0, 0);

	assert_int_equal(hd_store_claim(db->conn, "default", WORKER, 2,
	    LEASE_MS, &jobs, &error), 2);
	hd_jobs_free(jobs, 2);
	assert_int_equal(hd_store_claim(db->conn, "default", WORKER, 2,
	    LEASE_MS, &jobs, &error), 2);
	hd_jobs_free(jobs, 2);
	assert_int_equal(hd_store_claim(db->conn, "default", WORKER, 2,
	    LEASE_MS, &jobs, &error), 1);
	hd_jobs_free(jobs, 1);
	assert_int_equal(hd_store_claim(db->conn, "default", WORKER, 2,
	    LEASE_MS, &jobs, &error), 0);
	assert_null(jobs);
}

static void
test_claim_bad_arguments(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;

	assert_int_equal(hd_store_claim(db->conn, "default", WORKER, 0,
	    LEASE_MS, &jobs, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_int_equal(hd_store_claim(db->conn, "default", WORKER, 1, 0,
	    &jobs, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
}

static void
test_complete_deletes_and_counts(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		 job;

	enqueue(db, "send_mail", "mail", 0, 0, 0);
	claim_one(db, "mail", &job);

	assert_int_equal(hd_store_complete(db->conn, &job, &error), 1);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT sum(completed) FROM herald.counters"
	    " WHERE queue = 'mail' AND task = 'send_mail'"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT sum(failed + retried + dead) FROM herald.counters"), 0);
	hd_job_release(&job);
}

static void
test_stale_token_changes_nothing(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		 job, stale;

	enqueue(db, "t", "default", 0, 0, 0);
	claim_one(db, "default", &job);
	stale = job;
	stale.lease_token = job.lease_token + 1000;

	assert_int_equal(hd_store_complete(db->conn, &stale, &error), 0);
	assert_int_equal(fail_job(db, &stale, HD_OUTCOME_FAILED, 1, 0),
	    HD_FAIL_LOST);
	assert_int_equal(hd_store_release(db->conn, &stale, 0, &error), 0);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'"
	    " AND attempt = 1 AND errors = '[]' AND lease_token = %" PRId64,
	    job.lease_token), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.counters"), 0);
	hd_job_release(&job);
}

/* Make the job's retry due now, so the next claim takes it. */
static void
make_due(struct dbtest *db, int64_t id)
{
	dbtest_exec(db->conn, "UPDATE herald.jobs SET run_at = now()"
	    " WHERE id = %" PRId64, id);
}

/* Assert the queued job's run_at lies delay_ms from now, within 5 s. */
static void
assert_run_at_in(struct dbtest *db, int64_t id, int64_t delay_ms)
{
	int64_t	in_ms;

	in_ms = dbtest_int(db->conn, "SELECT (extract(epoch FROM run_at"
	    " - clock_timestamp()) * 1000)::bigint FROM herald.jobs"
	    " WHERE id = %" PRId64 " AND state = 'queued'", id);
	assert_in_range(in_ms, delay_ms - 5000, delay_ms);
}

static void
test_fail_retries_until_dead(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_attempt	 timeout = {
		.outcome = HD_OUTCOME_TIMEOUT,
		.exit_code = -1,
		.signal = 9,
		.duration_ms = 30000,
	};
	struct hd_job		 job;
	int64_t			 id;

	id = enqueue(db, "flaky", "default", 0, 0, 3);

	claim_one(db, "default", &job);
	assert_int_equal(fail_job(db, &job, HD_OUTCOME_FAILED, 75, 60000),
	    HD_FAIL_RETRY);
	assert_run_at_in(db, id, 60000);
	hd_job_release(&job);
	make_due(db, id);

	claim_one(db, "default", &job);
	assert_int_equal(job.attempt, 2);
	assert_int_equal(hd_store_fail(db->conn, &job, &timeout, 120000,
	    &error), HD_FAIL_RETRY);
	assert_run_at_in(db, id, 120000);
	hd_job_release(&job);
	make_due(db, id);

	claim_one(db, "default", &job);
	assert_int_equal(job.attempt, 3);
	assert_int_equal(fail_job(db, &job, HD_OUTCOME_FAILED, 1, 60000),
	    HD_FAIL_DEAD);
	hd_job_release(&job);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	assert_text(db->conn, "exhausted",
	    "SELECT reason FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT attempt FROM herald.dead_jobs WHERE id = %" PRId64, id),
	    3);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT jsonb_array_length(errors) FROM herald.dead_jobs"
	    " WHERE id = %" PRId64, id), 3);
	assert_text(db->conn, "[1, 2, 3]",
	    "SELECT jsonb_path_query_array(errors, '$[*].attempt')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[\"failed\", \"timeout\", \"failed\"]",
	    "SELECT jsonb_path_query_array(errors, '$[*].outcome')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[75, null, 1]",
	    "SELECT jsonb_path_query_array(errors, '$[*].exit_code')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[null, 9, null]",
	    "SELECT jsonb_path_query_array(errors, '$[*].signal')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[12, 30000, 12]",
	    "SELECT jsonb_path_query_array(errors, '$[*].duration_ms')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[\"it broke\", null, \"it broke\"]",
	    "SELECT jsonb_path_query_array(errors, '$[*].output')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*)"
	    " FROM herald.dead_jobs, jsonb_array_elements(errors) e"
	    " WHERE id = %" PRId64 " AND (e->>'at')::timestamptz"
	    " BETWEEN now() - interval '1 minute' AND clock_timestamp()"
	    " AND e->>'at' LIKE '%%Z'", id), 3);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT sum(failed) * 100 + sum(retried) * 10 + sum(dead)"
	    " FROM herald.counters WHERE task = 'flaky'"), 321);
}

static void
test_fail_permanent_goes_dead(void **state)
{
	struct dbtest	*db = *state;
	struct hd_job	 job;
	int64_t		 id;

	id = enqueue(db, "strict", "default", 0, 0, 10);
	claim_one(db, "default", &job);

	assert_int_equal(fail_job(db, &job, HD_OUTCOME_PERMANENT, 65, 60000),
	    HD_FAIL_DEAD);

	assert_text(db->conn, "permanent",
	    "SELECT reason FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT attempt FROM herald.dead_jobs WHERE id = %" PRId64, id),
	    1);
	assert_text(db->conn, "[\"permanent\"]",
	    "SELECT jsonb_path_query_array(errors, '$[*].outcome')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[65]",
	    "SELECT jsonb_path_query_array(errors, '$[*].exit_code')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	hd_job_release(&job);
}

static void
test_fail_output_cleaned(void **state)
{
	static const char	 output[] =
	    "ok\xff\0bad\xc3(\xed\xa0\x80\xe2\x82";
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_attempt	 attempt = {
		.outcome = HD_OUTCOME_FAILED,
		.exit_code = 1,
		.output = output,
		.output_len = sizeof(output) - 1,
	};
	struct hd_job		 job;
	int64_t			 id;

	id = enqueue(db, "t", "default", 0, 0, 0);
	claim_one(db, "default", &job);

	assert_int_equal(hd_store_fail(db->conn, &job, &attempt, 0, &error),
	    HD_FAIL_RETRY);

	assert_text(db->conn,
	    "ok\xef\xbf\xbd" "bad\xef\xbf\xbd("
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	    "SELECT errors->0->>'output' FROM herald.jobs WHERE id = %" PRId64,
	    id);
	hd_job_release(&job);
}

static void
test_fail_done_outcome_rejected(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_attempt	 attempt = { .outcome = HD_OUTCOME_DONE };
	struct hd_job		 job;

	enqueue(db, "t", "default", 0, 0, 0);
	claim_one(db, "default", &job);

	assert_int_equal(hd_store_fail(db->conn, &job, &attempt, 0, &error),
	    -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs WHERE state = 'running'"),
	    1);
	hd_job_release(&job);
}

static void
test_dead_retry_by_id(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_dead_filter	 filter = { 0 };
	struct hd_job		 job;
	int64_t			 id;

	id = make_dead(db, "t", "default");
	filter.ids = &id;
	filter.nids = 1;

	assert_int_equal(hd_dead_retry(db->conn, &filter, &error), 1);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.dead_jobs"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs WHERE id = %" PRId64
	    " AND state = 'queued' AND attempt = 0"
	    " AND jsonb_array_length(errors) = 2"
	    " AND errors->-1->>'outcome' = 'retried'", id), 1);
	claim_one(db, "default", &job);
	assert_int_equal(job.id, id);
	assert_int_equal(job.attempt, 1);
	hd_job_release(&job);
}

/* Count dead jobs of queue and task. */
static int64_t
dead_count(struct dbtest *db, const char *queue, const char *task)
{
	char	sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM herald.dead_jobs"
	    " WHERE queue = '%s' AND task = '%s'", queue, task);
	return dbtest_int(db->conn, "%s", sql);
}

static void
test_dead_filters_match_only(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_dead_filter	 retry = { .queue = "mail", .task = "a" };
	struct hd_dead_filter	 purge = { .task = "b" };

	make_dead(db, "a", "mail");
	make_dead(db, "a", "mail");
	make_dead(db, "b", "mail");
	make_dead(db, "a", "default");
	make_dead(db, "b", "default");

	assert_int_equal(hd_dead_retry(db->conn, &retry, &error), 2);
	assert_int_equal(dead_count(db, "mail", "a"), 0);
	assert_int_equal(dead_count(db, "mail", "b"), 1);
	assert_int_equal(dead_count(db, "default", "a"), 1);
	assert_int_equal(dead_count(db, "default", "b"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs WHERE queue = 'mail'"
	    " AND task = 'a'"), 2);

	assert_int_equal(hd_dead_purge(db->conn, &purge, &error), 2);
	assert_int_equal(dead_count(db, "mail", "b"), 0);
	assert_int_equal(dead_count(db, "default", "b"), 0);
	assert_int_equal(dead_count(db, "default", "a"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 2);
}

static void
test_dead_purge_by_ids(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_dead_filter	 filter = { 0 };
	int64_t			 purged[2], kept;

	purged[0] = make_dead(db, "t", "default");
	kept = make_dead(db, "t", "default");
	purged[1] = make_dead(db, "t", "default");
	filter.ids = purged;
	filter.nids = 2;

	assert_int_equal(hd_dead_purge(db->conn, &filter, &error), 2);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.dead_jobs"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.dead_jobs WHERE id = %" PRId64,
	    kept), 1);
	assert_int_equal(hd_dead_purge(db->conn, NULL, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
}

static void
test_release_keeps_attempt(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		 job;
	int64_t			 id;

	id = enqueue(db, "t", "default", 0, 0, 0);
	claim_one(db, "default", &job);
	/* The job has waited since 2020, and still has after the release. */
	dbtest_exec(db->conn, "UPDATE herald.jobs SET run_at ="
	    " '2020-01-01 00:00:00+00' WHERE id = %" PRId64, id);

	assert_int_equal(hd_store_release(db->conn, &job, 0, &error), 1);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs WHERE id = %" PRId64
	    " AND state = 'queued' AND attempt = 0 AND lease_token IS NULL"
	    " AND lease_owner IS NULL AND errors = '[]'"
	    " AND run_at = '2020-01-01 00:00:00+00'", id), 1);
	assert_int_equal(hd_store_release(db->conn, &job, 0, &error), 0);
	hd_job_release(&job);
	claim_one(db, "default", &job);
	assert_int_equal(job.attempt, 1);
	hd_job_release(&job);
}

/*
 * A job put back with a delay is due that much later, and no claim takes
 * it before then.  A negative delay changes nothing.
 */
static void
test_release_with_delay(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		 job;
	int64_t			 id;

	id = enqueue(db, "t", "default", 0, 0, 0);
	claim_one(db, "default", &job);

	assert_int_equal(hd_store_release(db->conn, &job, -1, &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	dbtest_assert_invalid(db->conn, "SELECT herald.release(1, 1, -1)",
	    "release delay -1 ms is out of range",
	    "Use a whole number of milliseconds from 0.");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id = %" PRId64 " AND state = 'running'",
	    id), 1);

	assert_int_equal(hd_store_release(db->conn, &job, 60000, &error), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE id = %" PRId64 " AND state = 'queued'"
	    " AND run_at > now() + interval '50 seconds'", id), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('default', 'w2', 10, 60000)"), 0);
	hd_job_release(&job);
}

/* Move the lease deadline of every running job into the past. */
static void
expire_all(struct dbtest *db)
{
	dbtest_exec(db->conn, "UPDATE herald.leases"
	    " SET deadline = clock_timestamp() - interval '1 second'");
}

static void
test_expire_leases_requeues_then_buries(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		 job, old;
	int64_t			 id;

	id = enqueue(db, "t", "default", 0, 0, 2);
	claim_one(db, "default", &old);
	assert_int_equal(hd_store_expire_leases(db->conn, 100, &error), 0);
	expire_all(db);

	assert_int_equal(hd_store_expire_leases(db->conn, 100, &error), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs WHERE id = %" PRId64
	    " AND state = 'queued' AND attempt = 1"
	    " AND errors->0->>'outcome' = 'lost'", id), 1);
	assert_int_equal(hd_store_complete(db->conn, &old, &error), 0);

	claim_one(db, "default", &job);
	assert_int_equal(job.attempt, 2);
	expire_all(db);
	assert_int_equal(hd_store_expire_leases(db->conn, 100, &error), 1);

	assert_text(db->conn, "lost",
	    "SELECT reason FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[\"lost\", \"lost\"]",
	    "SELECT jsonb_path_query_array(errors, '$[*].outcome')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	hd_job_release(&old);
	hd_job_release(&job);
}

/* Retry dead job id, which must succeed. */
static void
retry_dead(struct dbtest *db, int64_t id)
{
	struct herald_error	 error;
	struct hd_dead_filter	 filter = { .ids = &id, .nids = 1 };

	assert_int_equal(hd_dead_retry(db->conn, &filter, &error), 1);
}

/*
 * A retry from the dead-letter queue restarts the attempt counter, so
 * the job gets its max_attempts again, while its history keeps counting
 * from the first attempt and records the retry.  Failed and lost
 * attempts are numbered the same way.
 */
static void
test_dead_retry_history_continues(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		 job;
	int64_t			 id;

	id = enqueue(db, "t", "default", 0, 0, 2);
	claim_one(db, "default", &job);
	assert_int_equal(fail_job(db, &job, HD_OUTCOME_FAILED, 75, 0),
	    HD_FAIL_RETRY);
	hd_job_release(&job);
	claim_one(db, "default", &job);
	assert_int_equal(fail_job(db, &job, HD_OUTCOME_FAILED, 75, 0),
	    HD_FAIL_DEAD);
	hd_job_release(&job);

	retry_dead(db, id);
	claim_one(db, "default", &job);
	assert_int_equal(job.attempt, 1);
	hd_job_release(&job);
	expire_all(db);
	assert_int_equal(hd_store_expire_leases(db->conn, 100, &error), 1);
	claim_one(db, "default", &job);
	assert_int_equal(job.attempt, 2);
	assert_int_equal(fail_job(db, &job, HD_OUTCOME_FAILED, 75, 0),
	    HD_FAIL_DEAD);
	hd_job_release(&job);

	retry_dead(db, id);
	claim_one(db, "default", &job);
	assert_int_equal(job.attempt, 1);
	assert_int_equal(fail_job(db, &job, HD_OUTCOME_PERMANENT, 65, 0),
	    HD_FAIL_DEAD);
	hd_job_release(&job);

	assert_text(db->conn, "[1, 2, 2, 3, 4, 4, 5]",
	    "SELECT jsonb_path_query_array(errors, '$[*].attempt')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_text(db->conn, "[\"failed\", \"failed\", \"retried\", \"lost\","
	    " \"failed\", \"retried\", \"permanent\"]",
	    "SELECT jsonb_path_query_array(errors, '$[*].outcome')::text"
	    " FROM herald.dead_jobs WHERE id = %" PRId64, id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT attempt FROM herald.dead_jobs WHERE id = %" PRId64, id),
	    1);
	/* Each retry names who did it, as its audit row does, and when. */
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.dead_jobs d,"
	    " jsonb_array_elements(d.errors) e"
	    " WHERE d.id = %" PRId64 " AND e->>'outcome' = 'retried'"
	    " AND EXISTS (SELECT 1 FROM herald.audit a"
	    "  WHERE a.action = 'dead retry'"
	    "  AND e->>'output' = format('retried from the dead-letter"
	    " queue by %%s (%%s)', a.db_user, concat_ws(', ',"
	    "   a.os_user || '@' || a.host, a.application))"
	    "  AND (e->>'at')::timestamptz"
	    "   BETWEEN a.at - interval '10 seconds' AND a.at)", id), 2);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.audit WHERE action = 'dead retry'"),
	    2);
}

static void
test_expire_leases_listed_names_jobs(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_expired_lease	*leases;
	struct hd_job		 first, last;
	int64_t			 requeued, buried;

	requeued = enqueue(db, "mail", "default", 0, 0, 3);
	buried = enqueue(db, "hook", "default", 0, 0, 1);
	claim_one(db, "default", &first);
	claim_one(db, "default", &last);
	expire_all(db);

	assert_int_equal(hd_store_expire_leases_listed(db->conn, 100, &leases,
	    &error), 2);
	assert_non_null(leases);
	assert_int_equal(leases[0].id + leases[1].id, requeued + buried);
	for (int i = 0; i < 2; i++) {
		bool	is_buried = leases[i].id == buried;

		assert_string_equal(leases[i].task, is_buried ? "hook" : "mail");
		assert_string_equal(leases[i].queue, "default");
		assert_int_equal(leases[i].attempt, 1);
		assert_int_equal(leases[i].dead, is_buried);
	}
	free(leases);

	assert_int_equal(hd_store_expire_leases_listed(db->conn, 100, &leases,
	    &error), 0);
	assert_null(leases);
	hd_job_release(&first);
	hd_job_release(&last);
}

static void
test_extend_leases_of_worker(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;

	enqueue(db, "t", "default", 0, 0, 0);
	enqueue(db, "t", "default", 0, 0, 0);
	enqueue(db, "t", "other", 0, 0, 0);
	assert_int_equal(hd_store_claim(db->conn, "default", "w1", 2, 1000,
	    &jobs, &error), 2);
	hd_jobs_free(jobs, 2);
	assert_int_equal(hd_store_claim(db->conn, "other", "w2", 2, 1000,
	    &jobs, &error), 1);
	hd_jobs_free(jobs, 1);

	assert_int_equal(hd_store_extend_leases(db->conn, "w1", 3600000,
	    &error), 2);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs"
	    " WHERE lease_until > now() + interval '59 minutes'"), 2);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.live_jobs WHERE lease_owner = 'w2'"
	    " AND lease_until < now() + interval '1 minute'"), 1);
}

static void
test_process_register_lifecycle(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	char			 host[256], *value;

	assert_int_equal(gethostname(host, sizeof(host)), 0);

	assert_int_equal(hd_store_register(db->conn, "sup-1", "supervisor",
	    NULL, NULL, &error), 0);
	assert_int_equal(hd_store_register(db->conn, "wrk-1", "worker",
	    "sup-1", "mail", &error), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT pid FROM herald.processes WHERE id = 'wrk-1'"), getpid());
	value = dbtest_text(db->conn, "SELECT host FROM herald.processes"
	    " WHERE id = 'wrk-1' AND kind = 'worker'"
	    " AND supervisor_id = 'sup-1' AND queue = 'mail'");
	assert_non_null(value);
	assert_string_equal(value, host);
	free(value);

	dbtest_exec(db->conn, "UPDATE herald.processes"
	    " SET heartbeat_at = now() - interval '1 hour'");
	assert_int_equal(hd_store_heartbeat(db->conn, "wrk-1", &error), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.processes"
	    " WHERE heartbeat_at > now() - interval '1 minute'"), 1);

	assert_int_equal(hd_store_unregister(db->conn, "wrk-1", &error), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.processes"), 1);
	assert_int_equal(hd_store_heartbeat(db->conn, "wrk-1", &error), -1);
	assert_int_equal(error.code, HERALD_ENOTFOUND);
}

static void
test_process_bad_kind_rejected(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;

	assert_int_equal(hd_store_register(db->conn, "x", "painter", NULL,
	    NULL, &error), -1);

	assert_int_equal(error.code, HERALD_EDB);
	assert_string_equal(error.sqlstate, "23514");
}

/*
 * Two failed workers of one queue, as a supervisor with workers = 3
 * reports them, each get a row, and a later report replaces them.
 */
static void
test_failed_children_two_of_queue(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.set_failed_children('sup-1',"
	    " '{worker,worker,janitor}', '{mail,mail,\"\"}', '{1,3,2}')");

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.failed_children"), 3);
	dbtest_assert_text(dbtest_text(db->conn,
	    "SELECT string_agg(role || ' ' || queue || ' ' || slot || ' ' ||"
	    " failures, ',' ORDER BY role, queue, slot)"
	    " FROM herald.failed_children WHERE supervisor_id = 'sup-1'"),
	    "janitor  1 2,worker mail 1 1,worker mail 2 3");

	dbtest_exec(db->conn, "SELECT herald.set_failed_children('sup-1',"
	    " '{worker}', '{mail}', '{4}')");

	dbtest_assert_text(dbtest_text(db->conn,
	    "SELECT string_agg(role || ' ' || queue || ' ' || slot || ' ' ||"
	    " failures, ',') FROM herald.failed_children"),
	    "worker mail 1 4");
}

/*
 * The failed children of a supervisor whose registration is gone, as a
 * heraldd's janitor removes it when heraldd dies, go at the next prune.
 */
static void
test_failed_children_of_gone(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "INSERT INTO herald.processes"
	    " (id, kind, host, pid) VALUES ('sup-live', 'supervisor', 'h', 1)");
	dbtest_exec(db->conn, "SELECT herald.set_failed_children('sup-live',"
	    " '{relay}', '{\"\"}', '{5}')");
	dbtest_exec(db->conn, "SELECT herald.set_failed_children('sup-gone',"
	    " '{relay}', '{\"\"}', '{5}')");

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT herald.prune_processes(60000)"), 0);
	dbtest_assert_text(dbtest_text(db->conn,
	    "SELECT string_agg(supervisor_id, ',')"
	    " FROM herald.failed_children"), "sup-live");
}

static void
test_outcome_names(void **state)
{
	assert_string_equal(hd_outcome_name(HD_OUTCOME_DONE), "done");
	assert_string_equal(hd_outcome_name(HD_OUTCOME_FAILED), "failed");
	assert_string_equal(hd_outcome_name(HD_OUTCOME_PERMANENT),
	    "permanent");
	assert_string_equal(hd_outcome_name(HD_OUTCOME_TIMEOUT), "timeout");
	assert_string_equal(hd_outcome_name(HD_OUTCOME_LOST), "lost");
}

/* Return the SQLSTATE of a failed connection with extra added to conninfo. */
static char *
connect_sqlstate(struct dbtest *db, const char *extra,
    enum herald_code *code)
{
	static char		 sqlstate[6];
	struct herald_error	 error;
	char			 conninfo[1024];
	PGconn			*conn;

	snprintf(conninfo, sizeof conninfo, "%s %s", db->conninfo, extra);
	memset(&error, 0, sizeof error);
	conn = hd_db_connect(conninfo, "test", &error);
	assert_null(conn);
	*code = error.code;
	snprintf(sqlstate, sizeof sqlstate, "%s", error.sqlstate);
	return sqlstate;
}

/*
 * A failed connection carries the SQLSTATE of its cause, which the
 * daemon's logs print in place of the server's message.
 */
static void
test_connect_failure_sqlstate(void **state)
{
	struct dbtest		*db = *state;
	enum herald_code	 code;

	assert_string_equal(connect_sqlstate(db, "dbname=herald_t_missing",
	    &code), "3D000");
	assert_int_equal(code, HERALD_ECONNECT);
	assert_string_equal(connect_sqlstate(db, "user=herald_t_missing",
	    &code), "28000");
	assert_int_equal(code, HERALD_ECONNECT);
	/* No server listens on port 1. */
	assert_string_equal(connect_sqlstate(db, "port=1", &code), "08001");
	assert_int_equal(code, HERALD_ECONNECT);
}

/*
 * A failed connection lasts only when a change of configuration mends
 * it.  A role or a database at its connection limit is full, as a server
 * is, and may connect later: they were read as a role or a database that
 * does not exist, which ended a console waiting for the server.
 */
static void
test_connect_failure_lasting(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	PGconn			*conn;
	char			 conninfo[1024], role[64];

	snprintf(role, sizeof role, "herald_t_full_%ld", (long)getpid());
	dbtest_exec(db->conn, "CREATE ROLE %s LOGIN CONNECTION LIMIT 0",
	    role);
	snprintf(conninfo, sizeof conninfo, "%s user=%s", db->conninfo,
	    role);
	memset(&error, 0, sizeof error);
	conn = hd_db_connect(conninfo, "test", &error);
	assert_null(conn);
	assert_string_equal(error.sqlstate, "53300");
	assert_false(hd_db_connect_lasting(&error));

	dbtest_exec(db->conn, "ALTER ROLE %s CONNECTION LIMIT -1", role);
	dbtest_exec(db->conn, "ALTER DATABASE %s CONNECTION LIMIT 0",
	    PQdb(db->conn));
	memset(&error, 0, sizeof error);
	conn = hd_db_connect(conninfo, "test", &error);
	dbtest_exec(db->conn, "ALTER DATABASE %s CONNECTION LIMIT -1",
	    PQdb(db->conn));
	dbtest_exec(db->conn, "DROP ROLE %s", role);
	assert_null(conn);
	assert_string_equal(error.sqlstate, "53300");
	assert_false(hd_db_connect_lasting(&error));

	snprintf(conninfo, sizeof conninfo, "%s port=1", db->conninfo);
	memset(&error, 0, sizeof error);
	assert_null(hd_db_connect(conninfo, "test", &error));
	assert_false(hd_db_connect_lasting(&error));

	snprintf(conninfo, sizeof conninfo, "%s dbname=herald_t_missing",
	    db->conninfo);
	memset(&error, 0, sizeof error);
	assert_null(hd_db_connect(conninfo, "test", &error));
	assert_true(hd_db_connect_lasting(&error));

	snprintf(conninfo, sizeof conninfo, "%s user=herald_t_missing",
	    db->conninfo);
	memset(&error, 0, sizeof error);
	assert_null(hd_db_connect(conninfo, "test", &error));
	assert_true(hd_db_connect_lasting(&error));
}

/*
 * Log lines describe a connection failure by its SQLSTATE's condition,
 * and any other error by its code.
 */
static void
test_error_reason_names_condition(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	PGconn			*conn;
	char			 conninfo[1024];

	snprintf(conninfo, sizeof conninfo, "%s dbname=herald_t_missing",
	    db->conninfo);
	memset(&error, 0, sizeof error);
	conn = hd_db_connect(conninfo, "test", &error);
	assert_null(conn);
	assert_string_equal(hd_error_reason(&error),
	    "database does not exist");

	memset(&error, 0, sizeof error);
	error.code = HERALD_EDB;
	snprintf(error.sqlstate, sizeof error.sqlstate, "XX000");
	assert_string_equal(hd_error_reason(&error),
	    herald_strerror(HERALD_EDB));
}

/*
 * A statement on a connection that the server closed fails with SQLSTATE
 * 08006: the relay logged an empty one when its LISTEN met an outage.
 */
static void
test_lost_connection_sqlstate(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	PGconn			*other = dbtest_connect(db);
	int			 i;

	dbtest_exec(db->conn, "SELECT pg_terminate_backend(%d)",
	    PQbackendPID(other));
	/* Else the backend may still read the statement and fail it with 57P01. */
	for (i = 0; i < 1000 && dbtest_int(db->conn, "SELECT count(*) FROM"
	    " pg_stat_activity WHERE pid = %d", PQbackendPID(other)) > 0; i++)
		dbtest_exec(db->conn, "SELECT pg_sleep(0.01)");
	memset(&error, 0, sizeof error);
	assert_int_equal(hd_db_exec(other, "LISTEN herald", &error), -1);
	assert_int_equal(error.code, HERALD_ECONNECT);
	assert_string_equal(error.sqlstate, "08006");
	/* libpq's message spans lines; herald's is one. */
	assert_null(strchr(error.message, '\n'));
	assert_null(strchr(error.message, '\t'));
	PQfinish(other);
}

#define DBTEST(f) \
	cmocka_unit_test_setup_teardown(f, dbtest_setup, dbtest_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		DBTEST(test_enqueue_defaults),
		DBTEST(test_connect_failure_sqlstate),
		DBTEST(test_connect_failure_lasting),
		DBTEST(test_error_reason_names_condition),
		DBTEST(test_lost_connection_sqlstate),
		DBTEST(test_enqueue_options),
		DBTEST(test_enqueue_null_payload),
		DBTEST(test_enqueue_joins_transaction),
		DBTEST(test_enqueue_bad_arguments),
		DBTEST(test_enqueue_payload_over_limit),
		cmocka_unit_test_setup_teardown(
		    test_enqueue_unmigrated_database, dbtest_setup_bare,
		    dbtest_teardown),
		DBTEST(test_claim_order),
		DBTEST(test_claim_in_batches),
		DBTEST(test_claim_bad_arguments),
		DBTEST(test_complete_deletes_and_counts),
		DBTEST(test_stale_token_changes_nothing),
		DBTEST(test_fail_retries_until_dead),
		DBTEST(test_fail_permanent_goes_dead),
		DBTEST(test_fail_output_cleaned),
		DBTEST(test_fail_done_outcome_rejected),
		DBTEST(test_dead_retry_by_id),
		DBTEST(test_dead_retry_history_continues),
		DBTEST(test_dead_filters_match_only),
		DBTEST(test_dead_purge_by_ids),
		DBTEST(test_release_keeps_attempt),
		DBTEST(test_release_with_delay),
		DBTEST(test_expire_leases_requeues_then_buries),
		DBTEST(test_expire_leases_listed_names_jobs),
		DBTEST(test_extend_leases_of_worker),
		DBTEST(test_process_register_lifecycle),
		DBTEST(test_process_bad_kind_rejected),
		DBTEST(test_failed_children_two_of_queue),
		DBTEST(test_failed_children_of_gone),
		cmocka_unit_test(test_outcome_names),
	};

	dbtest_init("store");
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
