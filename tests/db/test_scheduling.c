/*
 * test_scheduling.c: unique jobs under concurrent enqueues, the queue
 * limits of the claim, cancelling running jobs, taking back the jobs of
 * a dead worker (those it started and those it never started) and the
 * attempts it abandoned to stuck handlers.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "herald.h"
#include "db.h"
#include "store.h"
#include "dbtest.h"

#define NPRODUCERS	8
#define PRODUCER_CALLS	25
#define NCLAIMERS	4
#define LIMIT		3
#define LIMIT_JOBS	40

static void
sleep_ms(int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int64_t
enqueue_unique(PGconn *conn, const char *key, int64_t for_ms,
    unsigned states)
{
	struct herald_job_options	options = { 0 };
	struct herald_error		error;
	int64_t				id = -1;

	options.unique_key = key;
	options.unique_for_ms = for_ms;
	options.unique_states = states;
	if (herald_enqueue(conn, "t", NULL, &options, &id, &error) == -1)
		fail_msg("herald_enqueue: %s", error.message);
	return id;
}

/*
 * A producer: wait for the start signal on start_fd, then enqueue with
 * the key "same" PRODUCER_CALLS times and write each id to out_fd.
 */
static int
producer_run(const char *conninfo, int start_fd, int out_fd)
{
	struct herald_job_options	options = { 0 };
	struct herald_error		error;
	PGconn				*conn;
	int64_t				 id;
	char				 byte;
	int				 i;

	if ((conn = hd_db_connect(conninfo, "producer", &error)) == NULL)
		return 10;
	(void)read(start_fd, &byte, 1);
	options.unique_key = "same";
	for (i = 0; i < PRODUCER_CALLS; i++) {
		if (herald_enqueue(conn, "t", NULL, &options, &id,
		    &error) == -1)
			return 11;
		if (write(out_fd, &id, sizeof id) != sizeof id)
			return 12;
	}
	PQfinish(conn);
	return 0;
}

static void
test_unique_concurrent_producers_one_job(void **state)
{
	struct dbtest	*db = *state;
	int		 start[2], out[2], status, i;
	int64_t		 id, first = -1;
	ssize_t		 n;
	pid_t		 pids[NPRODUCERS];
	size_t		 count = 0;

	assert_int_equal(pipe(start), 0);
	assert_int_equal(pipe(out), 0);
	for (i = 0; i < NPRODUCERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0) {
			close(start[1]);
			close(out[0]);
			_exit(producer_run(db->conninfo, start[0], out[1]));
		}
	}
	close(start[0]);
	close(out[1]);
	/* Closing the write end starts every producer at once. */
	close(start[1]);

	while ((n = read(out[0], &id, sizeof id)) == sizeof id) {
		if (first == -1)
			first = id;
		assert_int_equal(id, first);
		count++;
	}
	close(out[0]);
	for (i = 0; i < NPRODUCERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	assert_int_equal(count, NPRODUCERS * PRODUCER_CALLS);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT job_id FROM herald.unique_keys WHERE key = 'same'"),
	    first);
}

/* A second enqueue with the key waits for the first one's commit. */
static void
test_unique_second_waits_for_first(void **state)
{
	struct dbtest	*db = *state;
	PGconn		*other = dbtest_connect(db);
	PGresult	*res;
	struct pollfd	 pfd;
	int64_t		 first;

	dbtest_exec(db->conn, "BEGIN");
	first = enqueue_unique(db->conn, "k", 0, 0);
	assert_int_equal(PQsendQuery(other, "SELECT herald.enqueue_unique("
	    "'t', 'default', '{}', 0, NULL, 10, NULL, NULL, 'k')"), 1);

	/* It blocks on the key's row: no result within 300 ms. */
	pfd.fd = PQsocket(other);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 300), 0);

	dbtest_exec(db->conn, "COMMIT");
	res = PQgetResult(other);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(strtoll(PQgetvalue(res, 0, 0), NULL, 10), first);
	PQclear(res);
	assert_null(PQgetResult(other));
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 1);
	PQfinish(other);
}

