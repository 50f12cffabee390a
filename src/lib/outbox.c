/*
 * outbox.c: moving outbox rows of an application database into the job
 * database.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "herald.h"
#include "db.h"
#include "outbox.h"

enum outbox_column {
	COL_ID = 0,
	COL_KIND,
	COL_EVENT_ID,
	COL_EVENT_TYPE,
	COL_TASK,
	COL_QUEUE,
	COL_PAYLOAD,
	COL_PRIORITY,
	COL_RUN_AT_US,
	COL_MAX_ATTEMPTS
};

static const char outbox_select_sql[] =
    "SELECT id, kind, event_id, event_type, task, queue, payload::text,"
    " priority, (extract(epoch FROM run_at) * 1000000)::bigint,"
    " max_attempts"
    " FROM herald.outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";

int
hd_outbox_origin(PGconn *app, char *origin, struct herald_error *error)
{
	PGresult	*res;
	int		 rc = -1;

	res = PQexec(app, "SELECT herald.outbox_origin()");
	if (!hd_db_ok(res) || PQntuples(res) != 1) {
		hd_error_from_pg(error, app, res,
		    "could not read the outbox origin");
		goto out;
	}
	snprintf(origin, HD_OUTBOX_ORIGIN_MAX, "%s", PQgetvalue(res, 0, 0));
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static const char *
value_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static void
stats_drop(struct hd_outbox_stats *stats, const char *type)
{
	int	i;

	stats->dropped++;
	for (i = 0; i < stats->ndropped_types; i++) {
		if (strcmp(stats->dropped_types[i], type) == 0) {
			stats->dropped_counts[i]++;
			return;
		}
	}
	if (i < HD_OUTBOX_DROPPED_TYPES) {
		snprintf(stats->dropped_types[i], sizeof stats->dropped_types[i],
		    "%s", type);
		stats->dropped_counts[i] = 1;
		stats->ndropped_types++;
	}
}

/* Build one job of the relay's batch; NULL when out of memory. */
static json_t *
job_object(int64_t outbox_id, const char *task, const char *queue,
    const char *payload, int priority, int max_attempts,
    const char *run_at_us, const char *event_id, const char *event_type)
{
	json_t	*job, *body;

	body = json_loads(payload, 0, NULL);
	if (body == NULL)
		return NULL;
	job = json_pack("{s:I, s:s, s:s, s:o, s:i, s:i}",
	    "outbox_id", (json_int_t)outbox_id, "task", task, "queue", queue,
	    "payload", body, "priority", priority,
	    "max_attempts", max_attempts);
	if (job == NULL)
		return NULL;
	if (run_at_us != NULL)
		json_object_set_new(job, "run_at_us",
		    json_integer(strtoll(run_at_us, NULL, 10)));
	if (event_id != NULL)
		json_object_set_new(job, "event_id", json_string(event_id));
	if (event_type != NULL)
		json_object_set_new(job, "event_type", json_string(event_type));
	return job;
}

