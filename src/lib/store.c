/*
 * store.c: the job store, calls of the SQL functions of sql/job.
 *
 * Every statement is parameterised and runs on the caller's connection
 * without a transaction of its own.  Each SQL function is a single
 * statement, so outside a transaction it commits at once.
 */

#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "db.h"
#include "store.h"
#include "util.h"

/* Decimal text of an int64_t with sign and NUL. */
#define STORE_INT_TEXT	24

static const char claim_sql[] =
    "SELECT id, task, queue, payload, priority, attempt, max_attempts,"
    " lease_token, event_id, event_type"
    " FROM herald.claim($1, $2, $3, $4)";

enum claim_column {
	CLAIM_ID = 0,
	CLAIM_TASK,
	CLAIM_QUEUE,
	CLAIM_PAYLOAD,
	CLAIM_PRIORITY,
	CLAIM_ATTEMPT,
	CLAIM_MAX_ATTEMPTS,
	CLAIM_LEASE_TOKEN,
	CLAIM_EVENT_ID,
	CLAIM_EVENT_TYPE
};

const char *
hd_outcome_name(enum hd_outcome outcome)
{
	switch (outcome) {
	case HD_OUTCOME_DONE:
		return "done";
	case HD_OUTCOME_FAILED:
		return "failed";
	case HD_OUTCOME_PERMANENT:
		return "permanent";
	case HD_OUTCOME_TIMEOUT:
		return "timeout";
	case HD_OUTCOME_LOST:
		return "lost";
	}
	return "unknown";
}

void
hd_job_release(struct hd_job *job)
{
	if (job == NULL)
		return;
	free(job->task);
	free(job->queue);
	free(job->payload);
	free(job->event_id);
	free(job->event_type);
	memset(job, 0, sizeof(*job));
}

void
hd_jobs_free(struct hd_job *jobs, int njobs)
{
	int	i;

	if (jobs == NULL)
		return;
	for (i = 0; i < njobs; i++)
		hd_job_release(&jobs[i]);
	free(jobs);
}

/*
 * Run one parameterised statement.  Return its result, or NULL with error
 * filled as "what: reason".
 */
static PGresult *
store_exec(PGconn *conn, const char *sql, int nparams,
    const char *const *values, const char *what, struct herald_error *error)
{
	PGresult	*res;

	if (conn == NULL) {
		hd_error_set(error, HERALD_EINVAL, "%s: no connection given",
		    what);
		return NULL;
	}
	res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res, what);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Run a statement that returns one row of one column, as store_exec. */