static void
test_unique_states_and_period(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int64_t			 a, b, c, d;

	/* Queued only: a running job frees the key. */
	a = enqueue_unique(db->conn, "q", 0, HERALD_UNIQUE_QUEUED);
	assert_int_equal(enqueue_unique(db->conn, "q", 0,
	    HERALD_UNIQUE_QUEUED), a);
	assert_int_equal(hd_store_claim(db->conn, "default", "w", 1, 60000,
	    &jobs, &error), 1);
	b = enqueue_unique(db->conn, "q", 0, HERALD_UNIQUE_QUEUED);
	assert_true(b != a);

	/* Queued or running: only the end of the job frees it. */
	assert_int_equal(hd_store_complete(db->conn, &jobs[0], &error), 1);
	hd_jobs_free(jobs, 1);
	dbtest_exec(db->conn, "DELETE FROM herald.jobs");
	c = enqueue_unique(db->conn, "p", 3600000, 0);
	dbtest_exec(db->conn, "DELETE FROM herald.jobs WHERE id = %lld",
	    (long long)c);
	/* With a period the key outlives its job. */
	assert_int_equal(enqueue_unique(db->conn, "p", 3600000, 0), c);
	dbtest_exec(db->conn, "UPDATE herald.unique_keys"
	    " SET until = now() - interval '1 second' WHERE key = 'p'");
	d = enqueue_unique(db->conn, "p", 0, 0);
	assert_true(d != c);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs WHERE id = %lld",
	    (long long)d), 1);
}

static void
test_unique_rejects_bad_options(void **state)
{
	struct dbtest			*db = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	struct herald_job		 job = { "t", NULL, { 0 } };
	char				 key[HERALD_UNIQUE_KEY_MAX + 2];
	int64_t				 id;

	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	options.unique_key = key;
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	options.unique_key = "k";
	options.unique_states = 0x4;
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	job.options.unique_key = key;
	assert_int_equal(herald_enqueue_many(db->conn, &job, 1, &id,
	    &error), -1);
	assert_int_equal(error.code, HERALD_EINVAL);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

static int
claim_count(PGconn *conn, const char *queue, int n)
{
	struct herald_error	 error;
	struct hd_job		*jobs = NULL;
	int			 got;

	got = hd_store_claim(conn, queue, "w", n, 60000, &jobs, &error);
	if (got == -1)
		fail_msg("claim: %s", error.message);
	hd_jobs_free(jobs, got);
	return got;
}

static void
test_limit_caps_claims(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.set_queue_limits('lq', 3, NULL)");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'lq')"
	    " FROM generate_series(1, 10)");

	assert_int_equal(claim_count(db->conn, "lq", 10), 3);
	assert_int_equal(claim_count(db->conn, "lq", 10), 0);
	dbtest_exec(db->conn, "DELETE FROM herald.jobs WHERE id = (SELECT"
	    " min(id) FROM herald.live_jobs WHERE state = 'running')");
	assert_int_equal(claim_count(db->conn, "lq", 10), 1);
	/* Other queues are not limited. */
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'free')"
	    " FROM generate_series(1, 10)");
	assert_int_equal(claim_count(db->conn, "free", 10), 10);
	/* Lifting the limit lets the rest go. */
	dbtest_exec(db->conn, "SELECT herald.set_queue_limits('lq', NULL,"
	    " NULL)");
	assert_int_equal(claim_count(db->conn, "lq", 10), 6);
}

/*
 * A claimer: claim up to 2 jobs of "lq", hold them about 20 ms, complete
 * them; until nothing is left.  Exit 0, or non-zero on an error.
 */
