/*
 * enqueue.c: herald_enqueue and herald_enqueue_many, the producer's way
 * into the job database.
 *
 * Every argument is checked here first, so a bad value fails with
 * HERALD_EINVAL before any statement runs and the caller's transaction
 * stays usable.  The insert itself is one insert into the view
 * herald.new_jobs, which admits what herald.enqueue() accepts, or one call
 * of herald.enqueue_unique(), herald.enqueue_batch() or
 * herald.enqueue_batch_unique(), so producers in C, on the command line
 * and in SQL share one definition of a valid job.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-events.h>
#include <libpq-fe.h>

#include "herald.h"
#include "db.h"
#include "enqueue.h"
#include "util.h"
#include "wire.h"

/* 9999-12-31T23:59:59.999999Z in Unix microseconds. */
#define ENQUEUE_RUN_AT_MAX_US	INT64_C(253402300799999999)

/*
 * A single job is one insert into herald.new_jobs, whose check option
 * admits what herald.enqueue() accepts, so it costs no function call.
 * The id comes back as currval() of the sequence that the insert took it
 * from, since a producer may not read the view.
 * run_at is split into whole seconds and microseconds, because a double
 * of Unix microseconds divided by 1e6 may round the last digit.  A NULL
 * $5 means now.  A job due within a minute requests its queue's lock
 * without waiting.  A waiting worker holds that lock, so not getting it
 * means the queue is notified when the transaction commits.  Getting it,
 * the transaction keeps it to its end, and a worker that starts to wait
 * meanwhile claims again after it (see sql/job/031_wait_locks.sql and
 * 032_due_soon.sql).
 */
static const char enqueue_sql[] =
    "INSERT INTO herald.new_jobs (task, queue, payload, priority, run_at, "
    "max_attempts) VALUES ($1, $2, $3::jsonb, $4, coalesce("
    "to_timestamp($5::bigint / 1000000) "
    "+ ($5::bigint % 1000000) * interval '1 microsecond', now()), $6) "
    "RETURNING currval('herald.jobs_id_seq'), CASE WHEN ($5::bigint IS NULL "
    "OR to_timestamp($5::bigint / 1000000) <= now() + interval '1 minute') "
    "AND NOT pg_try_advisory_xact_lock_shared(herald.wait_lock_class(), "
    "hashtext($2)) THEN pg_notify('herald', $2) END";

/*
 * herald_enqueue runs enqueue_sql as a statement prepared once per
 * connection, which saves the server parsing and planning it on every
 * call.  Whether a connection has it is kept with the connection itself,
 * as libpq instance data of enqueue_event, so libherald still keeps no
 * global state.  The version in the name keeps a statement of an older
 * build from being reused.
 */
#define ENQUEUE_STATEMENT	"herald_enqueue_4"

static void	enqueue_error(struct herald_error *, PGconn *,
		    const PGresult *, const char *);

/* Instance data values: only the addresses matter. */
static const char	enqueue_registered = 'r';
static const char	enqueue_prepared = 'p';

/* A reset connection has lost its prepared statements. */
static int
enqueue_event(PGEventId id, void *info, void *pass_through)
{
	if (id == PGEVT_CONNRESET)
		PQsetInstanceData(((PGEventConnReset *)info)->conn,
		    enqueue_event, (void *)&enqueue_registered);
	return 1;
}