/* Append the jobs that outbox row `row` expands to. */
static int
expand_row(const PGresult *res, int row, const struct hd_config *config,
    json_t *jobs, struct hd_outbox_stats *stats)
{
	const struct hd_event_route	*route = NULL;
	const struct hd_task_config	*task;
	int64_t				 id;
	const char			*kind, *event_type, *payload, *queue;
	size_t				 i;
	int				 max_attempts;
	json_t				*job;

	id = strtoll(PQgetvalue(res, row, COL_ID), NULL, 10);
	kind = PQgetvalue(res, row, COL_KIND);
	event_type = value_or_null(res, row, COL_EVENT_TYPE);
	payload = PQgetvalue(res, row, COL_PAYLOAD);

	if (strcmp(kind, "event") == 0) {
		for (i = 0; i < config->nevents; i++)
			if (strcmp(config->events[i].type, event_type) == 0)
				route = &config->events[i];
		if (route == NULL || route->ntasks == 0) {
			stats_drop(stats, event_type);
			return 0;
		}
		for (i = 0; i < route->ntasks; i++) {
			task = hd_config_task(config, route->tasks[i]);
			job = job_object(id, task->name, task->queue, payload, 0,
			    task->retry.max_attempts, NULL,
			    value_or_null(res, row, COL_EVENT_ID), event_type);
			if (job == NULL || json_array_append_new(jobs, job) == -1)
				return -1;
			stats->jobs++;
		}
		return 0;
	}

	/* An explicit job: its own settings first, then its task's. */
	task = hd_config_task(config, PQgetvalue(res, row, COL_TASK));
	queue = value_or_null(res, row, COL_QUEUE);
	if (queue == NULL)
		queue = task != NULL ? task->queue : HERALD_DEFAULT_QUEUE;
	if (!PQgetisnull(res, row, COL_MAX_ATTEMPTS))
		max_attempts = atoi(PQgetvalue(res, row, COL_MAX_ATTEMPTS));
	else if (task != NULL)
		max_attempts = task->retry.max_attempts;
	else
		max_attempts = HERALD_DEFAULT_MAX_ATTEMPTS;

	job = job_object(id, PQgetvalue(res, row, COL_TASK), queue, payload,
	    atoi(PQgetvalue(res, row, COL_PRIORITY)), max_attempts,
	    value_or_null(res, row, COL_RUN_AT_US),
	    value_or_null(res, row, COL_EVENT_ID), event_type);
	if (job == NULL || json_array_append_new(jobs, job) == -1)
		return -1;
	stats->jobs++;
	return 0;
}

/* Build the "{1,2,3}" array literal of the batch's outbox ids. */
static char *
ids_literal(const PGresult *res)
{
	size_t	 size, len = 0;
	char	*buf;
	int	 i, n = PQntuples(res);

	size = (size_t)n * 21 + 3;
	if ((buf = malloc(size)) == NULL)
		return NULL;
	buf[len++] = '{';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
		    i == 0 ? "" : ",", PQgetvalue(res, i, COL_ID));
	buf[len++] = '}';
	buf[len] = '\0';
	return buf;
}

/* Insert the batch's jobs into the job database; commits by itself. */
static int
insert_jobs(PGconn *job, const char *origin, const char *ids,
    const json_t *jobs, struct hd_outbox_stats *stats,
    struct herald_error *error)
{
	PGresult	*res;
	const char	*params[3];
	char		*text;
	int		 rc = -1;

	if ((text = json_dumps(jobs, JSON_COMPACT)) == NULL) {
		hd_error_set(error, HERALD_ENOMEM, "out of memory");
		return -1;
	}
	params[0] = origin;
	params[1] = ids;
	params[2] = text;
	res = PQexecParams(job, "SELECT herald.relay($1, $2::bigint[], "
	    "$3::jsonb)", 3, NULL, params, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, job, res,
		    "could not insert relayed jobs");
		goto out;
	}
	/* Copies of rows relayed before add no jobs. */
	stats->jobs = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	rc = 0;
out:
	PQclear(res);
	free(text);
	return rc;
}

static void
rollback_quietly(PGconn *app)
{
	if (PQstatus(app) == CONNECTION_OK &&
	    PQtransactionStatus(app) != PQTRANS_IDLE)
		PQclear(PQexec(app, "ROLLBACK"));
}

int
hd_outbox_relay(PGconn *app, PGconn *job, const struct hd_config *config,
    const char *origin, int limit, enum hd_outbox_fault fault,
    struct hd_outbox_stats *stats, struct herald_error *error)
{
	PGresult	*res = NULL;
	const char	*params[1];
	char		 limit_text[16], *ids = NULL;
	json_t		*jobs = NULL;
	int		 i, n, rc = -1;

	memset(stats, 0, sizeof *stats);
	if (hd_db_exec(app, "BEGIN", error) == -1)
		return -1;