static int
claimer_run(const char *conninfo, const char *worker)
{
	struct herald_error	 error;
	struct hd_job		*jobs;
	PGconn			*conn;
	int			 n, i, idle = 0;

	if ((conn = hd_db_connect(conninfo, worker, &error)) == NULL)
		return 10;
	while (idle < 50) {
		n = hd_store_claim(conn, "lq", worker, 2, 60000, &jobs,
		    &error);
		if (n == -1)
			return 11;
		if (n == 0) {
			idle++;
			sleep_ms(10);
			continue;
		}
		idle = 0;
		sleep_ms(20);
		for (i = 0; i < n; i++)
			if (hd_store_complete(conn, &jobs[i], &error) != 1)
				return 12;
		hd_jobs_free(jobs, n);
	}
	PQfinish(conn);
	return 0;
}

static void
test_limit_holds_across_claimers(void **state)
{
	struct dbtest	*db = *state;
	pid_t		 pids[NCLAIMERS];
	char		 worker[32];
	int		 i, status, running, max_running = 0, left;

	dbtest_exec(db->conn, "SELECT herald.set_queue_limits('lq', %d,"
	    " NULL)", LIMIT);
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'lq')"
	    " FROM generate_series(1, %d)", LIMIT_JOBS);
	for (i = 0; i < NCLAIMERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0) {
			snprintf(worker, sizeof worker, "claimer%d", i);
			_exit(claimer_run(db->conninfo, worker));
		}
	}
	do {
		running = (int)dbtest_int(db->conn, "SELECT count(*)"
		    " FROM herald.live_jobs WHERE state = 'running'");
		if (running > max_running)
			max_running = running;
		left = (int)dbtest_int(db->conn,
		    "SELECT count(*) FROM herald.live_jobs");
	} while (left > 0);
	for (i = 0; i < NCLAIMERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	print_message("at most %d running at once\n", max_running);
	assert_true(max_running <= LIMIT);
	assert_true(max_running >= 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT coalesce(sum(completed),"
	    " 0) FROM herald.counters WHERE queue = 'lq'"), LIMIT_JOBS);
}

static void
test_rate_caps_claims(void **state)
{
	struct dbtest	*db = *state;
	int		 later;

	dbtest_exec(db->conn, "SELECT herald.set_queue_limits('rq', NULL, 10)");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t', 'rq')"
	    " FROM generate_series(1, 100)");

	/* The bucket holds one second of jobs. */
	assert_int_equal(claim_count(db->conn, "rq", 100), 10);
	assert_int_equal(claim_count(db->conn, "rq", 100), 0);
	sleep_ms(350);
	later = claim_count(db->conn, "rq", 100);
	print_message("%d jobs after 350 ms at 10 per second\n", later);
	assert_true(later >= 2);
	assert_true(later <= 5);
}

static void
test_cancel_running_job(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int64_t			 id, token;

	id = dbtest_int(db->conn, "SELECT herald.enqueue('t')");
	assert_int_equal(hd_store_claim(db->conn, "default", "w1", 1, 60000,
	    &jobs, &error), 1);
	token = jobs[0].lease_token;
	hd_jobs_free(jobs, 1);

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.cancel(ARRAY[%lld], 'op', 'host')", (long long)id), 1);
	/* Still there until its worker ends it. */
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*)"
	    " FROM herald.jobs WHERE id = %lld", (long long)id), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.renew_leases_cancelled('w1', ARRAY[%lld], 60000)"
	    " WHERE cancelled = ARRAY[%lld]::bigint[]", (long long)token,
	    (long long)id), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.audit WHERE action = 'job cancel running'"
	    " AND ids = ARRAY[%lld]::bigint[] AND os_user = 'op'", (long long)id), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.finish_cancelled("
	    "%lld, %lld)::int", (long long)id, (long long)token), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.dead_jobs"), 0);
}

/*
 * A worker's cycle completes its jobs and then claims, in one
 * transaction.  A cancel of a job it completes waits for it and does not
 * deadlock with its claim.
 */