/* Prepare enqueue_sql on conn unless it is; 0 or -1. */
static int
enqueue_prepare(PGconn *conn, struct herald_error *error)
{
	const void	*mark = PQinstanceData(conn, enqueue_event);
	PGresult	*res;
	const char	*sqlstate;

	if (mark == &enqueue_prepared)
		return 0;
	if (mark == NULL) {
		if (PQregisterEventProc(conn, enqueue_event, "herald_enqueue",
		    NULL) == 0) {
			hd_error_set(error, HERALD_ENOMEM, "could not enqueue "
			    "job: could not register with libpq");
			return -1;
		}
		/* Registered once: a failed prepare is tried again. */
		PQsetInstanceData(conn, enqueue_event,
		    (void *)&enqueue_registered);
	}
	res = PQprepare(conn, ENQUEUE_STATEMENT, enqueue_sql, 6, NULL);
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	/* 42P05: prepared before this connection was handed to libherald. */
	if (PQresultStatus(res) != PGRES_COMMAND_OK && (sqlstate == NULL ||
	    strcmp(sqlstate, "42P05") != 0)) {
		enqueue_error(error, conn, res, "could not enqueue job");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	PQsetInstanceData(conn, enqueue_event, (void *)&enqueue_prepared);
	return 0;
}

/*
 * Check that conn is given, runs one statement at a time and sends UTF-8.
 * libpq runs none of libherald's statements in pipeline mode, with a
 * vague error.
 */
static int
enqueue_check_conn(PGconn *conn, struct herald_error *error)
{
	if (conn == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no connection given");
		return -1;
	}
	if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
		hd_error_set(error, HERALD_ESTATE, "connection is in pipeline "
		    "mode; libherald needs it to run one statement at a time");
		return -1;
	}
	if (PQtransactionStatus(conn) == PQTRANS_ACTIVE) {
		hd_error_set(error, HERALD_ESTATE, "connection has a query in "
		    "progress; read its results before enqueueing");
		return -1;
	}
	return hd_check_client_encoding(conn, error);
}

/* The payload limit of options, which may be NULL. */
static size_t
enqueue_payload_max(const struct herald_job_options *options)
{
	return options != NULL && options->payload_max > 0 ?
	    options->payload_max : HERALD_PAYLOAD_MAX;
}

/* Check the options and fill in their defaults. */
static int
enqueue_check_options(const struct herald_job_options *options,
    const char **queue, int *priority, int64_t *run_at_us,
    int *max_attempts, struct herald_error *error)
{
	static const struct herald_job_options defaults;

	if (options == NULL)
		options = &defaults;
	*queue = options->queue != NULL ? options->queue :
	    HERALD_DEFAULT_QUEUE;
	if (herald_check_name("queue", *queue, error) == -1)
		return -1;

	*priority = options->priority;
	if (*priority < HERALD_PRIORITY_MIN ||
	    *priority > HERALD_PRIORITY_MAX) {
		hd_error_set(error, HERALD_EINVAL,
		    "priority %d is out of range; use a whole number from %d to %d",
		    *priority, HERALD_PRIORITY_MIN, HERALD_PRIORITY_MAX);
		return -1;
	}

	*run_at_us = options->run_at_us;
	if (*run_at_us < 0 || *run_at_us > ENQUEUE_RUN_AT_MAX_US) {
		hd_error_set(error, HERALD_EINVAL,
		    "run_at %" PRId64 " is out of range; use Unix time in microseconds up to the year 9999, or 0 for now",
		    *run_at_us);
		return -1;
	}

	*max_attempts = options->max_attempts != 0 ? options->max_attempts :
	    HERALD_DEFAULT_MAX_ATTEMPTS;
	if (*max_attempts < 1 || *max_attempts > HERALD_ATTEMPTS_MAX) {
		hd_error_set(error, HERALD_EINVAL,
		    "max_attempts %d is out of range; use a whole number from 1 to %d",
		    *max_attempts, HERALD_ATTEMPTS_MAX);
		return -1;
	}
	return hd_enqueue_check_unique(options, error);
}

/*
 * The unique path is a plain parameterised statement: it costs an
 * insert into herald.unique_keys besides the job, so planning it each
 * time matters less than on the prepared path.
 */
static const char enqueue_unique_sql[] =
    "SELECT herald.enqueue_unique($1, $2, $3::jsonb, $4, "
    "to_timestamp($5::bigint / 1000000) "
    "+ ($5::bigint % 1000000) * interval '1 microsecond', $6, NULL, NULL, "
    "$7, $8, $9::text[])";

int
hd_enqueue_check_unique(const struct herald_job_options *options,
    struct herald_error *error)
{
	size_t	len;

