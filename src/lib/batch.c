/*
 * batch.c: prepared, batched and pipelined statements of the worker.
 */

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "db.h"

#define STMT_CLAIM	"hd_batch_claim"
#define STMT_COMPLETE	"hd_batch_complete"
#define STMT_WAIT_BEGIN	"hd_batch_wait_begin"
#define STMT_WAIT_END	"hd_batch_wait_end"
#define STMT_NO_FLUSH	"hd_batch_no_flush"
#define STMT_NEXT_DUE	"hd_batch_next_due"
#define STMT_CLAIM_TIME	"hd_batch_claim_time"

/* The statements of one cycle, in the order they are sent. */
enum cycle_step {
	STEP_COMPLETE,
	STEP_NO_FLUSH,
	STEP_CLAIM_TIME,
	STEP_CLAIM
};

static const struct {
	const char	*name;
	const char	*sql;
	int		 nparams;
} statements[] = {
	{ STMT_CLAIM, "SELECT id, task, queue, payload, priority, attempt,"
	    " max_attempts, lease_token, event_id, event_type"
	    " FROM herald.claim($1, $2, $3, $4)", 4 },
	{ STMT_COMPLETE, "SELECT herald.complete_many($1::bigint[],"
	    " $2::bigint[])", 2 },
	{ STMT_WAIT_BEGIN, "SELECT herald.wait_begin($1, $2)", 2 },
	{ STMT_WAIT_END, "SELECT herald.wait_end($1, $2)", 2 },
	{ STMT_NO_FLUSH, "SELECT set_config('synchronous_commit', 'off',"
	    " true)", 0 },
	/*
	 * The next due time is read in a transaction after the claim's, and
	 * counts the jobs due after the claim's now(), which the claim's
	 * transaction stores for the session.
	 */
	{ STMT_CLAIM_TIME, "SELECT set_config('herald.claimed_at',"
	    " now()::text, false)", 0 },
	{ STMT_NEXT_DUE, "SELECT herald.next_due_ms($1, coalesce(nullif("
	    "current_setting('herald.claimed_at', true), '')::timestamptz,"
	    " now()))", 1 },
};