static void
test_cancel_while_completing(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	PGconn			*console = dbtest_connect(db);
	PGresult		*res;
	char			 sql[128];
	int64_t			 id, token;

	id = dbtest_int(db->conn, "SELECT herald.enqueue('t')");
	assert_int_equal(hd_store_claim(db->conn, "default", "w1", 1, 60000,
	    &jobs, &error), 1);
	token = jobs[0].lease_token;
	hd_jobs_free(jobs, 1);

	dbtest_exec(db->conn, "BEGIN");
	dbtest_exec(db->conn, "SELECT herald.complete_many(ARRAY[%lld::bigint],"
	    " ARRAY[%lld::bigint])", (long long)id, (long long)token);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM"
	    " herald.cancel(ARRAY[%lld::bigint], 'op', 'host')", (long long)id);
	assert_int_equal(PQsendQuery(console, sql), 1);
	assert_int_equal(dbtest_waits_for_lock(db->conn, console), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.claim('default', 'w1', 10, 60000)"), 0);
	dbtest_exec(db->conn, "COMMIT");

	res = PQgetResult(console);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("cancel: %s", PQresultErrorMessage(res));
	/* The job was completed, so nothing was left to cancel. */
	assert_string_equal(PQgetvalue(res, 0, 0), "0");
	PQclear(res);
	assert_null(PQgetResult(console));
	PQfinish(console);
}

/* A cancelled job that went back to its queue never runs again. */
static void
test_cancelled_requeued_is_purged(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;
	int64_t			 id;

	id = dbtest_int(db->conn, "SELECT herald.enqueue('t')");
	assert_int_equal(hd_store_claim(db->conn, "default", "w1", 1, 60000,
	    &jobs, &error), 1);
	hd_jobs_free(jobs, 1);
	dbtest_exec(db->conn, "SELECT herald.cancel(ARRAY[%lld], NULL, NULL)",
	    (long long)id);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT herald.expire_worker('w9')"), 0);
	/* Its handler failed: back in the queue, as fail does. */
	dbtest_exec(db->conn, "DELETE FROM herald.leases");

	assert_int_equal(claim_count(db->conn, "default", 10), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT herald.purge_cancelled(100)"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

static void
test_expire_worker_takes_jobs_back(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_job		*jobs;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', max_attempts => 1)");
	dbtest_exec(db->conn, "SELECT herald.enqueue('t')");
	assert_int_equal(hd_store_claim(db->conn, "default", "dead", 2, 60000,
	    &jobs, &error), 2);
	hd_jobs_free(jobs, 2);

	assert_int_equal(dbtest_int(db->conn,
	    "SELECT herald.expire_worker('dead')"), 2);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE state = 'queued' AND attempt = 1"
	    " AND errors->0->>'outcome' = 'lost'"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.dead_jobs WHERE reason = 'lost'"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT herald.expire_worker('dead')"), 0);
}

/*
 * Claim one job of the default queue as worker owner and store its
 * attempt as an abandoned timeout with a retry after delay_ms.  Return
 * the job's lease token.
 */
static int64_t
claim_and_abandon(PGconn *conn, const char *owner, int64_t delay_ms)
{
	struct herald_error	 error;
	struct hd_attempt	 attempt;
	struct hd_job		*jobs;
	int64_t			 token;

	assert_int_equal(hd_store_claim(conn, "default", owner, 1, 60000,
	    &jobs, &error), 1);
	memset(&attempt, 0, sizeof attempt);
	attempt.outcome = HD_OUTCOME_TIMEOUT;
	attempt.exit_code = -1;
	attempt.duration_ms = 1000;
	attempt.output = "handler ran past its timeout";
	assert_int_equal(hd_store_abandon(conn, &jobs[0], &attempt, delay_ms,
	    &error), 1);
	token = jobs[0].lease_token;
	hd_jobs_free(jobs, 1);
	return token;
}