	if (options->unique_key == NULL) {
		if (options->unique_for_ms == 0 && options->unique_states == 0)
			return 0;
		hd_error_set(error, HERALD_EINVAL,
		    "unique_for_ms and unique_states need a unique_key");
		return -1;
	}
	len = strlen(options->unique_key);
	if (len == 0 || len > HERALD_UNIQUE_KEY_MAX) {
		hd_error_set(error, HERALD_EINVAL,
		    "unique key has %zu bytes; use 1 to %d", len,
		    HERALD_UNIQUE_KEY_MAX);
		return -1;
	}
	if (!hd_utf8_valid(options->unique_key)) {
		hd_error_set(error, HERALD_EINVAL,
		    "unique key is not valid UTF-8");
		return -1;
	}
	if (options->unique_for_ms < 0 ||
	    options->unique_for_ms > HERALD_UNIQUE_FOR_MAX_MS) {
		hd_error_set(error, HERALD_EINVAL,
		    "unique_for_ms %" PRId64 " is out of range; use 0 to %"
		    PRId64 " (36525 days)", options->unique_for_ms,
		    HERALD_UNIQUE_FOR_MAX_MS);
		return -1;
	}
	if ((options->unique_states & ~(unsigned)(HERALD_UNIQUE_QUEUED |
	    HERALD_UNIQUE_RUNNING)) != 0) {
		hd_error_set(error, HERALD_EINVAL,
		    "unique_states 0x%x has unknown bits; use "
		    "HERALD_UNIQUE_QUEUED and HERALD_UNIQUE_RUNNING",
		    options->unique_states);
		return -1;
	}
	return 0;
}

/*
 * Fill error from a failed call of an enqueue function, with what ("could
 * not enqueue job") in front of the server's message.
 */
static void
enqueue_error(struct herald_error *error, PGconn *conn, const PGresult *res,
    const char *what)
{
	const char	*sqlstate = NULL;

	hd_error_from_pg(error, conn, res, what);
	if (res != NULL)
		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (error == NULL || error->code != HERALD_EDB || sqlstate == NULL)
		return;

	/* A missing schema or function: the database was never migrated. */
	if (strcmp(sqlstate, "3F000") == 0 ||
	    strcmp(sqlstate, "42883") == 0 ||
	    strcmp(sqlstate, "42P01") == 0)
		error->code = HERALD_ESCHEMA;
	else if (strcmp(sqlstate, "22023") == 0 ||
	    strcmp(sqlstate, "44000") == 0)
		error->code = HERALD_EINVAL;
	else if (strcmp(sqlstate, "22003") == 0) {
		/* The checks before let only a payload number get here. */
		hd_error_set(error, HERALD_EINVAL, "%s: a number in the "
		    "payload is out of the range of PostgreSQL's numeric "
		    "type", what);
		snprintf(error->sqlstate, sizeof error->sqlstate, "%s",
		    sqlstate);
	}
}

/* Run enqueue_unique_sql with the six values of herald_enqueue. */
static int
enqueue_unique(PGconn *conn, const char **values,
    const struct herald_job_options *options, int64_t *job_id,
    struct herald_error *error)
{
	const char	*all[9];
	char		 for_ms[24];
	PGresult	*res;
	unsigned	 states = options->unique_states;

	memcpy(all, values, 6 * sizeof *all);
	snprintf(for_ms, sizeof for_ms, "%" PRId64, options->unique_for_ms);
	all[6] = options->unique_key;
	all[7] = options->unique_for_ms > 0 ? for_ms : NULL;
	if (states == HERALD_UNIQUE_QUEUED)
		all[8] = "{queued}";
	else if (states == HERALD_UNIQUE_RUNNING)
		all[8] = "{running}";
	else
		all[8] = "{queued,running}";
	res = PQexecParams(conn, enqueue_unique_sql, 9, NULL, all, NULL, NULL,
	    0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		enqueue_error(error, conn, res, "could not enqueue job");
		PQclear(res);
		return -1;
	}
	if (job_id != NULL)
		*job_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int
herald_enqueue(PGconn *conn, const char *task, const char *payload,
    const struct herald_job_options *options, int64_t *job_id,
    struct herald_error *error)
{
	const char	*queue, *values[6];
	char		 priority_text[16], run_at_text[24], attempts_text[16];
	int		 priority, max_attempts;
	int64_t		 run_at_us;
	PGresult	*res;