int
hd_batch_prepare(PGconn *conn, struct herald_error *error)
{
	PGresult	*res;
	size_t		 i;

	for (i = 0; i < sizeof statements / sizeof statements[0]; i++) {
		res = PQprepare(conn, statements[i].name, statements[i].sql,
		    statements[i].nparams, NULL);
		if (!hd_db_ok(res)) {
			hd_error_from_pg(error, conn, res,
			    "could not prepare statements");
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

/*
 * Return the ids, or the lease tokens, of jobs as a malloc'ed bigint[]
 * literal such as "{1,2,3}", or NULL when out of memory.
 */
static char *
array_literal(const struct hd_job *const *jobs, int n, bool tokens)
{
	char	*buf = malloc((size_t)n * 21 + 3), *p;
	int	 i;

	if (buf == NULL)
		return NULL;
	p = buf;
	*p++ = '{';
	for (i = 0; i < n; i++)
		p += sprintf(p, i > 0 ? ",%" PRId64 : "%" PRId64,
		    tokens ? jobs[i]->lease_token : jobs[i]->id);
	*p++ = '}';
	*p = '\0';
	return buf;
}

static char *
dup_value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL :
	    strdup(PQgetvalue(res, row, col));
}

/* Read the rows of a claim; the columns are those of STMT_CLAIM. */
static int
read_claim(const PGresult *res, struct hd_job **jobs,
    struct herald_error *error)
{
	struct hd_job	*claimed, *job;
	int		 n = PQntuples(res), i;

	*jobs = NULL;
	if (n == 0)
		return 0;
	if ((claimed = calloc((size_t)n, sizeof *claimed)) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		job = &claimed[i];
		job->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		job->task = dup_value(res, i, 1);
		job->queue = dup_value(res, i, 2);
		job->payload = dup_value(res, i, 3);
		job->priority = atoi(PQgetvalue(res, i, 4));
		job->attempt = atoi(PQgetvalue(res, i, 5));
		job->max_attempts = atoi(PQgetvalue(res, i, 6));
		job->lease_token = strtoll(PQgetvalue(res, i, 7), NULL, 10);
		job->event_id = dup_value(res, i, 8);
		job->event_type = dup_value(res, i, 9);
		if (job->task == NULL || job->queue == NULL ||
		    job->payload == NULL ||
		    (job->event_id == NULL && !PQgetisnull(res, i, 8)) ||
		    (job->event_type == NULL && !PQgetisnull(res, i, 9))) {
			hd_jobs_free(claimed, i + 1);
			goto nomem;
		}
	}
	*jobs = claimed;
	return n;

nomem:
	hd_error_set(error, HERALD_ENOMEM, "could not claim jobs: out of memory");
	return -1;
}

/* Mark which of the done jobs the completion result lists. */
static void
read_completed(const PGresult *res, const struct hd_job *const *done,
    int ndone, bool *completed)
{
	int	i, j, n = PQntuples(res);
	int64_t	id;

	for (i = 0; i < ndone; i++)
		completed[i] = false;
	for (j = 0; j < n; j++) {
		id = strtoll(PQgetvalue(res, j, 0), NULL, 10);
		for (i = 0; i < ndone; i++)
			if (done[i]->id == id) {
				completed[i] = true;
				break;
			}
	}
}

/*
 * Send the statements of one cycle into the pipeline and list them in
 * steps, an array of 4.  A claim without completions commits without
 * waiting for its WAL to reach disk (see the top of batch.h).  The read
 * of the next due time follows in a transaction of its own, after the
 * claim's sync, so the server sends the claim's rows before it runs it.
 * *due_sent is set to whether it was sent.
 */
static int
cycle_send(PGconn *conn, const struct hd_job *const *done, int ndone,
    const char *queue, const char *worker_id, int limit, int64_t lease_ms,
    bool next_due, enum cycle_step *steps, int *nsteps, bool *due_sent,
    struct herald_error *error)
{
	const char	*values[4];
	char		*ids = NULL, *tokens = NULL, limit_text[16],
			 lease_text[24];
	int		 ok = 1;

	if (ndone > 0) {
		ids = array_literal(done, ndone, false);
		tokens = array_literal(done, ndone, true);
		if (ids == NULL || tokens == NULL) {
			free(ids);
			free(tokens);
			hd_error_set(error, HERALD_ENOMEM,
			    "could not complete jobs: out of memory");
			return -1;
		}
		values[0] = ids;
		values[1] = tokens;
		ok = PQsendQueryPrepared(conn, STMT_COMPLETE, 2, values, NULL,
		    NULL, 0);
		free(ids);
		free(tokens);
		steps[(*nsteps)++] = STEP_COMPLETE;
	}
	if (ok && limit > 0 && ndone == 0) {
		ok = PQsendQueryPrepared(conn, STMT_NO_FLUSH, 0, NULL, NULL,
		    NULL, 0);
		steps[(*nsteps)++] = STEP_NO_FLUSH;
	}
	if (ok && limit > 0 && next_due) {
		ok = PQsendQueryPrepared(conn, STMT_CLAIM_TIME, 0, NULL, NULL,
		    NULL, 0);
		steps[(*nsteps)++] = STEP_CLAIM_TIME;
	}
	if (ok && limit > 0) {
		snprintf(limit_text, sizeof limit_text, "%d", limit);
		snprintf(lease_text, sizeof lease_text, "%" PRId64, lease_ms);
		values[0] = queue;
		values[1] = worker_id;
		values[2] = limit_text;
		values[3] = lease_text;
		ok = PQsendQueryPrepared(conn, STMT_CLAIM, 4, values, NULL,
		    NULL, 0);
		steps[(*nsteps)++] = STEP_CLAIM;
	}
	if (ok)
		ok = PQpipelineSync(conn);
	*due_sent = false;
	if (ok && limit > 0 && next_due) {
		values[0] = queue;
		ok = PQsendQueryPrepared(conn, STMT_NEXT_DUE, 1, values, NULL,
		    NULL, 0) && PQpipelineSync(conn);
		*due_sent = true;
	}
	if (!ok) {
		hd_error_from_pg(error, conn, NULL, "could not claim jobs");
		return -1;
	}
	return 0;
}

/*
 * Read the results of one cycle up to its sync.  Results of a failed
 * pipeline come back as PGRES_PIPELINE_ABORTED after the first error.
 */
static int
cycle_read(PGconn *conn, const struct hd_job *const *done, int ndone,
    bool *completed, const enum cycle_step *steps, int nsteps,
    struct hd_job **jobs, struct herald_error *error)
{
	PGresult	*res;
	int		 i = 0, claimed = 0, rc = 0, nulls = 0;
	enum cycle_step	 step;
	ExecStatusType	 status;

	for (;;) {
		if ((res = PQgetResult(conn)) == NULL) {
			/* The end of one statement's results. */
			i++;
			/* Two in a row: the connection is gone. */
			if (++nulls == 2) {
				hd_error_from_pg(error, conn, NULL,
				    "could not claim jobs");
				rc = -1;
				break;
			}
			continue;
		}
		nulls = 0;
		status = PQresultStatus(res);
		if (status == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		step = steps[i < nsteps ? i : nsteps - 1];
		if (rc == 0 && status != PGRES_TUPLES_OK) {
			hd_error_from_pg(error, conn,
			    status == PGRES_PIPELINE_ABORTED ? NULL : res,
			    step == STEP_COMPLETE ? "could not complete jobs" :
			    "could not claim jobs");
			rc = -1;
		} else if (rc == 0 && step == STEP_COMPLETE)
			read_completed(res, done, ndone, completed);
		else if (rc == 0 && step == STEP_CLAIM)
			claimed = read_claim(res, jobs, error);
		if (claimed == -1)
			rc = -1;
		PQclear(res);
		if (PQstatus(conn) == CONNECTION_BAD) {
			hd_error_from_pg(error, conn, NULL,
			    "could not claim jobs");
			return -1;
		}
	}
	if (rc == -1 && claimed > 0) {
		hd_jobs_free(*jobs, claimed);
		*jobs = NULL;
	}
	return rc == -1 ? -1 : claimed;
}

int
hd_batch_cycle(PGconn *conn, const struct hd_job *const *done, int ndone,
    bool *completed, const char *queue, const char *worker_id, int limit,
    int64_t lease_ms, bool next_due, struct hd_job **jobs,
    struct herald_error *error)
{
	struct herald_error	ignored;
	enum cycle_step		steps[4];
	int64_t			due_ms;
	int			n, nsteps = 0;
	bool			due_sent;

	*jobs = NULL;
	if (ndone == 0 && limit <= 0)
		return 0;
	if (lease_ms < 1 || lease_ms > INT_MAX) {
		hd_error_set(error, HERALD_EINVAL,
		    "could not claim jobs: invalid lease of %" PRId64 " ms",
		    lease_ms);
		return -1;
	}
	if (PQenterPipelineMode(conn) == 0) {
		hd_error_from_pg(error, conn, NULL, "could not claim jobs");
		return -1;
	}
	if (cycle_send(conn, done, ndone, queue, worker_id, limit, lease_ms,
	    next_due, steps, &nsteps, &due_sent, error) == -1) {
		/* Nothing reached the server; the next exit discards it. */
		PQexitPipelineMode(conn);
		return -1;
	}
	n = cycle_read(conn, done, ndone, completed, steps, nsteps, jobs,
	    error);
	if (n == -1 && due_sent)
		(void)hd_batch_next_due(conn, &due_ms, &ignored);
	if (due_sent && n != -1)
		return n;
	if (PQexitPipelineMode(conn) == 0 && n != -1) {
		hd_error_from_pg(error, conn, NULL, "could not claim jobs");
		if (n > 0)
			hd_jobs_free(*jobs, n);
		*jobs = NULL;
		return -1;
	}
	return n;
}

int
hd_batch_next_due(PGconn *conn, int64_t *next_due_ms,
    struct herald_error *error)
{
	PGresult	*res;
	int		 rc = 0, nulls = 0;

	*next_due_ms = -1;
	if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF)
		return 0;
	for (;;) {
		if ((res = PQgetResult(conn)) == NULL) {
			/* Two in a row: the connection is gone. */
			if (++nulls == 2) {
				hd_error_from_pg(error, conn, NULL,
				    "could not read the next due time");
				rc = -1;
				break;
			}
			continue;
		}
		nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (rc == 0 && PQresultStatus(res) != PGRES_TUPLES_OK) {
			hd_error_from_pg(error, conn, res,
			    "could not read the next due time");
			rc = -1;
		} else if (rc == 0 && PQntuples(res) == 1 &&
		    !PQgetisnull(res, 0, 0))
			*next_due_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (PQstatus(conn) == CONNECTION_BAD) {
			hd_error_from_pg(error, conn, NULL,
			    "could not read the next due time");
			rc = -1;
			break;
		}
	}
	if (PQexitPipelineMode(conn) == 0 && rc == 0) {
		hd_error_from_pg(error, conn, NULL,
		    "could not read the next due time");
		rc = -1;
	}
	if (rc == -1)
		*next_due_ms = -1;
	return rc;
}

int
hd_batch_wait_begin(PGconn *conn, const char *worker_id, const char *queue,
    struct herald_error *error)
{
	const char	*values[2] = { worker_id, queue };
	PGresult	*res;
	int		 locked;

	res = PQexecPrepared(conn, STMT_WAIT_BEGIN, 2, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		hd_error_from_pg(error, conn, res,
		    "could not record the worker as waiting");
		PQclear(res);
		return -1;
	}
	locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return locked;
}

int
hd_batch_wait_end(PGconn *conn, const char *worker_id, const char *queue,
    struct herald_error *error)
{
	const char	*values[2] = { worker_id, queue };
	PGresult	*res;

	res = PQexecPrepared(conn, STMT_WAIT_END, 2, values, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res,
		    "could not record the worker as busy");
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}