/* An abandoned attempt keeps its job from claims until the owner is gone. */
static void
test_abandoned_job_waits_for_owner(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t')");
	claim_and_abandon(db->conn, "stuck", 0);

	assert_int_equal(claim_count(db->conn, "default", 10), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE state = 'running' AND attempt = 1"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE attempt = 0 AND errors = '[]'"), 1);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT lost || ' ' ||"
	    " abandoned FROM herald.take_back_jobs('stuck')"), "0 1");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE state = 'queued' AND attempt = 1"
	    " AND errors->0->>'outcome' = 'timeout'"
	    " AND errors->0->>'output' = 'handler ran past its timeout'"
	    " AND run_at <= now()"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.abandoned_attempts"), 0);
	assert_int_equal(claim_count(db->conn, "default", 10), 1);
}

/*
 * A lease that expires records the abandoned attempt with its retry
 * delay, and a lost lease cannot be abandoned.
 */
static void
test_abandoned_job_on_expiry(void **state)
{
	struct dbtest		*db = *state;
	struct herald_error	 error;
	struct hd_attempt	 attempt;
	struct hd_job		 job;
	int64_t			 token;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t')");
	token = claim_and_abandon(db->conn, "stuck", 600000);
	dbtest_exec(db->conn, "UPDATE herald.leases"
	    " SET deadline = now() - interval '1 second'");

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.expire_leases_listed(100)"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE attempt = 1"
	    " AND errors->0->>'outcome' = 'timeout'"
	    " AND run_at > now() + interval '500 seconds'"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.abandoned_attempts"), 0);

	memset(&job, 0, sizeof job);
	job.id = dbtest_int(db->conn, "SELECT id FROM herald.jobs");
	job.lease_token = token;
	job.task = "t";
	job.queue = "default";
	job.attempt = 1;
	memset(&attempt, 0, sizeof attempt);
	attempt.outcome = HD_OUTCOME_TIMEOUT;
	attempt.exit_code = -1;
	assert_int_equal(hd_store_abandon(db->conn, &job, &attempt, 0,
	    &error), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.abandoned_attempts"), 0);
}

/* An abandoned last attempt buries the job as exhausted, not lost. */
static void
test_abandoned_last_attempt_buried(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', max_attempts => 1)");
	claim_and_abandon(db->conn, "stuck", 0);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT lost || ' ' ||"
	    " abandoned FROM herald.take_back_jobs('stuck')"), "0 1");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.dead_jobs WHERE reason = 'exhausted'"
	    " AND errors->0->>'outcome' = 'timeout'"), 1);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
}

/* An abandoned attempt after a retry from the dead-letter queue counts on. */
static void
test_abandoned_attempt_numbered_on(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 id;

	id = dbtest_int(db->conn, "SELECT herald.enqueue('t', "
	    "max_attempts => 1)");
	claim_and_abandon(db->conn, "stuck", 0);
	dbtest_exec(db->conn, "SELECT herald.take_back_jobs('stuck')");
	dbtest_exec(db->conn, "SELECT herald.dead_retry(ARRAY[%lld], NULL, "
	    "NULL)", (long long)id);
	claim_and_abandon(db->conn, "stuck2", 0);
	dbtest_exec(db->conn, "SELECT herald.take_back_jobs('stuck2')");

	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg("
	    "(e->>'attempt') || ' ' || (e->>'outcome'), ', ' ORDER BY n) "
	    "FROM herald.dead_jobs, jsonb_array_elements(errors) "
	    "WITH ORDINALITY AS x(e, n) WHERE id = %lld", (long long)id),
	    "1 timeout, 1 retried, 2 timeout");
}

/*
 * A dead job keeps its unique key, and a retry takes the key again.
 * While another job holds it the retry fails, names the holder and
 * changes nothing, so two jobs with one key never run at once.
 */