	if (enqueue_check_conn(conn, error) == -1)
		return -1;
	if (herald_check_name("task", task, error) == -1)
		return -1;
	if (payload == NULL)
		payload = "{}";
	else if (herald_check_payload(payload, enqueue_payload_max(options),
	    error) == -1)
		return -1;
	if (enqueue_check_options(options, &queue, &priority, &run_at_us,
	    &max_attempts, error) == -1)
		return -1;

	snprintf(priority_text, sizeof(priority_text), "%d", priority);
	snprintf(run_at_text, sizeof(run_at_text), "%" PRId64, run_at_us);
	snprintf(attempts_text, sizeof(attempts_text), "%d", max_attempts);
	values[0] = task;
	values[1] = queue;
	values[2] = payload;
	values[3] = priority_text;
	values[4] = run_at_us != 0 ? run_at_text : NULL;
	values[5] = attempts_text;

	if (options != NULL && options->unique_key != NULL)
		return enqueue_unique(conn, values, options, job_id, error);
	if (enqueue_prepare(conn, error) == -1)
		return -1;
	res = PQexecPrepared(conn, ENQUEUE_STATEMENT, 6, values, NULL, NULL,
	    0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		enqueue_error(error, conn, res, "could not enqueue job");
		/*
		 * DEALLOCATE or DISCARD may have dropped the statement, so
		 * the next call prepares it again (42P05 if it still exists).
		 */
		PQsetInstanceData(conn, enqueue_event,
		    (void *)&enqueue_registered);
		PQclear(res);
		return -1;
	}
	if (job_id != NULL)
		*job_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/*
 * herald_enqueue_many sends the number of jobs and one array per column to
 * herald.enqueue_batch() in PostgreSQL's binary format, so the server
 * parses no text but the payloads.  A column whose value is the same for
 * every job, as the task and queue of a batch usually are, goes as an
 * array of one element, which the server checks once.  Only a batch with
 * a unique key goes to herald.enqueue_batch_unique(), which takes three
 * more arrays and costs more.  ENQUEUE_MANY_BYTES_MAX bounds the largest
 * array.
 */
#define ENQUEUE_MANY_BYTES_MAX	((size_t)512 * 1024 * 1024)

static const char enqueue_many_sql[] =
    "SELECT herald.enqueue_batch($1, $2, $3, $4, $5, $6, $7)";
static const char enqueue_many_unique_sql[] =
    "SELECT herald.enqueue_batch_unique($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10)";

/*
 * The arrays of herald.enqueue_batch_unique(), in the order of its
 * arguments; herald.enqueue_batch() takes the first COL_BATCH_COUNT.
 */
enum {
	COL_TASK,
	COL_QUEUE,
	COL_PAYLOAD,
	COL_PRIORITY,
	COL_RUN_AT,
	COL_MAX_ATTEMPTS,
	COL_UNIQUE_KEY,
	COL_UNIQUE_FOR_MS,
	COL_UNIQUE_STATES,
	COL_COUNT,
	COL_BATCH_COUNT = COL_UNIQUE_KEY
};

/* One job of a batch, checked, with the defaults filled in. */
struct enqueue_row {
	const char	*task;
	const char	*queue;
	const char	*payload;
	int		 priority;
	int		 max_attempts;
	int64_t		 run_at_us;	/* 0: now */
	const char	*unique_key;	/* NULL: not unique */
	int64_t		 unique_for_ms;
	const char	*unique_states;	/* NULL: queued and running */
};

/* Prefix the message in error with the position of the bad job. */
static void
enqueue_error_prefix(struct herald_error *error, size_t index)
{
	char	message[sizeof error->message];

	if (error == NULL)
		return;
	/* The prefix takes at most 26 bytes; the message's tail may go. */
	snprintf(message, sizeof message, "job %zu: %.*s", index + 1,
	    (int)sizeof message - 32, error->message);
	memcpy(error->message, message, sizeof message);
}

/* Check one job of a batch and fill in its row. */
static int
enqueue_many_check(size_t index, const struct herald_job *job,
    struct enqueue_row *row, struct herald_error *error)
{
	row->task = job->task;
	row->payload = job->payload;
	if (herald_check_name("task", job->task, error) == -1)
		goto bad;
	if (row->payload == NULL)
		row->payload = "{}";
	else if (herald_check_payload(row->payload,
	    enqueue_payload_max(&job->options), error) == -1)
		goto bad;
	if (enqueue_check_options(&job->options, &row->queue, &row->priority,
	    &row->run_at_us, &row->max_attempts, error) == -1)
		goto bad;
	if (job->options.unique_key != NULL) {
		row->unique_key = job->options.unique_key;
		row->unique_for_ms = job->options.unique_for_ms;
		if (job->options.unique_states == HERALD_UNIQUE_QUEUED)
			row->unique_states = "queued";
		else if (job->options.unique_states == HERALD_UNIQUE_RUNNING)
			row->unique_states = "running";
	}
	return 0;

bad:
	enqueue_error_prefix(error, index);
	return -1;
}

/* Return whether two texts, each possibly NULL, are equal. */
static bool
enqueue_text_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Return whether column c of row r has the same value as in row 0. */
static bool
enqueue_row_same(const struct enqueue_row *rows, size_t r, int c)
{
	switch (c) {
	case COL_TASK:
		return strcmp(rows[r].task, rows[0].task) == 0;
	case COL_QUEUE:
		return strcmp(rows[r].queue, rows[0].queue) == 0;
	case COL_PAYLOAD:
		return strcmp(rows[r].payload, rows[0].payload) == 0;
	case COL_PRIORITY:
		return rows[r].priority == rows[0].priority;
	case COL_RUN_AT:
		return rows[r].run_at_us == rows[0].run_at_us;
	case COL_MAX_ATTEMPTS:
		return rows[r].max_attempts == rows[0].max_attempts;
	case COL_UNIQUE_KEY:
		return enqueue_text_same(rows[r].unique_key,
		    rows[0].unique_key);
	case COL_UNIQUE_FOR_MS:
		return rows[r].unique_for_ms == rows[0].unique_for_ms;
	default:
		return enqueue_text_same(rows[r].unique_states,
		    rows[0].unique_states);
	}
}

/*
 * Append column c of row r to its array.  run_at 0, "now", and a unique
 * key or states that are NULL go as NULL.
 */
static void
enqueue_row_append(struct hd_wire_buf *buf, const struct enqueue_row *row,
    int c)
{
	switch (c) {
	case COL_TASK:
		hd_wire_text(buf, row->task);
		break;
	case COL_QUEUE:
		hd_wire_text(buf, row->queue);
		break;
	case COL_PAYLOAD:
		hd_wire_jsonb(buf, row->payload);
		break;
	case COL_PRIORITY:
		hd_wire_int4(buf, row->priority);
		break;
	case COL_RUN_AT:
		if (row->run_at_us == 0)
			hd_wire_null(buf);
		else
			hd_wire_timestamptz(buf, row->run_at_us);
		break;
	case COL_MAX_ATTEMPTS:
		hd_wire_int4(buf, row->max_attempts);
		break;
	case COL_UNIQUE_KEY:
		if (row->unique_key == NULL)
			hd_wire_null(buf);
		else
			hd_wire_text(buf, row->unique_key);
		break;
	case COL_UNIQUE_FOR_MS:
		hd_wire_int8(buf, row->unique_for_ms);
		break;
	default:
		if (row->unique_states == NULL)
			hd_wire_null(buf);
		else
			hd_wire_text(buf, row->unique_states);
		break;
	}
}

/* Read a big-endian 32-bit or 64-bit integer. */
static uint32_t
read_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int64_t
read_int8(const unsigned char *p)
{
	return (int64_t)((uint64_t)read_u32(p) << 32 | read_u32(p + 4));
}

/*
 * Store the ids of a herald.enqueue_batch() result, one bigint[] in
 * binary, in job_ids.  The array is one-dimensional without NULLs: a
 * header of 20 bytes, then each id as a length of 4 bytes and 8 bytes.
 */
static int
enqueue_many_ids(const PGresult *res, size_t njobs, int64_t *job_ids,
    struct herald_error *error)
{
	const unsigned char	*p;
	size_t			 i;