	snprintf(limit_text, sizeof limit_text, "%d", limit);
	params[0] = limit_text;
	res = PQexecParams(app, outbox_select_sql, 1, NULL, params, NULL, NULL,
	    0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, app, res, "could not read the outbox");
		goto out;
	}
	n = PQntuples(res);
	if (n == 0) {
		rc = 0;
		goto out;
	}

	if ((jobs = json_array()) == NULL || (ids = ids_literal(res)) == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		if (expand_row(res, i, config, jobs, stats) == -1)
			goto nomem;
	stats->rows = n;

	if (insert_jobs(job, origin, ids, jobs, stats, error) == -1)
		goto out;
	if (fault == HD_OUTBOX_FAULT_AFTER_JOB_COMMIT) {
		rc = n;
		goto cleanup;
	}

	PQclear(res);
	params[0] = ids;
	res = PQexecParams(app, "DELETE FROM herald.outbox "
	    "WHERE id = ANY ($1::bigint[])", 1, NULL, params, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, app, res,
		    "could not delete relayed outbox rows");
		goto out;
	}
	if (hd_db_exec(app, "COMMIT", error) == -1)
		goto out;
	rc = n;
	goto cleanup;

nomem:
	hd_error_set(error, HERALD_ENOMEM, "out of memory");
out:
	/* Also the way out of an empty batch, which locked nothing. */
	rollback_quietly(app);
cleanup:
	PQclear(res);
	json_decref(jobs);
	free(ids);
	return rc;
}

int
hd_outbox_report(PGconn *app, PGconn *job, const char *origin,
    int64_t relayed, int64_t dropped, struct herald_error *error)
{
	PGresult	*res, *up;
	const char	*params[6];
	char		 relayed_text[24], dropped_text[24];
	int		 rc = -1;

	res = PQexec(app, "SELECT count(*), min(created_at), current_database()"
	    " FROM herald.outbox");
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, app, res,
		    "could not measure the outbox backlog");
		PQclear(res);
		return -1;
	}
	snprintf(relayed_text, sizeof relayed_text, "%" PRId64, relayed);
	snprintf(dropped_text, sizeof dropped_text, "%" PRId64, dropped);
	params[0] = origin;
	params[1] = PQgetvalue(res, 0, 2);
	params[2] = PQgetvalue(res, 0, 0);
	params[3] = value_or_null(res, 0, 1);
	params[4] = relayed_text;
	params[5] = dropped_text;

	up = PQexecParams(job,
	    "INSERT INTO herald.relay_status AS s (origin, database, backlog,"
	    " oldest_at, relayed_total, dropped_total, updated_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, now())"
	    " ON CONFLICT (origin) DO UPDATE SET database = excluded.database,"
	    " backlog = excluded.backlog, oldest_at = excluded.oldest_at,"
	    " relayed_total = s.relayed_total + excluded.relayed_total,"
	    " dropped_total = s.dropped_total + excluded.dropped_total,"
	    " updated_at = now()", 6, NULL, params, NULL, NULL, 0);
	if (!hd_db_ok(up))
		hd_error_from_pg(error, job, up,
		    "could not record the outbox backlog");
	else
		rc = 0;
	PQclear(up);
	PQclear(res);
	return rc;
}

int64_t
hd_outbox_prune(PGconn *app, PGconn *job, const char *origin,
    struct herald_error *error)
{
	PGresult	*res, *del = NULL;
	const char	*params[2];
	int64_t		 pruned = -1;

	res = PQexec(app, "SELECT min(id) FROM herald.outbox");
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, app, res, "could not read the outbox");
		goto out;
	}
	params[0] = origin;
	params[1] = value_or_null(res, 0, 0);
	del = PQexecParams(job, "DELETE FROM herald.relayed"
	    " WHERE origin = $1 AND relayed_at < now() - interval '1 hour'"
	    " AND ($2::bigint IS NULL OR outbox_id < $2::bigint)",
	    2, NULL, params, NULL, NULL, 0);
	if (!hd_db_ok(del)) {
		hd_error_from_pg(error, job, del,
		    "could not prune relayed origin keys");
		goto out;
	}
	pruned = strtoll(PQcmdTuples(del), NULL, 10);
out:
	PQclear(del);
	PQclear(res);
	return pruned;
}