static void
test_dead_retry_takes_unique_key(void **state)
{
	struct dbtest			*db = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	PGresult			*res;
	int64_t				 dead, holder, again;

	options.unique_key = "K";
	options.max_attempts = 1;
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, &dead,
	    &error), 0);
	claim_and_abandon(db->conn, "stuck", 0);
	dbtest_exec(db->conn, "SELECT herald.take_back_jobs('stuck')");
	dbtest_assert_text(dbtest_text(db->conn, "SELECT unique_key FROM"
	    " herald.dead_jobs WHERE id = %lld", (long long)dead), "K");
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options,
	    &holder, &error), 0);
	assert_true(holder != dead);

	res = PQexec(db->conn, "SELECT herald.dead_retry(NULL, NULL, NULL)");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
	    "23505");
	assert_non_null(strstr(PQresultErrorMessage(res), "job"));
	assert_non_null(strstr(PQresultErrorMessage(res), "\"K\""));
	PQclear(res);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.dead_jobs WHERE id = %lld", (long long)dead), 1);

	/* Once the holder is gone, the retried job holds the key. */
	dbtest_exec(db->conn, "SELECT herald.cancel(ARRAY[%lld], NULL, NULL)",
	    (long long)holder);
	assert_int_equal(dbtest_int(db->conn, "SELECT herald.dead_retry("
	    "NULL, NULL, NULL)"), 1);
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options, &again,
	    &error), 0);
	assert_int_equal(again, dead);
}

/*
 * A retry of several dead jobs revives those that get their unique keys
 * and leaves dead the one whose key another job holds.
 */
static void
test_dead_retry_skips_held_key(void **state)
{
	static const char *const	 keys[] = { "K", "L" };
	struct dbtest			*db = *state;
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	int64_t				 dead[2], holder;
	size_t				 i;

	options.max_attempts = 1;
	for (i = 0; i < 2; i++) {
		options.unique_key = keys[i];
		assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options,
		    &dead[i], &error), 0);
		claim_and_abandon(db->conn, "stuck", 0);
		dbtest_exec(db->conn, "SELECT herald.take_back_jobs('stuck')");
	}
	options.unique_key = "K";
	assert_int_equal(herald_enqueue(db->conn, "t", NULL, &options,
	    &holder, &error), 0);

	assert_int_equal(dbtest_int(db->conn, "SELECT herald.dead_retry("
	    "NULL, NULL, NULL)"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT id FROM"
	    " herald.dead_jobs"), dead[0]);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE id IN (%lld, %lld)", (long long)dead[1],
	    (long long)holder), 2);
}

/* A job cancelled while its attempt is abandoned is deleted, row and all. */
static void
test_abandoned_cancelled_job_deleted(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 id;

	id = dbtest_int(db->conn, "SELECT herald.enqueue('t')");
	claim_and_abandon(db->conn, "stuck", 0);
	dbtest_exec(db->conn, "SELECT herald.cancel(ARRAY[%lld], NULL, NULL)",
	    (long long)id);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT lost || ' ' ||"
	    " abandoned FROM herald.take_back_jobs('stuck')"), "0 1");
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.jobs"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.abandoned_attempts"), 0);
}

/* Claim n jobs of the default queue as worker owner; return the first id. */
static int64_t
claim_as(PGconn *conn, const char *owner, int n)
{
	struct herald_error	 error;
	struct hd_job		*jobs = NULL;
	int64_t			 first;

	assert_int_equal(hd_store_claim(conn, "default", owner, n, 60000,
	    &jobs, &error), n);
	first = jobs[0].id;
	hd_jobs_free(jobs, n);
	return first;
}

/*
 * The started job of a dead worker counts a lost attempt and is buried
 * at max_attempts = 1, and the jobs it never started go back to their
 * queue with no attempt.
 */