	if (PQntuples(res) != 1 || PQnfields(res) != 1 ||
	    PQfformat(res, 0) != 1 || PQgetisnull(res, 0, 0) ||
	    (size_t)PQgetlength(res, 0, 0) != 20 + njobs * 12)
		goto bad;
	p = (const unsigned char *)PQgetvalue(res, 0, 0);
	if (read_u32(p) != 1 || read_u32(p + 8) != HD_OID_INT8 ||
	    read_u32(p + 12) != njobs)
		goto bad;
	p += 20;
	for (i = 0; i < njobs; i++, p += 12) {
		if (read_u32(p) != 8)
			goto bad;
		if (job_ids != NULL)
			job_ids[i] = read_int8(p + 4);
	}
	return 0;

bad:
	hd_error_set(error, HERALD_EDB,
	    "could not enqueue jobs: the server did not return %zu ids",
	    njobs);
	return -1;
}

/*
 * Check every job into rows and mark in same[] the columns whose value is
 * that of the first job for every job.  *unique is set when a job has a
 * unique key.  Only then are the unique columns compared, so that a batch
 * without keys costs what it did before keys were supported.
 */
static int
enqueue_many_rows(const struct herald_job *jobs, size_t njobs,
    struct enqueue_row *rows, bool *same, bool *unique,
    struct herald_error *error)
{
	size_t	i, payload_bytes = 0;
	int	c;

