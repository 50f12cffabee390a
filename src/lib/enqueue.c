/*
 * enqueue.c: herald_enqueue, the producer's way into the job database.
 *
 * Every argument is checked here first, so a bad value fails with
 * HERALD_EINVAL before any statement runs and the caller's transaction
 * stays usable.  The insert itself is one call of herald.enqueue(), so
 * producers in C, on the command line and in SQL share its definition.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "herald.h"
#include "db.h"

/* 9999-12-31T23:59:59.999999Z in Unix microseconds. */
#define ENQUEUE_RUN_AT_MAX_US	INT64_C(253402300799999999)

/*
 * run_at is split into whole seconds and microseconds, because a double
 * of Unix microseconds divided by 1e6 may round the last digit.  A NULL
 * $5 stays NULL, which herald.enqueue() reads as "now".
 */
static const char enqueue_sql[] =
    "SELECT herald.enqueue($1, $2, $3::jsonb, $4, "
    "to_timestamp($5::bigint / 1000000) "
    "+ ($5::bigint % 1000000) * interval '1 microsecond', $6)";

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
	return 0;
}

/* Fill error from a failed herald.enqueue() call. */
static void
enqueue_error(struct herald_error *error, PGconn *conn, const PGresult *res)
{
	const char	*sqlstate = NULL;

	hd_error_from_pg(error, conn, res, "could not enqueue job");
	if (res != NULL)
		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (error == NULL || error->code != HERALD_EDB || sqlstate == NULL)
		return;

	/* A missing schema or function: the database was never migrated. */
	if (strcmp(sqlstate, "3F000") == 0 ||
	    strcmp(sqlstate, "42883") == 0 ||
	    strcmp(sqlstate, "42P01") == 0)
		error->code = HERALD_ESCHEMA;
	else if (strcmp(sqlstate, "22023") == 0)
		error->code = HERALD_EINVAL;
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

	if (conn == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no connection given");
		return -1;
	}
	if (herald_check_name("task", task, error) == -1)
		return -1;
	if (payload == NULL)
		payload = "{}";
	else if (herald_check_payload(payload, HERALD_PAYLOAD_MAX, error) == -1)
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

	res = PQexecParams(conn, enqueue_sql, 6, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		enqueue_error(error, conn, res);
		PQclear(res);
		return -1;
	}
	if (job_id != NULL)
		*job_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}