static void
test_take_back_started_only(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 started;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', max_attempts => 1)"
	    " FROM generate_series(1, 5)");
	started = claim_as(db->conn, "dead", 5);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg("
	    "outcome || ':' || coalesce(reason, '-') || ':' || attempt,"
	    " ' ' ORDER BY job_id) FROM herald.take_back_started('dead',"
	    " ARRAY[%lld])", (long long)started),
	    "lost:lost:1 released:-:0 released:-:0 released:-:0"
	    " released:-:0");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.dead_jobs WHERE id = %lld AND reason = 'lost'"
	    " AND errors->0->>'outcome' = 'lost'", (long long)started), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE state = 'queued' AND attempt = 0"
	    " AND errors = '[]' AND run_at <= now()"), 4);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.leases"), 0);
	assert_int_equal(claim_count(db->conn, "default", 10), 4);
}

/* With no list of started jobs, every job of the worker counts. */
static void
test_take_back_started_unknown(void **state)
{
	struct dbtest	*db = *state;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t', max_attempts => 2)"
	    " FROM generate_series(1, 3)");
	claim_as(db->conn, "dead", 3);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg("
	    "outcome || ':' || coalesce(reason, '-') || ':' || attempt,"
	    " ' ' ORDER BY job_id) FROM herald.take_back_started('dead',"
	    " NULL)"), "lost:-:1 lost:-:1 lost:-:1");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE attempt = 1"
	    " AND errors->0->>'outcome' = 'lost'"), 3);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.leases"), 0);
}

/*
 * An abandoned attempt counts even when the list leaves its job out, and
 * an unstarted job whose cancellation was requested is deleted.
 */
static void
test_take_back_started_abandoned(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 cancelled;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t')");
	claim_and_abandon(db->conn, "dead", 0);
	dbtest_exec(db->conn, "SELECT herald.enqueue('t')");
	cancelled = claim_as(db->conn, "dead", 1);
	dbtest_exec(db->conn, "SELECT herald.cancel(ARRAY[%lld], NULL, NULL)",
	    (long long)cancelled);

	dbtest_assert_text(dbtest_text(db->conn, "SELECT string_agg("
	    "outcome || ':' || coalesce(reason, '-'), ' ' ORDER BY job_id)"
	    " FROM herald.take_back_started('dead', '{}')"),
	    "abandoned:- cancelled:-");
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE attempt = 1"
	    " AND errors->0->>'outcome' = 'timeout'"), 1);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.jobs WHERE id = %lld", (long long)cancelled), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.abandoned_attempts"), 0);
	assert_int_equal(dbtest_int(db->conn,
	    "SELECT count(*) FROM herald.leases"), 0);
}

/* A listed job on the lease of another worker is left alone. */
static void
test_take_back_started_other_worker(void **state)
{
	struct dbtest	*db = *state;
	int64_t		 other;

	dbtest_exec(db->conn, "SELECT herald.enqueue('t')");
	other = claim_as(db->conn, "alive", 1);

	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.take_back_started('dead', ARRAY[%lld])",
	    (long long)other), 0);
	assert_int_equal(dbtest_int(db->conn, "SELECT count(*) FROM"
	    " herald.live_jobs WHERE state = 'running' AND attempt = 1"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_unique_concurrent_producers_one_job,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_unique_second_waits_for_first,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_unique_states_and_period,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_unique_rejects_bad_options,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_limit_caps_claims,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_limit_holds_across_claimers,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_rate_caps_claims,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_running_job,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_cancel_while_completing,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_cancelled_requeued_is_purged,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_expire_worker_takes_jobs_back,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_abandoned_job_waits_for_owner,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_abandoned_job_on_expiry,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_abandoned_attempt_numbered_on, dbtest_setup,
		    dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_abandoned_last_attempt_buried,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_abandoned_cancelled_job_deleted,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_take_back_started_only,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_take_back_started_unknown,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_take_back_started_abandoned,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_take_back_started_other_worker,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(
		    test_dead_retry_takes_unique_key,
		    dbtest_setup, dbtest_teardown),
		cmocka_unit_test_setup_teardown(test_dead_retry_skips_held_key,
		    dbtest_setup, dbtest_teardown),
	};

	dbtest_init("sched");
	return cmocka_run_group_tests_name("scheduling", tests, NULL, NULL);
}