	*unique = false;
	for (c = 0; c < COL_COUNT; c++)
		same[c] = true;
	for (i = 0; i < njobs; i++) {
		if (enqueue_many_check(i, &jobs[i], &rows[i], error) == -1)
			return -1;
		*unique |= rows[i].unique_key != NULL;
		payload_bytes += strlen(rows[i].payload);
		if (payload_bytes > ENQUEUE_MANY_BYTES_MAX) {
			hd_error_set(error, HERALD_EINVAL,
			    "jobs are too large for one statement: more than %zu bytes of payload by job %zu; enqueue them in smaller batches",
			    ENQUEUE_MANY_BYTES_MAX, i + 1);
			return -1;
		}
		for (c = 0; c < COL_BATCH_COUNT; c++)
			if (same[c] && !enqueue_row_same(rows, i, c))
				same[c] = false;
	}
	for (i = 1; *unique && i < njobs; i++)
		for (c = COL_BATCH_COUNT; c < COL_COUNT; c++)
			if (same[c] && !enqueue_row_same(rows, i, c))
				same[c] = false;
	return 0;
}

/*
 * Build the arrays of the first ncols columns in cols and point values
 * and lengths, from index 1, at them.
 */
static int
enqueue_many_columns(const struct enqueue_row *rows, size_t njobs,
    const bool *same, int ncols, struct hd_wire_buf *cols,
    const char **values, int *lengths, struct herald_error *error)
{
	static const uint32_t	elements[COL_COUNT] = {
		[COL_TASK] = HD_OID_TEXT,
		[COL_QUEUE] = HD_OID_TEXT,
		[COL_PAYLOAD] = HD_OID_JSONB,
		[COL_PRIORITY] = HD_OID_INT4,
		[COL_RUN_AT] = HD_OID_TIMESTAMPTZ,
		[COL_MAX_ATTEMPTS] = HD_OID_INT4,
		[COL_UNIQUE_KEY] = HD_OID_TEXT,
		[COL_UNIQUE_FOR_MS] = HD_OID_INT8,
		[COL_UNIQUE_STATES] = HD_OID_TEXT,
	};
	size_t			i, n;
	int			c;

	for (c = 0; c < ncols; c++) {
		n = same[c] ? 1 : njobs;
		hd_wire_array_begin(&cols[c], elements[c], n);
		for (i = 0; i < n; i++)
			enqueue_row_append(&cols[c], &rows[i], c);
		if (cols[c].failed) {
			hd_error_set(error, HERALD_ENOMEM,
			    "could not enqueue jobs: out of memory");
			return -1;
		}
		values[1 + c] = cols[c].data;
		lengths[1 + c] = (int)cols[c].len;
	}
	/* Every job runs now: a NULL array saves the server reading one. */
	if (same[COL_RUN_AT] && rows[0].run_at_us == 0)
		values[1 + COL_RUN_AT] = NULL;
	return 0;
}

int
herald_enqueue_many(PGconn *conn, const struct herald_job *jobs,
    size_t njobs, int64_t *job_ids, struct herald_error *error)
{
	/* Parameter 0 is the number of jobs, 1 + c the array of column c. */
	static const Oid	 types[1 + COL_COUNT] = {
		HD_OID_INT4,
		[1 + COL_TASK] = HD_OID_TEXT_ARRAY,
		[1 + COL_QUEUE] = HD_OID_TEXT_ARRAY,
		[1 + COL_PAYLOAD] = HD_OID_JSONB_ARRAY,
		[1 + COL_PRIORITY] = HD_OID_INT4_ARRAY,
		[1 + COL_RUN_AT] = HD_OID_TIMESTAMPTZ_ARRAY,
		[1 + COL_MAX_ATTEMPTS] = HD_OID_INT4_ARRAY,
		[1 + COL_UNIQUE_KEY] = HD_OID_TEXT_ARRAY,
		[1 + COL_UNIQUE_FOR_MS] = HD_OID_INT8_ARRAY,
		[1 + COL_UNIQUE_STATES] = HD_OID_TEXT_ARRAY,
	};
	static const int	 formats[1 + COL_COUNT] = {
		0, 1, 1, 1, 1, 1, 1, 1, 1, 1
	};
	struct hd_wire_buf	 cols[COL_COUNT] = { { 0 } };
	struct enqueue_row	*rows;
	const char		*values[1 + COL_COUNT];
	char			 count_text[16];
	int			 lengths[1 + COL_COUNT];
	PGresult		*res = NULL;
	bool			 same[COL_COUNT], unique;
	int			 c, ncols, rc = -1;

	if (enqueue_check_conn(conn, error) == -1)
		return -1;
	if (njobs == 0)
		return 0;
	if (jobs == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no jobs given");
		return -1;
	}
	if (njobs > INT32_MAX) {
		hd_error_set(error, HERALD_EINVAL,
		    "%zu jobs are too many for one statement; enqueue them in smaller batches",
		    njobs);
		return -1;
	}
	if ((rows = calloc(njobs, sizeof *rows)) == NULL) {
		hd_error_set(error, HERALD_ENOMEM,
		    "could not enqueue jobs: out of memory");
		return -1;
	}

	if (enqueue_many_rows(jobs, njobs, rows, same, &unique, error) == -1)
		goto out;
	ncols = unique ? COL_COUNT : COL_BATCH_COUNT;
	if (enqueue_many_columns(rows, njobs, same, ncols, cols, values,
	    lengths, error) == -1)
		goto out;
	snprintf(count_text, sizeof count_text, "%zu", njobs);
	values[0] = count_text;
	lengths[0] = 0;

	res = PQexecParams(conn, unique ? enqueue_many_unique_sql :
	    enqueue_many_sql, 1 + ncols, types, values, lengths, formats, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		enqueue_error(error, conn, res, "could not enqueue jobs");
		goto out;
	}
	rc = enqueue_many_ids(res, njobs, job_ids, error);

out:
	PQclear(res);
	for (c = 0; c < COL_COUNT; c++)
		hd_wire_buf_release(&cols[c]);
	free(rows);
	return rc;
}