static PGresult *
store_exec_value(PGconn *conn, const char *sql, int nparams,
    const char *const *values, const char *what, struct herald_error *error)
{
	PGresult	*res;

	res = store_exec(conn, sql, nparams, values, what, error);
	if (res == NULL)
		return NULL;
	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		hd_error_set(error, HERALD_EDB,
		    "%s: expected one value, got %d rows of %d columns",
		    what, PQntuples(res), PQnfields(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

static char *
store_strdup_value(const PGresult *res, int row, int column)
{
	if (PQgetisnull(res, row, column))
		return NULL;
	return strdup(PQgetvalue(res, row, column));
}

/* Fill job from one row of claim_sql; 0, or -1 when out of memory. */
static int
store_read_job(const PGresult *res, int row, struct hd_job *job)
{
	job->id = strtoll(PQgetvalue(res, row, CLAIM_ID), NULL, 10);
	job->priority = atoi(PQgetvalue(res, row, CLAIM_PRIORITY));
	job->attempt = atoi(PQgetvalue(res, row, CLAIM_ATTEMPT));
	job->max_attempts = atoi(PQgetvalue(res, row, CLAIM_MAX_ATTEMPTS));
	job->lease_token = strtoll(PQgetvalue(res, row, CLAIM_LEASE_TOKEN),
	    NULL, 10);
	job->task = store_strdup_value(res, row, CLAIM_TASK);
	job->queue = store_strdup_value(res, row, CLAIM_QUEUE);
	job->payload = store_strdup_value(res, row, CLAIM_PAYLOAD);
	job->event_id = store_strdup_value(res, row, CLAIM_EVENT_ID);
	job->event_type = store_strdup_value(res, row, CLAIM_EVENT_TYPE);

	if (job->task == NULL || job->queue == NULL || job->payload == NULL)
		return -1;
	if (job->event_id == NULL && !PQgetisnull(res, row, CLAIM_EVENT_ID))
		return -1;
	if (job->event_type == NULL &&
	    !PQgetisnull(res, row, CLAIM_EVENT_TYPE))
		return -1;
	return 0;
}

/*
 * NOTE: when memory runs out after the claim, the claimed jobs stay
 * running until their lease expires and the janitor takes them back.
 */
int
hd_store_claim(PGconn *conn, const char *queue, const char *worker_id,
    int limit, int64_t lease_ms, struct hd_job **jobs,
    struct herald_error *error)
{
	const char	*values[4];
	char		 limit_text[STORE_INT_TEXT], lease_text[STORE_INT_TEXT];
	struct hd_job	*claimed;
	PGresult	*res;
	int		 n, i;

	*jobs = NULL;
	if (queue == NULL || worker_id == NULL || limit < 1 ||
	    lease_ms < 1 || lease_ms > INT_MAX) {
		hd_error_set(error, HERALD_EINVAL,
		    "could not claim jobs: invalid queue, worker, limit %d or lease %" PRId64 " ms",
		    limit, lease_ms);
		return -1;
	}
	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	snprintf(lease_text, sizeof(lease_text), "%" PRId64, lease_ms);
	values[0] = queue;
	values[1] = worker_id;
	values[2] = limit_text;
	values[3] = lease_text;

	res = store_exec(conn, claim_sql, 4, values, "could not claim jobs",
	    error);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return 0;
	}

	claimed = calloc(n, sizeof(*claimed));
	if (claimed == NULL) {
		hd_error_set(error, HERALD_ENOMEM,
		    "could not claim jobs: out of memory");
		PQclear(res);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (store_read_job(res, i, &claimed[i]) == -1) {
			hd_error_set(error, HERALD_ENOMEM,
			    "could not claim jobs: out of memory");
			hd_jobs_free(claimed, i + 1);
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	*jobs = claimed;
	return n;
}

/* Run "SELECT f($1, $2)" for a job and its lease token; 1, 0 or -1. */
static int
store_job_call(PGconn *conn, const char *sql, const struct hd_job *job,
    const char *what, struct herald_error *error)
{
	const char	*values[2];
	char		 id_text[STORE_INT_TEXT], token_text[STORE_INT_TEXT];
	PGresult	*res;
	int		 done;

	snprintf(id_text, sizeof(id_text), "%" PRId64, job->id);
	snprintf(token_text, sizeof(token_text), "%" PRId64,
	    job->lease_token);
	values[0] = id_text;
	values[1] = token_text;

	res = store_exec_value(conn, sql, 2, values, what, error);
	if (res == NULL)
		return -1;
	done = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return done;
}

int
hd_store_complete(PGconn *conn, const struct hd_job *job,
    struct herald_error *error)
{
	return store_job_call(conn, "SELECT herald.complete($1, $2)", job,
	    "could not complete job", error);
}

int
hd_store_release(PGconn *conn, const struct hd_job *job, int64_t delay_ms,
    struct herald_error *error)
{
	const char	*values[3];
	char		 id_text[STORE_INT_TEXT], token_text[STORE_INT_TEXT];
	char		 delay_text[STORE_INT_TEXT];
	PGresult	*res;
	int		 done;

	if (delay_ms < 0 || delay_ms > INT32_MAX) {
		hd_error_set(error, HERALD_EINVAL, "release delay %" PRId64
		    " ms is out of range", delay_ms);
		return -1;
	}
	snprintf(id_text, sizeof(id_text), "%" PRId64, job->id);
	snprintf(token_text, sizeof(token_text), "%" PRId64,
	    job->lease_token);
	snprintf(delay_text, sizeof(delay_text), "%" PRId64, delay_ms);
	values[0] = id_text;
	values[1] = token_text;
	values[2] = delay_text;

	res = store_exec_value(conn, "SELECT herald.release($1, $2, $3)", 3,
	    values, "could not release job", error);
	if (res == NULL)
		return -1;
	done = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return done;
}

/*
 * Store in *len the length of the well-formed UTF-8 sequence at s (at
 * most avail bytes) and return 1, or store the length of its longest
 * ill-formed prefix (at least 1) and return 0.  Overlong forms,
 * surrogates and code points past U+10FFFF are ill-formed (RFC 3629).
 */
static int
utf8_sequence(const unsigned char *s, size_t avail, size_t *len)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		need, i;

	if (s[0] < 0x80) {
		*len = 1;
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		*len = 1;
		return 0;
	}

	for (i = 1; i <= need && i < avail; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	*len = i;
	return i == need + 1;
}

/*
 * Copy len bytes of handler output into a new NUL-terminated string that
 * jsonb accepts: each ill-formed UTF-8 sequence becomes U+FFFD and NUL
 * bytes are dropped.  Return NULL when out of memory.
 */
static char *
store_clean_output(const char *output, size_t len, size_t *clean_len)
{
	static const char	 replacement[] = "\xef\xbf\xbd";
	const unsigned char	*s = (const unsigned char *)output;
	char			*clean, *p;
	size_t			 i = 0, n;

	/* At worst every byte becomes a three-byte U+FFFD. */
	clean = malloc(len * 3 + 1);
	if (clean == NULL)
		return NULL;
	p = clean;
	while (i < len) {
		if (utf8_sequence(s + i, len - i, &n)) {
			if (s[i] != '\0') {
				memcpy(p, s + i, n);
				p += n;
			}
		} else {
			memcpy(p, replacement, 3);
			p += 3;
		}
		i += n;
	}
	*p = '\0';
	*clean_len = p - clean;
	return clean;
}

/* Format the current time as ISO 8601 UTC with milliseconds. */
static void
store_format_now(char *buf, size_t size)
{
	int64_t		now_us = hd_realtime_us();
	time_t		seconds = now_us / 1000000;
	struct tm	tm;
	char		date[32];

	gmtime_r(&seconds, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", date, (int)(now_us % 1000000 / 1000));
}

void
hd_history_time(const char *at, char *buf, size_t size)
{
	size_t	len = strlen(at);

	if (len >= 19 && at[10] == 'T' && (at[len - 1] == 'Z' ||
	    strcmp(at + len - 6, "+00:00") == 0))
		snprintf(buf, size, "%.10s %.8sZ", at, at + 11);
	else
		snprintf(buf, size, "%s", at);
}

bool
hd_history_is_action(const char *outcome)
{
	return outcome != NULL && (strcmp(outcome, "retried") == 0 ||
	    strcmp(outcome, "edited") == 0);
}

int64_t
hd_history_attempts_before_retry(const json_t *history)
{
	const char	*outcome;
	json_t		*attempt;
	size_t		 i;
	int64_t		 before = 0;

	for (i = 0; i < json_array_size(history); i++) {
		outcome = json_string_value(json_object_get(
		    json_array_get(history, i), "outcome"));
		attempt = json_object_get(json_array_get(history, i),
		    "attempt");
		if (outcome != NULL && strcmp(outcome, "retried") == 0 &&
		    json_is_integer(attempt))
			before = json_integer_value(attempt);
	}
	return before;
}

/*
 * Build the attempt's history entry as JSON text; NULL when out of memory.
 * Its attempt is the job's counter, which herald.fail renumbers from the
 * job's creation.
 */
static char *
store_attempt_json(const struct hd_job *job, const struct hd_attempt *attempt)
{
	json_t	*entry, *output = json_null();
	char	 at[40], *clean, *text;
	size_t	 len, clean_len;

	if (attempt->output != NULL) {
		len = attempt->output_len != 0 ? attempt->output_len :
		    strlen(attempt->output);
		clean = store_clean_output(attempt->output, len, &clean_len);
		if (clean == NULL)
			return NULL;
		output = json_stringn(clean, clean_len);
		free(clean);
		if (output == NULL)
			return NULL;
	}
	store_format_now(at, sizeof(at));

	entry = json_pack("{s:i, s:s, s:s, s:o, s:o, s:I, s:o}",
	    "attempt", job->attempt,
	    "at", at,
	    "outcome", hd_outcome_name(attempt->outcome),
	    "exit_code", attempt->exit_code == -1 ? json_null() :
		json_integer(attempt->exit_code),
	    "signal", attempt->signal == 0 ? json_null() :
		json_integer(attempt->signal),
	    "duration_ms", (json_int_t)attempt->duration_ms,
	    "output", output);
	if (entry == NULL)
		return NULL;
	text = json_dumps(entry, JSON_COMPACT);
	json_decref(entry);
	return text;
}

/*
 * Check an attempt of job that did not succeed and return its history
 * entry, with the id, lease token and retry delay written as text to the
 * buffers of STORE_INT_TEXT bytes, or NULL.  what names the attempt in
 * messages: "failed" or "abandoned".  The caller frees the entry.
 */
static char *
store_attempt_args(const struct hd_job *job, const struct hd_attempt *attempt,
    int64_t retry_delay_ms, const char *what, char *id_text, char *token_text,
    char *delay_text, struct herald_error *error)
{
	char	*entry;

	if (attempt->outcome == HD_OUTCOME_DONE || retry_delay_ms < 0) {
		hd_error_set(error, HERALD_EINVAL,
		    "could not record %s attempt of job %" PRId64 ": outcome \"%s\" or delay %" PRId64 " ms is invalid",
		    what, job->id, hd_outcome_name(attempt->outcome),
		    retry_delay_ms);
		return NULL;
	}
	entry = store_attempt_json(job, attempt);
	if (entry == NULL) {
		hd_error_set(error, HERALD_ENOMEM,
		    "could not record %s attempt of job %" PRId64 ": out of memory",
		    what, job->id);
		return NULL;
	}
	snprintf(id_text, STORE_INT_TEXT, "%" PRId64, job->id);
	snprintf(token_text, STORE_INT_TEXT, "%" PRId64, job->lease_token);
	snprintf(delay_text, STORE_INT_TEXT, "%" PRId64, retry_delay_ms);
	return entry;
}

int
hd_store_fail(PGconn *conn, const struct hd_job *job,
    const struct hd_attempt *attempt, int64_t retry_delay_ms,
    struct herald_error *error)
{
	const char	*values[5];
	char		 id_text[STORE_INT_TEXT], token_text[STORE_INT_TEXT];
	char		 delay_text[STORE_INT_TEXT], *entry;
	const char	*result;
	PGresult	*res;
	int		 outcome;

	entry = store_attempt_args(job, attempt, retry_delay_ms, "failed",
	    id_text, token_text, delay_text, error);
	if (entry == NULL)
		return -1;
	values[0] = id_text;
	values[1] = token_text;
	values[2] = entry;
	values[3] = attempt->outcome == HD_OUTCOME_PERMANENT ? "t" : "f";
	values[4] = delay_text;

	res = store_exec_value(conn,
	    "SELECT herald.fail($1, $2, $3::jsonb, $4, $5)", 5, values,
	    "could not record failed attempt", error);
	free(entry);
	if (res == NULL)
		return -1;

	result = PQgetvalue(res, 0, 0);
	if (strcmp(result, "retry") == 0)
		outcome = HD_FAIL_RETRY;
	else if (strcmp(result, "dead") == 0)
		outcome = HD_FAIL_DEAD;
	else if (strcmp(result, "lost") == 0)
		outcome = HD_FAIL_LOST;
	else {
		hd_error_set(error, HERALD_EDB,
		    "could not record failed attempt: herald.fail returned \"%.32s\"",
		    result);
		outcome = -1;
	}
	PQclear(res);
	return outcome;
}

int
hd_store_abandon(PGconn *conn, const struct hd_job *job,
    const struct hd_attempt *attempt, int64_t retry_delay_ms,
    struct herald_error *error)
{
	const char	*values[4];
	char		 id_text[STORE_INT_TEXT], token_text[STORE_INT_TEXT];
	char		 delay_text[STORE_INT_TEXT], *entry;
	PGresult	*res;
	int		 stored;

	entry = store_attempt_args(job, attempt, retry_delay_ms, "abandoned",
	    id_text, token_text, delay_text, error);
	if (entry == NULL)
		return -1;
	values[0] = id_text;
	values[1] = token_text;
	values[2] = entry;
	values[3] = delay_text;

	res = store_exec_value(conn,
	    "SELECT herald.abandon_attempt($1, $2, $3::jsonb, $4)", 4, values,
	    "could not record abandoned attempt", error);
	free(entry);
	if (res == NULL)
		return -1;
	stored = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return stored;
}

/* Run a statement that returns one count; return it, or -1. */
static int64_t
store_count(PGconn *conn, const char *sql, int nparams,
    const char *const *values, const char *what, struct herald_error *error)
{
	PGresult	*res;
	int64_t		 count;

	res = store_exec_value(conn, sql, nparams, values, what, error);
	if (res == NULL)
		return -1;
	count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return count;
}

int
hd_store_extend_leases(PGconn *conn, const char *worker_id,
    int64_t lease_ms, struct herald_error *error)
{
	const char	*values[2];
	char		 lease_text[STORE_INT_TEXT];

	if (worker_id == NULL || lease_ms < 1 || lease_ms > INT_MAX) {
		hd_error_set(error, HERALD_EINVAL,
		    "could not extend leases: invalid worker or lease %" PRId64 " ms",
		    lease_ms);
		return -1;
	}
	snprintf(lease_text, sizeof(lease_text), "%" PRId64, lease_ms);
	values[0] = worker_id;
	values[1] = lease_text;
	return store_count(conn, "SELECT herald.extend_leases($1, $2)", 2,
	    values, "could not extend leases", error);
}

int
hd_store_expire_leases(PGconn *conn, int limit, struct herald_error *error)
{
	struct hd_expired_lease	*leases;
	int			 n;

	n = hd_store_expire_leases_listed(conn, limit, &leases, error);
	free(leases);
	return n;
}

int
hd_store_expire_leases_listed(PGconn *conn, int limit,
    struct hd_expired_lease **leases, struct herald_error *error)
{
	struct hd_expired_lease	*list = NULL;
	const char		*values[1];
	char			 limit_text[STORE_INT_TEXT];
	PGresult		*res;
	int			 i, n = -1;

	*leases = NULL;
	if (limit < 1) {
		hd_error_set(error, HERALD_EINVAL,
		    "could not expire leases: invalid limit %d", limit);
		return -1;
	}
	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	values[0] = limit_text;
	res = PQexecParams(conn, "SELECT id, task, queue, attempt, dead"
	    " FROM herald.expire_leases_listed($1)", 1, NULL, values, NULL,
	    NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res, "could not expire leases");
		goto out;
	}
	n = PQntuples(res);
	if (n > 0 && (list = calloc((size_t)n, sizeof(*list))) == NULL) {
		hd_error_set(error, HERALD_ENOMEM, "out of memory");
		n = -1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		list[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		snprintf(list[i].task, sizeof(list[i].task), "%s",
		    PQgetvalue(res, i, 1));
		snprintf(list[i].queue, sizeof(list[i].queue), "%s",
		    PQgetvalue(res, i, 2));
		list[i].attempt = atoi(PQgetvalue(res, i, 3));
		list[i].dead = strcmp(PQgetvalue(res, i, 4), "t") == 0;
	}
	*leases = list;
out:
	PQclear(res);
	return n;
}

int
hd_store_delay_lost(PGconn *conn, const struct hd_lost_delay *jobs,
    size_t njobs, struct herald_error *error)
{
	const char	*values[3];
	char		*ids, *attempts, *delays;
	size_t		 i, ilen = 0, alen = 0, dlen = 0;
	int		 n = -1;

	if (njobs == 0)
		return 0;
	ids = malloc(njobs * STORE_INT_TEXT + 3);
	attempts = malloc(njobs * STORE_INT_TEXT + 3);
	delays = malloc(njobs * STORE_INT_TEXT + 3);
	if (ids == NULL || attempts == NULL || delays == NULL) {
		hd_error_set(error, HERALD_ENOMEM, "out of memory");
		goto out;
	}
	ids[ilen++] = attempts[alen++] = delays[dlen++] = '{';
	for (i = 0; i < njobs; i++) {
		ilen += (size_t)sprintf(ids + ilen, "%s%" PRId64,
		    i > 0 ? "," : "", jobs[i].id);
		alen += (size_t)sprintf(attempts + alen, "%s%d",
		    i > 0 ? "," : "", jobs[i].attempt);
		dlen += (size_t)sprintf(delays + dlen, "%s%" PRId64,
		    i > 0 ? "," : "", jobs[i].delay_ms);
	}
	strcpy(ids + ilen, "}");
	strcpy(attempts + alen, "}");
	strcpy(delays + dlen, "}");
	values[0] = ids;
	values[1] = attempts;
	values[2] = delays;
	n = store_count(conn, "SELECT herald.delay_lost($1, $2, $3)", 3,
	    values, "could not delay lost jobs", error);
out:
	free(ids);
	free(attempts);
	free(delays);
	return n;
}

int
hd_store_record_crash(PGconn *conn, int64_t id, int signo,
    struct herald_error *error)
{
	const char	*values[3];
	char		 id_text[STORE_INT_TEXT], signal_text[STORE_INT_TEXT];
	char		 output[128];
	PGresult	*res;

	snprintf(id_text, sizeof id_text, "%" PRId64, id);
	snprintf(signal_text, sizeof signal_text, "%d", signo);
	if (signo > 0)
		snprintf(output, sizeof output, "worker lost: this job's "
		    "module handler raised signal %d (%s)", signo,
		    strsignal(signo));
	else
		snprintf(output, sizeof output, "worker lost: this job's "
		    "module called exit(), which ended the worker");
	values[0] = id_text;
	values[1] = signo > 0 ? signal_text : NULL;
	values[2] = output;
	res = store_exec_value(conn, "SELECT herald.record_crash($1, $2, $3)",
	    3, values, "could not record the crash", error);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Format ids as a PostgreSQL array literal; NULL when out of memory. */
static char *
store_ids_literal(const int64_t *ids, size_t nids)
{
	char	*text, *p;
	size_t	 i;

	text = malloc(nids * STORE_INT_TEXT + 3);
	if (text == NULL)
		return NULL;
	p = text;
	*p++ = '{';
	for (i = 0; i < nids; i++)
		p += sprintf(p, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	*p++ = '}';
	*p = '\0';
	return text;
}

/*
 * The selection of dead jobs d by an hd_dead_filter: $1 ids, $2 queue,
 * $3 task, $4 text and $5 max_id, then the parameters numbered o (older
 * than, ms), e (exit status) and g (text of the last output).
 */
#define DEAD_WHERE(o, e, g)						\
	" WHERE ($1::bigint[] IS NULL OR d.id = ANY ($1::bigint[]))"	\
	"   AND ($2::text IS NULL OR d.queue = $2::text)"		\
	"   AND ($3::text IS NULL OR d.task = $3::text)"		\
	"   AND ($5::bigint IS NULL OR d.id <= $5::bigint)"		\
	"   AND ($" o "::bigint IS NULL"				\
	"     OR d.died_at < now() - $" o "::bigint * interval '1 ms')"	\
	"   AND ($" e "::integer IS NULL"				\
	"     OR d.errors->-1->'exit_code' = to_jsonb($" e "::integer))"	\
	"   AND ($" g "::text IS NULL OR strpos(lower("		\
	"     coalesce(d.errors->-1->>'output', '')), lower($" g "::text)) > 0)" \
	"   AND herald.dead_match($4::text, d.task, d.queue, d.reason,"	\
	"     d.payload, d.errors)"

/*
 * The statement of a dead-job action: with any filter beyond ids, queue
 * and task it collects the matching ids first, in id order; otherwise
 * the ids and the queue and task filters go to herald.dead_retry or
 * herald.dead_purge as they are.  more ends the function's argument list.
 * $6 and $7 are the operating system user and host, $11 the selection as
 * the audit row records it.
 */
#define DEAD_ACTION_SQL(word, function, more)				\
	"SELECT herald.record_action('" word "', $2::text, $3::text,"	\
	" $1::bigint[], $11::text, " function "("			\
	"  CASE WHEN coalesce($4::text, '') = '' AND $5::bigint IS NULL"	\
	"   AND $8::bigint IS NULL AND $9::integer IS NULL"		\
	"   AND $10::text IS NULL"					\
	"  THEN $1::bigint[]"						\
	"  ELSE ARRAY(SELECT d.id FROM herald.dead_jobs d"		\
	DEAD_WHERE("8", "9", "10") " ORDER BY d.id) END,"		\
	"  $2::text, $3::text" more "), $6, $7)"

/* A retry also records the user and host in each job's history. */
static const char dead_retry_sql[] =
    DEAD_ACTION_SQL("dead retry", "herald.dead_retry", ", $6, $7");
static const char dead_purge_sql[] =
    DEAD_ACTION_SQL("dead purge", "herald.dead_purge", "");
static const char dead_count_sql[] =
    "SELECT count(*) FROM herald.dead_jobs d" DEAD_WHERE("6", "7", "8");

/* Store the operating system user and host name of this process. */
static void
action_identify(struct hd_action *action)
{
	struct passwd	 pw, *found = NULL;
	char		 buf[1024];
	const char	*name;

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) == 0 &&
	    found != NULL)
		name = found->pw_name;
	else if ((name = getenv("USER")) == NULL)
		name = "";
	snprintf(action->os_user, sizeof(action->os_user), "%s", name);
	if (gethostname(action->host, sizeof(action->host)) == -1)
		action->host[0] = '\0';
	action->host[sizeof(action->host) - 1] = '\0';
}

/*
 * Describe the filters of a dead-job selection beyond its ids, queue and
 * task, as "text=... older_than_ms=... exit_status=... grep=...", for
 * the audit row; "" when there are none, "all" when nothing at all
 * narrows the selection, NULL when out of memory.
 */
static char *
action_describe(const struct hd_dead_filter *filter)
{
	char	*text = NULL;
	size_t	 size = 0;
	FILE	*out;

	if ((out = open_memstream(&text, &size)) == NULL)
		return NULL;
	/*
	 * An audit row with every field empty would not say what went.  The
	 * console bounds its bulk actions by the newest id it showed, which
	 * narrows nothing that it showed.
	 */
	if (filter->nids == 0 && filter->queue == NULL &&
	    filter->task == NULL && (filter->text == NULL ||
	    filter->text[0] == '\0') && filter->older_than_ms <= 0 &&
	    !filter->has_exit_status && filter->grep == NULL)
		fprintf(out, "all ");
	if (filter->text != NULL && filter->text[0] != '\0')
		fprintf(out, "text=%s ", filter->text);
	if (filter->max_id > 0)
		fprintf(out, "max_id=%" PRId64 " ", filter->max_id);
	if (filter->older_than_ms > 0)
		fprintf(out, "older_than_ms=%" PRId64 " ",
		    filter->older_than_ms);
	if (filter->has_exit_status)
		fprintf(out, "exit_status=%d ", filter->exit_status);
	if (filter->grep != NULL)
		fprintf(out, "grep=%s ", filter->grep);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	if (size > 0)
		text[size - 1] = '\0';
	return text;
}

static void
action_init(struct hd_action *action, enum hd_action_kind kind)
{
	memset(action, 0, sizeof(*action));
	action->kind = kind;
	action_identify(action);
}

int
hd_action_dead(struct hd_action *action, enum hd_action_kind kind,
    const struct hd_dead_filter *filter, struct herald_error *error)
{
	bool	retry = kind == HD_ACTION_DEAD_RETRY;

	action_init(action, kind);
	action->what = retry ? "could not retry dead jobs" :
	    "could not purge dead jobs";
	if ((kind != HD_ACTION_DEAD_RETRY && kind != HD_ACTION_DEAD_PURGE) ||
	    filter == NULL || (filter->nids > 0 && filter->ids == NULL)) {
		hd_error_set(error, HERALD_EINVAL, "%s: no selection given",
		    action->what);
		return -1;
	}
	if ((filter->queue != NULL &&
	    strlen(filter->queue) > HERALD_NAME_MAX) ||
	    (filter->task != NULL && strlen(filter->task) > HERALD_NAME_MAX)) {
		hd_error_set(error, HERALD_EINVAL,
		    "%s: queue or task name longer than %d characters",
		    action->what, HERALD_NAME_MAX);
		return -1;
	}
	if (filter->nids > 0) {
		action->ids = store_ids_literal(filter->ids, filter->nids);
		if (action->ids == NULL) {
			hd_error_set(error, HERALD_ENOMEM, "%s: out of memory",
			    action->what);
			return -1;
		}
	}
	if (filter->max_id > 0)
		snprintf(action->max_id, sizeof(action->max_id), "%" PRId64,
		    filter->max_id);
	if (filter->older_than_ms > 0)
		snprintf(action->older_than_ms, sizeof(action->older_than_ms),
		    "%" PRId64, filter->older_than_ms);
	if (filter->has_exit_status)
		snprintf(action->exit_status, sizeof(action->exit_status),
		    "%d", filter->exit_status);
	if ((filter->text != NULL &&
	    (action->text = strdup(filter->text)) == NULL) ||
	    (filter->grep != NULL &&
	    (action->grep = strdup(filter->grep)) == NULL) ||
	    (action->filter = action_describe(filter)) == NULL) {
		hd_error_set(error, HERALD_ENOMEM, "%s: out of memory",
		    action->what);
		return -1;
	}
	snprintf(action->queue, sizeof(action->queue), "%s",
	    filter->queue != NULL ? filter->queue : "");
	snprintf(action->task, sizeof(action->task), "%s",
	    filter->task != NULL ? filter->task : "");

	action->sql = retry ? dead_retry_sql : dead_purge_sql;
	action->nparams = 11;
	action->values[0] = action->ids;
	action->values[1] = filter->queue != NULL ? action->queue : NULL;
	action->values[2] = filter->task != NULL ? action->task : NULL;
	action->values[3] = action->text;
	action->values[4] = filter->max_id > 0 ? action->max_id : NULL;
	action->values[5] = action->os_user;
	action->values[6] = action->host;
	action->values[7] = filter->older_than_ms > 0 ?
	    action->older_than_ms : NULL;
	action->values[8] = filter->has_exit_status ? action->exit_status :
	    NULL;
	action->values[9] = action->grep;
	action->values[10] = action->filter[0] != '\0' ? action->filter :
	    NULL;
	return 0;
}

int64_t
hd_dead_count(PGconn *conn, const struct hd_dead_filter *filter,
    struct herald_error *error)
{
	struct hd_action	 action;
	const char		*values[8];
	PGresult		*res;
	int64_t			 count = -1;

	if (hd_action_dead(&action, HD_ACTION_DEAD_RETRY, filter,
	    error) == -1) {
		hd_action_release(&action);
		return -1;
	}
	memcpy(values, action.values, 5 * sizeof(values[0]));
	values[5] = action.values[7];
	values[6] = action.values[8];
	values[7] = action.values[9];
	res = store_exec(conn, dead_count_sql, 8, values,
	    "could not count dead jobs", error);
	if (res != NULL) {
		count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	hd_action_release(&action);
	return count;
}

int
hd_action_queue(struct hd_action *action, const char *queue, bool paused,
    struct herald_error *error)
{
	struct herald_error	check;

	action_init(action, paused ? HD_ACTION_QUEUE_PAUSE :
	    HD_ACTION_QUEUE_RESUME);
	action->what = paused ? "could not pause queue" :
	    "could not resume queue";
	if (herald_check_name("queue", queue, &check) == -1) {
		hd_error_set(error, HERALD_EINVAL, "%s: %s", action->what,
		    check.message);
		return -1;
	}
	snprintf(action->queue, sizeof(action->queue), "%s", queue);
	action->sql = "SELECT herald.set_paused($1, $2, $3, $4)";
	action->nparams = 4;
	action->values[0] = action->queue;
	action->values[1] = paused ? "t" : "f";
	action->values[2] = action->os_user;
	action->values[3] = action->host;
	return 0;
}

int
hd_action_relay_forget(struct hd_action *action, const char *origin,
    struct herald_error *error)
{
	action_init(action, HD_ACTION_RELAY_FORGET);
	action->what = "could not forget the relay report";
	if (origin == NULL || origin[0] == '\0') {
		hd_error_set(error, HERALD_EINVAL, "%s: no origin given",
		    action->what);
		return -1;
	}
	action->text = hd_xstrdup(origin);
	action->sql = "SELECT herald.forget_relay($1, $2, $3)";
	action->nparams = 3;
	action->values[0] = action->text;
	action->values[1] = action->os_user;
	action->values[2] = action->host;
	return 0;
}

/*
 * Prepare an action of kind that runs sql with the job ids as $1 (a
 * bigint[]) and the operating system user and host as $2 and $3.
 */
static int
action_job_ids(struct hd_action *action, enum hd_action_kind kind,
    const char *what, const char *sql, const int64_t *ids, size_t nids,
    struct herald_error *error)
{
	action_init(action, kind);
	action->what = what;
	if (ids == NULL || nids == 0) {
		hd_error_set(error, HERALD_EINVAL, "%s: no job ids given",
		    action->what);
		return -1;
	}
	action->ids = store_ids_literal(ids, nids);
	if (action->ids == NULL) {
		hd_error_set(error, HERALD_ENOMEM, "%s: out of memory",
		    action->what);
		return -1;
	}
	action->sql = sql;
	action->nparams = 3;
	action->values[0] = action->ids;
	action->values[1] = action->os_user;
	action->values[2] = action->host;
	return 0;
}

int
hd_action_cancel(struct hd_action *action, const int64_t *ids, size_t nids,
    struct herald_error *error)
{
	return action_job_ids(action, HD_ACTION_JOB_CANCEL,
	    "could not cancel jobs",
	    "SELECT count(*) FROM herald.cancel($1::bigint[], $2, $3)",
	    ids, nids, error);
}

int
hd_action_retry_now(struct hd_action *action, const int64_t *ids,
    size_t nids, struct herald_error *error)
{
	return action_job_ids(action, HD_ACTION_JOB_RETRY_NOW,
	    "could not run jobs now",
	    "SELECT count(*) FROM herald.retry_now($1::bigint[], $2, $3)",
	    ids, nids, error);
}

int
hd_action_retry_edited(struct hd_action *action, int64_t id,
    const char *payload, size_t payload_max, struct herald_error *error)
{
	struct herald_error	check;

	action_init(action, HD_ACTION_DEAD_RETRY_EDITED);
	action->what = "could not retry dead job with an edited payload";
	if (id <= 0 || payload == NULL) {
		hd_error_set(error, HERALD_EINVAL, "%s: no job or payload given",
		    action->what);
		return -1;
	}
	if (herald_check_payload(payload, payload_max, &check) == -1) {
		hd_error_set(error, HERALD_EINVAL, "%s", check.message);
		return -1;
	}
	if ((action->payload = strdup(payload)) == NULL) {
		hd_error_set(error, HERALD_ENOMEM, "%s: out of memory",
		    action->what);
		return -1;
	}
	snprintf(action->max_id, sizeof(action->max_id), "%" PRId64, id);
	action->sql =
	    "SELECT herald.dead_retry_edited($1::bigint, $2::jsonb, $3, $4)";
	action->nparams = 4;
	action->values[0] = action->max_id;
	action->values[1] = action->payload;
	action->values[2] = action->os_user;
	action->values[3] = action->host;
	return 0;
}

int64_t
hd_action_result(const struct hd_action *action, PGconn *conn,
    const PGresult *res, struct herald_error *error)
{
	const char	*value;

	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res, action->what);
		return -1;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		hd_error_set(error, HERALD_EDB,
		    "%s: expected one value, got %d rows of %d columns",
		    action->what, PQntuples(res), PQnfields(res));
		return -1;
	}
	value = PQgetvalue(res, 0, 0);
	if (action->kind == HD_ACTION_QUEUE_PAUSE ||
	    action->kind == HD_ACTION_QUEUE_RESUME)
		return strcmp(value, "t") == 0;
	return strtoll(value, NULL, 10);
}

int64_t
hd_action_run(PGconn *conn, const struct hd_action *action,
    struct herald_error *error)
{
	PGresult	*res;
	int64_t		 count;

	if (conn == NULL) {
		hd_error_set(error, HERALD_EINVAL, "%s: no connection given",
		    action->what);
		return -1;
	}
	res = PQexecParams(conn, action->sql, action->nparams, NULL,
	    action->values, NULL, NULL, 0);
	count = hd_action_result(action, conn, res, error);
	PQclear(res);
	return count;
}

void
hd_action_release(struct hd_action *action)
{
	if (action == NULL)
		return;
	free(action->ids);
	action->ids = NULL;
	free(action->text);
	action->text = NULL;
	free(action->grep);
	action->grep = NULL;
	free(action->filter);
	action->filter = NULL;
	free(action->payload);
	action->payload = NULL;
}

const char *
hd_action_done_word(enum hd_action_kind kind)
{
	switch (kind) {
	case HD_ACTION_DEAD_RETRY:
		return "retried";
	case HD_ACTION_DEAD_PURGE:
		return "purged";
	case HD_ACTION_QUEUE_PAUSE:
		return "paused";
	case HD_ACTION_QUEUE_RESUME:
		return "resumed";
	case HD_ACTION_JOB_CANCEL:
		return "cancelled";
	case HD_ACTION_JOB_RETRY_NOW:
		return "moved to now";
	case HD_ACTION_DEAD_RETRY_EDITED:
		return "retried with the edited payload";
	case HD_ACTION_RELAY_FORGET:
		return "forgotten";
	}
	return "done";
}

/* Prepare and run one action; return its result, or -1. */
static int64_t
store_run_action(PGconn *conn, struct hd_action *action, int prepared,
    struct herald_error *error)
{
	int64_t	count = -1;

	if (prepared == 0)
		count = hd_action_run(conn, action, error);
	hd_action_release(action);
	return count;
}

int64_t
hd_dead_retry(PGconn *conn, const struct hd_dead_filter *filter,
    struct herald_error *error)
{
	struct hd_action	action;

	return store_run_action(conn, &action, hd_action_dead(&action,
	    HD_ACTION_DEAD_RETRY, filter, error), error);
}

int64_t
hd_dead_purge(PGconn *conn, const struct hd_dead_filter *filter,
    struct herald_error *error)
{
	struct hd_action	action;

	return store_run_action(conn, &action, hd_action_dead(&action,
	    HD_ACTION_DEAD_PURGE, filter, error), error);
}

int
hd_queue_pause(PGconn *conn, const char *queue, bool paused,
    struct herald_error *error)
{
	struct hd_action	action;

	return (int)store_run_action(conn, &action, hd_action_queue(&action,
	    queue, paused, error), error);
}

int64_t
hd_job_cancel(PGconn *conn, const int64_t *ids, size_t nids,
    struct herald_error *error)
{
	struct hd_action	action;

	return store_run_action(conn, &action, hd_action_cancel(&action, ids,
	    nids, error), error);
}

int64_t
hd_job_retry_now(PGconn *conn, const int64_t *ids, size_t nids,
    struct herald_error *error)
{
	struct hd_action	action;

	return store_run_action(conn, &action, hd_action_retry_now(&action,
	    ids, nids, error), error);
}

int64_t
hd_dead_retry_edited(PGconn *conn, int64_t id, const char *payload,
    size_t payload_max, struct herald_error *error)
{
	struct hd_action	action;

	return store_run_action(conn, &action, hd_action_retry_edited(&action,
	    id, payload, payload_max, error), error);
}

/* Register a process, or refresh the row of one registered before. */
int
hd_store_register(PGconn *conn, const char *id, const char *kind,
    const char *supervisor_id, const char *queue,
    struct herald_error *error)
{
	static const char sql[] =
	    "INSERT INTO herald.processes"
	    " (id, kind, supervisor_id, host, pid, queue, backend_pid)"
	    " VALUES ($1, $2, $3, $4, $5, $6, pg_backend_pid())"
	    " ON CONFLICT (id) DO UPDATE"
	    " SET kind = excluded.kind, supervisor_id = excluded.supervisor_id,"
	    " host = excluded.host, pid = excluded.pid, queue = excluded.queue,"
	    " backend_pid = excluded.backend_pid,"
	    " started_at = now(), heartbeat_at = now()";
	const char	*values[6];
	char		 host[256], pid_text[STORE_INT_TEXT];
	PGresult	*res;

	if (id == NULL || kind == NULL) {
		hd_error_set(error, HERALD_EINVAL,
		    "could not register process: missing id or kind");
		return -1;
	}
	hd_hostname(host, sizeof(host));
	snprintf(pid_text, sizeof(pid_text), "%ld", (long)getpid());
	values[0] = id;
	values[1] = kind;
	values[2] = supervisor_id;
	values[3] = host;
	values[4] = pid_text;
	values[5] = queue;

	res = store_exec(conn, sql, 6, values, "could not register process",
	    error);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Refresh a process's heartbeat.  Fails with HERALD_ENOTFOUND when its row
 * is gone, so the caller can register again.
 */
int
hd_store_heartbeat(PGconn *conn, const char *id, struct herald_error *error)
{
	const char	*values[1] = { id };
	PGresult	*res;
	int		 found;

	if (id == NULL) {
		hd_error_set(error, HERALD_EINVAL,
		    "could not refresh heartbeat: missing process id");
		return -1;
	}
	res = store_exec(conn,
	    "UPDATE herald.processes SET heartbeat_at = now(),"
	    " backend_pid = pg_backend_pid() WHERE id = $1",
	    1, values, "could not refresh heartbeat", error);
	if (res == NULL)
		return -1;
	found = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (!found) {
		hd_error_set(error, HERALD_ENOTFOUND,
		    "could not refresh heartbeat: process \"%s\" is not registered",
		    id);
		return -1;
	}
	return 0;
}

int
hd_store_unregister(PGconn *conn, const char *id, struct herald_error *error)
{
	const char	*values[1] = { id };
	PGresult	*res;

	res = store_exec(conn, "DELETE FROM herald.processes WHERE id = $1",
	    1, values, "could not unregister process", error);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}
