/*
 * model.c: the console's queries, sent and read without blocking, and
 * their last results.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"
#include "migrate.h"
#include "model.h"
#include "queue_sql.h"
#include "util.h"

/* Requests waiting at once: one per snapshot, plus actions. */
#define MODEL_QUEUE_MAX		24
#define MODEL_PARAMS_MAX	8

/* Reconnect delays: doubled after each failure, from first to max. */
#define MODEL_RETRY_FIRST_MS	250
#define MODEL_RETRY_MAX_MS	2000
/* A connection attempt that takes longer is abandoned and retried. */
#define MODEL_CONNECT_TIMEOUT_MS	10000

/* The end of a job's last attempt: "exit 75", "signal 9", "timeout". */
#define LAST_END(e)							\
	"coalesce(CASE WHEN " e "->>'outcome' IN ('timeout', 'lost')"	\
	" THEN " e "->>'outcome'"					\
	" WHEN (" e "->>'signal')::int > 0"				\
	" THEN 'signal ' || (" e "->>'signal')"				\
	" WHEN " e "->>'exit_code' IS NOT NULL"				\
	" THEN 'exit ' || (" e "->>'exit_code')"			\
	" ELSE " e "->>'outcome' END, '-')"

/* The dead-job filters: $1 queue, $2 task, $3 text (NULL: any). */
#define DEAD_FILTER							\
	" WHERE ($1::text IS NULL OR d.queue = $1::text)"		\
	"   AND ($2::text IS NULL OR d.task = $2::text)"		\
	"   AND herald.dead_match($3::text, d.task, d.queue, d.reason,"	\
	"     d.payload, d.errors)"

#define DEAD_PAGE_COLUMNS						\
	"SELECT d.id, d.task, d.queue, d.attempt, d.max_attempts,"	\
	"  d.reason, (extract(epoch FROM now() - d.died_at) * 1000)::bigint,"	\
	"  d.errors->-1->>'outcome', d.errors->-1->>'exit_code',"	\
	"  d.errors->-1->>'signal'"					\
	" FROM herald.dead_jobs d"

/* Queues named only by counters more than an hour old are left out. */
static const char queues_sql[] = HD_SQL_QUEUE_STATUS(
    " WHERE minute >= date_trunc('minute', now()) - interval '1 hour'");

/*
 * Supervisors first, then their children, each with its running jobs.
 * herald.jobs_redacted, which both console roles read, lists no job of
 * the inbox, so the join probes the primary key of herald.jobs.  The last
 * column is true for the janitor that holds the election lock.
 */
static const char workers_sql[] =
    "SELECT p.kind, p.host, p.pid, coalesce(p.queue, ''), p.id,"
    "  coalesce(p.supervisor_id, ''),"
    "  (extract(epoch FROM now() - p.started_at) * 1000)::bigint,"
    "  (extract(epoch FROM now() - p.heartbeat_at) * 1000)::bigint,"
    "  j.id, j.task,"
    "  (extract(epoch FROM clock_timestamp() - j.attempted_at) * 1000)"
    "    ::bigint,"
    "  j.attempt, j.max_attempts,"
    "  coalesce(p.kind = 'janitor' AND p.backend_pid ="
    "    (SELECT herald.janitor_backend_pid()), false)"
    " FROM herald.processes p"
    " LEFT JOIN (SELECT j.* FROM herald.held_jobs h"
    "   JOIN herald.jobs_redacted j ON j.id = h.id) j"
    "   ON j.lease_owner = p.id"
    " ORDER BY p.host, coalesce(p.supervisor_id, p.id),"
    "   p.kind <> 'supervisor', p.kind, p.queue, p.pid, j.id"
    " LIMIT 2000";

/*
 * Jobs waiting to retry ($1 false) or every queued job that no lease
 * lists ($1 true), soonest first, by the run_at index.  The jobs of the
 * inbox are first attempts, so only the second list has them.  Each part
 * is sorted and cut on its own: with one ORDER BY over the whole UNION
 * ALL, PostgreSQL 15 read all of herald.jobs instead of the run_at index.
 * The total comes from the job counts, so neither reads more jobs than it
 * returns.
 */
static const char retries_sql[] =
    "SELECT j.id, j.task, j.queue, j.attempt, j.max_attempts,"
    "  (extract(epoch FROM " HD_SQL_FINITE_RUN_AT("j.run_at")
    " - now()) * 1000)::bigint,"
    "  extract(epoch FROM " HD_SQL_FINITE_RUN_AT("j.run_at") ")::bigint,"
    "  " LAST_END("(j.errors->-1)") ","
    "  (SELECT sum(CASE WHEN $1::boolean"
    "      THEN queued + scheduled + retrying ELSE retrying END)"
    "    FROM herald.queue_counts())::bigint"
    " FROM ((SELECT j.id, j.task, j.queue, j.attempt::integer,"
    "    j.max_attempts::integer, j.run_at, j.errors"
    "  FROM herald.jobs j"
    "  WHERE j.state = 'queued'"
    "    AND ($1::boolean OR (j.run_at > now() AND j.attempt > 0))"
    "    AND j.id NOT IN (SELECT h.id FROM herald.held_jobs h)"
    "  ORDER BY j.run_at, j.id LIMIT $2)"
    "  UNION ALL"
    "  (SELECT i.id, i.task, i.queue, 0, i.max_attempts::integer,"
    "    i.run_at, '[]'::jsonb"
    "  FROM herald.inbox i WHERE $1::boolean"
    "  ORDER BY i.run_at, i.id LIMIT $2)) j"
    " ORDER BY j.run_at, j.id"
    " LIMIT $2";

static const char dead_after_sql[] =
    DEAD_PAGE_COLUMNS DEAD_FILTER
    "   AND d.id > $4::bigint"
    " ORDER BY d.id LIMIT $5";

static const char dead_before_sql[] =
    DEAD_PAGE_COLUMNS DEAD_FILTER
    "   AND d.id < $4::bigint"
    " ORDER BY d.id DESC LIMIT $5";

static const char dead_count_sql[] =
    "SELECT count(*), count(*) FILTER (WHERE d.id < $4::bigint),"
    "  coalesce(max(d.id), 0)"
    " FROM herald.dead_jobs d" DEAD_FILTER;

/* An application database that shares its name shows its origin too. */
static const char relay_sql[] =
    "SELECT origin, CASE WHEN count(*) OVER (PARTITION BY database) > 1"
    "  THEN database || ' (' || origin || ')' ELSE database END, backlog,"
    "  (extract(epoch FROM now() - oldest_at) * 1000)::bigint,"
    "  relayed_total, dropped_total,"
    "  (extract(epoch FROM now() - updated_at) * 1000)::bigint"
    " FROM herald.relay_status ORDER BY database, origin";

static const char event_rates_sql[] =
    "WITH counted AS ("
    "  SELECT event_type,"
    "    sum(jobs) FILTER (WHERE minute = date_trunc('minute', now()))"
    "      AS this_minute,"
    "    sum(jobs) FILTER (WHERE minute = date_trunc('minute', now())"
    "      - interval '1 minute') AS last_minute,"
    "    sum(jobs) FILTER (WHERE minute >= date_trunc('minute', now())"
    "      - interval '15 minutes' AND minute < date_trunc('minute', now()))"
    "      / 15.0 AS avg_15,"
    "    sum(jobs) AS hour"
    "  FROM herald.event_counters"
    "  WHERE minute >= date_trunc('minute', now()) - interval '59 minutes'"
    "  GROUP BY event_type"
    "), waiting AS ("
    "  SELECT event_type,"
    "    sum(queued + scheduled + running + retrying) AS waiting"
    "  FROM herald.queue_counts() WHERE event_type <> ''"
    "  GROUP BY event_type"
    "  HAVING sum(queued + scheduled + running + retrying) > 0"
    ")"
    "SELECT event_type, coalesce(c.this_minute, 0),"
    "  coalesce(c.last_minute, 0), round(coalesce(c.avg_15, 0), 1),"
    "  coalesce(c.hour, 0), coalesce(w.waiting, 0)::bigint"
    " FROM counted c FULL JOIN waiting w USING (event_type)"
    " ORDER BY event_type";

static const char detail_dead_sql[] =
    "SELECT id, task, queue, priority, attempt, max_attempts,"
    "  'dead (' || reason || ')',"
    "  " HD_SQL_UTC_SECOND("created_at") ","
    "  " HD_SQL_UTC_SECOND("died_at") ","
    "  (extract(epoch FROM died_at - now()) * 1000)::bigint,"
    "  event_id, event_type, jsonb_pretty(payload),"
    "  " HD_SQL_HISTORY_SHOWN("errors")
    " FROM herald.dead_jobs WHERE id = $1";

static const char detail_live_sql[] =
    "SELECT id, task, queue, priority, attempt, max_attempts,"
    "  " HD_SQL_SHOWN_STATE ","
    "  " HD_SQL_UTC_SECOND("created_at") ","
    "  " HD_SQL_UTC_SECOND("run_at") ","
    "  (extract(epoch FROM " HD_SQL_FINITE_RUN_AT("run_at")
    " - now()) * 1000)::bigint,"
    "  event_id, event_type, jsonb_pretty(payload),"
    "  " HD_SQL_HISTORY_SHOWN("errors")
    " FROM herald.live_jobs WHERE id = $1";

static const char queue_health_sql[] =
    "SELECT * FROM herald.queue_health()";
static const char db_health_sql[] =
    "SELECT * FROM herald.database_health()";
static const char retention_sql[] =
    "SELECT dead_ms, dead_rows, counters_ms, hourly_ms"
    " FROM herald.retention";

/*
 * Periodic jobs: name, schedule, zone, ms until the next slot, the last
 * slot's job id and whether it was enqueued (false: missed).
 */
static const char periodic_sql[] =
    "SELECT name, schedule, timezone,"
    " (extract(epoch FROM next_slot - now()) * 1000)::bigint,"
    " last_job_id, last_enqueued"
    " FROM herald.periodic ORDER BY next_slot NULLS LAST, name LIMIT 20";

/* The queues whose workers a heraldd stopped restarting, with how many. */
static const char failed_sql[] =
    "SELECT queue, count(*) FROM herald.failed_children"
    " WHERE role = 'worker' GROUP BY queue ORDER BY queue";

static const char failed_children_sql[] =
    "SELECT f.role, f.queue, f.slot, f.failures, coalesce(p.host, '?'),"
    " f.supervisor_id, p.pid"
    " FROM herald.failed_children f"
    " LEFT JOIN herald.processes p ON p.id = f.supervisor_id"
    " ORDER BY f.role, f.queue, f.slot, p.host LIMIT 20";

static const struct {
	const char		*sql;
	enum hd_snapshot_kind	 snapshot;
} queries[HD_Q_COUNT] = {
	[HD_Q_QUEUES] = { queues_sql, HD_SNAP_QUEUES },
	[HD_Q_WORKERS] = { workers_sql, HD_SNAP_WORKERS },
	[HD_Q_RETRIES] = { retries_sql, HD_SNAP_RETRIES },
	[HD_Q_DEAD_AFTER] = { dead_after_sql, HD_SNAP_DEAD_PAGE },
	[HD_Q_DEAD_BEFORE] = { dead_before_sql, HD_SNAP_DEAD_PAGE },
	[HD_Q_DEAD_COUNT] = { dead_count_sql, HD_SNAP_DEAD_COUNT },
	[HD_Q_RELAY] = { relay_sql, HD_SNAP_RELAY },
	[HD_Q_EVENT_RATES] = { event_rates_sql, HD_SNAP_EVENT_RATES },
	[HD_Q_DETAIL_DEAD] = { detail_dead_sql, HD_SNAP_DETAIL },
	[HD_Q_DETAIL_LIVE] = { detail_live_sql, HD_SNAP_DETAIL },
	[HD_Q_QUEUE_HEALTH] = { queue_health_sql, HD_SNAP_QUEUE_HEALTH },
	[HD_Q_DB_HEALTH] = { db_health_sql, HD_SNAP_DB_HEALTH },
	[HD_Q_RETENTION] = { retention_sql, HD_SNAP_RETENTION },
	[HD_Q_PERIODIC] = { periodic_sql, HD_SNAP_PERIODIC },
	[HD_Q_FAILED] = { failed_sql, HD_SNAP_FAILED },
	[HD_Q_FAILED_CHILDREN] = { failed_children_sql,
	    HD_SNAP_FAILED_CHILDREN },
};

enum request_kind {
	REQUEST_SETUP = 0,
	REQUEST_CHECK,			/* of the schema's version */
	REQUEST_FETCH,
	REQUEST_ACTION
};

struct request {
	enum request_kind	 kind;
	enum hd_query		 query;
	int			 nparams;
	char			*values[MODEL_PARAMS_MAX];
	int64_t			 tag;
	hd_fetch_done		 fetch_done;
	hd_act_done		 act_done;
	void			*arg;
	struct hd_action	*action;	/* owned, REQUEST_ACTION */
	bool			 read_version;	/* REQUEST_CHECK, second step */
	bool			 other_found;	/* the other schema's table */
};

enum model_state {
	MODEL_CONNECTED = 0,
	MODEL_CONNECTING,
	MODEL_WAITING		/* for the next reconnect attempt */
};

struct hd_model {
	char			*conninfo;
	char			*application_name;
	char			*setup_sql;
	PGconn			*conn;
	enum model_state	 state;
	int64_t			 retry_at_ms;
	int64_t			 retry_delay_ms;
	int64_t			 connect_started_ms;
	int64_t			 down_since_ms;
	PostgresPollingStatusType poll_status;
	bool			 want_write;	/* PQflush has more to send */

	struct request		 queue[MODEL_QUEUE_MAX];
	int			 nqueued;
	struct request		 out;		/* the request sent */
	bool			 out_active;
	int64_t			 sent_ms;
	PGresult		*out_res;	/* its first result */

	struct hd_snapshot	 snaps[HD_SNAP_COUNT];
	/*
	 * Set when a query was denied, as for herald_viewer: from then on
	 * every query reads the redacted views instead of the tables.
	 */
	bool			 redacted;
	char			*redacted_sql[HD_Q_COUNT];
	char			 error[256];
	char			 target[160];
	struct herald_error	 failure;	/* code HERALD_OK until one */
	bool			 checked;	/* a schema check passed */
};

static void
request_release(struct request *req)
{
	int	i;

	for (i = 0; i < req->nparams; i++)
		free(req->values[i]);
	if (req->action != NULL) {
		hd_action_release(req->action);
		free(req->action);
	}
	memset(req, 0, sizeof(*req));
}

static void
model_set_target(struct hd_model *model)
{
	const char	*host = PQhost(model->conn);

	snprintf(model->target, sizeof(model->target), "%s on %s",
	    PQdb(model->conn), host != NULL && host[0] != '\0' ? host :
	    "local socket");
}

/*
 * Put an empty request of kind at the head of the queue, dropping the
 * last one when the queue is full, and return it.
 */
static struct request *
model_push_front(struct hd_model *model, enum request_kind kind)
{
	struct request	*req;

	if (model->nqueued == MODEL_QUEUE_MAX)
		request_release(&model->queue[--model->nqueued]);
	memmove(&model->queue[1], &model->queue[0],
	    model->nqueued * sizeof(model->queue[0]));
	model->nqueued++;
	req = &model->queue[0];
	memset(req, 0, sizeof(*req));
	req->kind = kind;
	return req;
}

/*
 * Make conn the model's working connection.  The setup and the schema
 * check go first, ahead of what waited for the connection, so that no
 * query reads tables of another version.
 */
static void
model_connected(struct hd_model *model)
{
	PQsetnonblocking(model->conn, 1);
	model->state = MODEL_CONNECTED;
	model->retry_delay_ms = MODEL_RETRY_FIRST_MS;
	model->want_write = false;
	model->error[0] = '\0';
	model_set_target(model);
	model_push_front(model, REQUEST_CHECK);
	if (model->setup_sql != NULL)
		model_push_front(model, REQUEST_SETUP);
}

struct hd_model *
hd_model_new(PGconn *conn, const char *conninfo,
    const char *application_name, const char *setup_sql)
{
	struct hd_model	*model;

	model = hd_xcalloc(1, sizeof(*model));
	model->conninfo = hd_xstrdup(conninfo != NULL ? conninfo : "");
	model->application_name = hd_xstrdup(application_name);
	model->setup_sql = setup_sql != NULL ? hd_xstrdup(setup_sql) : NULL;
	model->retry_delay_ms = MODEL_RETRY_FIRST_MS;
	model->conn = conn;
	if (conn != NULL)
		model_connected(model);
	else {
		model->state = MODEL_WAITING;
		model->retry_at_ms = hd_monotonic_ms();
		model->down_since_ms = model->retry_at_ms;
	}
	return model;
}

void
hd_model_free(struct hd_model *model)
{
	int	i;

	if (model == NULL)
		return;
	for (i = 0; i < model->nqueued; i++)
		request_release(&model->queue[i]);
	if (model->out_active)
		request_release(&model->out);
	PQclear(model->out_res);
	for (i = 0; i < HD_SNAP_COUNT; i++)
		PQclear(model->snaps[i].res);
	for (i = 0; i < HD_Q_COUNT; i++)
		free(model->redacted_sql[i]);
	PQfinish(model->conn);
	free(model->conninfo);
	free(model->application_name);
	free(model->setup_sql);
	free(model);
}

void
hd_model_fetch(struct hd_model *model, enum hd_query query, int nparams,
    const char *const *values, int64_t tag, hd_fetch_done done, void *arg)
{
	struct request	*req = NULL;
	int		 i;

	/* A newer request for the same snapshot replaces a waiting one. */
	for (i = 0; i < model->nqueued; i++)
		if (model->queue[i].kind == REQUEST_FETCH &&
		    queries[model->queue[i].query].snapshot ==
		    queries[query].snapshot) {
			req = &model->queue[i];
			request_release(req);
			break;
		}
	if (req == NULL) {
		if (model->nqueued == MODEL_QUEUE_MAX)
			return;
		req = &model->queue[model->nqueued++];
		memset(req, 0, sizeof(*req));
	}

	req->kind = REQUEST_FETCH;
	req->query = query;
	req->nparams = nparams < MODEL_PARAMS_MAX ? nparams :
	    MODEL_PARAMS_MAX;
	for (i = 0; i < req->nparams; i++)
		req->values[i] = values[i] != NULL ? hd_xstrdup(values[i]) :
		    NULL;
	req->tag = tag;
	req->fetch_done = done;
	req->arg = arg;
}

int
hd_model_act(struct hd_model *model, struct hd_action *action,
    hd_act_done done, void *arg)
{
	struct request	*req;
	int		 i;

	if (model->state != MODEL_CONNECTED) {
		hd_action_release(action);
		free(action);
		return -1;
	}
	if (model->nqueued == MODEL_QUEUE_MAX)
		request_release(&model->queue[--model->nqueued]);

	/* Actions go before fetches, but after other actions and setup. */
	for (i = 0; i < model->nqueued; i++)
		if (model->queue[i].kind == REQUEST_FETCH)
			break;
	memmove(&model->queue[i + 1], &model->queue[i],
	    (model->nqueued - i) * sizeof(model->queue[0]));
	model->nqueued++;
	req = &model->queue[i];
	memset(req, 0, sizeof(*req));
	req->kind = REQUEST_ACTION;
	req->action = action;
	req->act_done = done;
	req->arg = arg;
	return 0;
}

bool
hd_model_busy(const struct hd_model *model)
{
	return model->out_active || model->nqueued > 0;
}

bool
hd_model_acting(const struct hd_model *model)
{
	int	i;

	if (model->out_active && model->out.kind == REQUEST_ACTION)
		return true;
	for (i = 0; i < model->nqueued; i++)
		if (model->queue[i].kind == REQUEST_ACTION)
			return true;
	return false;
}

void
hd_model_drop(struct hd_model *model, enum hd_snapshot_kind kind)
{
	PQclear(model->snaps[kind].res);
	memset(&model->snaps[kind], 0, sizeof(model->snaps[kind]));
}

const struct hd_snapshot *
hd_model_snapshot(const struct hd_model *model, enum hd_snapshot_kind kind)
{
	return &model->snaps[kind];
}

static void
model_set_error(struct hd_model *model, const char *what, const char *text)
{
	char	trimmed[200];
	size_t	len;

	snprintf(trimmed, sizeof(trimmed), "%s", text);
	len = strlen(trimmed);
	while (len > 0 && (trimmed[len - 1] == '\n' ||
	    trimmed[len - 1] == ' '))
		trimmed[--len] = '\0';
	/* Only the first line: libpq adds hints on further lines. */
	trimmed[strcspn(trimmed, "\n")] = '\0';
	snprintf(model->error, sizeof(model->error), "%s: %s", what, trimmed);
}

/* Tell an action's caller that it failed. */
static void
model_fail_action(struct request *req, const char *message)
{
	struct herald_error	error;

	if (req->act_done == NULL)
		return;
	hd_error_set(&error, HERALD_ECONNECT, "%s: %s", req->action->what,
	    message);
	req->act_done(req->arg, req->action, -1, &error);
}

/* Close the connection, if any, and schedule the next attempt. */
static void
model_retry_later(struct hd_model *model, int64_t now_ms)
{
	/* Before the first connection, name what it tries to reach. */
	if (model->target[0] == '\0' && model->conn != NULL)
		model_set_target(model);
	PQfinish(model->conn);
	model->conn = NULL;
	if (model->down_since_ms == 0)
		model->down_since_ms = now_ms;
	model->state = MODEL_WAITING;
	model->retry_at_ms = now_ms + model->retry_delay_ms;
	model->retry_delay_ms *= 2;
	if (model->retry_delay_ms > MODEL_RETRY_MAX_MS)
		model->retry_delay_ms = MODEL_RETRY_MAX_MS;
}

/*
 * Drop the broken connection: the snapshots stay, the request that was
 * out is lost, and reconnecting starts after the current delay.
 */
static void
model_lost(struct hd_model *model, int64_t now_ms)
{
	int	i;

	if (model->conn != NULL && model->state == MODEL_CONNECTED)
		model_set_error(model, "connection lost",
		    PQerrorMessage(model->conn));
	PQclear(model->out_res);
	model->out_res = NULL;
	if (model->out_active) {
		if (model->out.kind == REQUEST_ACTION)
			model_fail_action(&model->out, "connection lost; "
			    "the action may or may not have been applied");
		request_release(&model->out);
		model->out_active = false;
	}
	/* Waiting actions are rejected; fetches are sent again later. */
	for (i = 0; i < model->nqueued; i++)
		if (model->queue[i].kind != REQUEST_FETCH) {
			if (model->queue[i].kind == REQUEST_ACTION)
				model_fail_action(&model->queue[i],
				    "connection lost before it was sent");
			request_release(&model->queue[i]);
			memmove(&model->queue[i], &model->queue[i + 1],
			    (model->nqueued - i - 1) *
			    sizeof(model->queue[0]));
			model->nqueued--;
			memset(&model->queue[model->nqueued], 0,
			    sizeof(model->queue[0]));
			i--;
		}

	model_retry_later(model, now_ms);
}

/*
 * Stop the model on failure, so that it makes no further attempt and the
 * caller ends on hd_model_failure().
 */
static void
model_fail(struct hd_model *model, const struct herald_error *failure,
    int64_t now_ms)
{
	model->failure = *failure;
	if (model->state == MODEL_CONNECTED)
		model_lost(model, now_ms);
	else
		model_retry_later(model, now_ms);
	model_set_error(model, "could not connect", failure->message);
	model->retry_at_ms = INT64_MAX;
}

/*
 * Record a failed connection attempt and try again later.  Until a schema
 * check has passed, a failure that waiting cannot mend (a rejected
 * login, a database that does not exist) stops the model, so that a
 * console opened during an outage ends as one opened after it does.
 */
static void
model_connect_failed(struct hd_model *model, int64_t now_ms)
{
	struct herald_error	error;

	memset(&error, 0, sizeof error);
	hd_db_connect_error(model->conn, &error);
	if (!model->checked && hd_db_connect_lasting(&error)) {
		model_fail(model, &error, now_ms);
		return;
	}
	model_set_error(model, "could not connect", error.message);
	model_retry_later(model, now_ms);
}

/* Start a connection with the settings of hd_db_connect(). */
static void
model_start_connect(struct hd_model *model, int64_t now_ms)
{
	const char	*keywords[HD_DB_PARAMS_MAX], *values[HD_DB_PARAMS_MAX];

	hd_db_connect_params(model->conninfo, model->application_name,
	    keywords, values);
	model->conn = PQconnectStartParams(keywords, values, 1);
	model->connect_started_ms = now_ms;
	if (model->conn == NULL || PQstatus(model->conn) == CONNECTION_BAD) {
		model_connect_failed(model, now_ms);
		return;
	}
	model->state = MODEL_CONNECTING;
	model->poll_status = PGRES_POLLING_WRITING;
}

static void
model_ignore_notice(void *arg, const char *message)
{
}

static void
model_continue_connect(struct hd_model *model, int64_t now_ms)
{
	model->poll_status = PQconnectPoll(model->conn);
	if (model->poll_status == PGRES_POLLING_OK) {
		PQsetNoticeProcessor(model->conn, model_ignore_notice, NULL);
		model_connected(model);
	} else if (model->poll_status == PGRES_POLLING_FAILED)
		model_connect_failed(model, now_ms);
}

static const char *
model_query_sql(struct hd_model *model, enum hd_query query)
{
	if (!model->redacted)
		return queries[query].sql;
	if (model->redacted_sql[query] == NULL)
		model->redacted_sql[query] =
		    hd_db_redact_sql(queries[query].sql);
	return model->redacted_sql[query];
}

/*
 * On a fetch denied for lack of privilege, switch to the redacted
 * queries and put the request back at the head of the queue.  Return
 * whether it was put back.
 */
static bool
model_retry_redacted(struct hd_model *model, const PGresult *res)
{
	const char	*sqlstate;

	if (model->redacted || model->out.kind != REQUEST_FETCH ||
	    res == NULL)
		return false;
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (sqlstate == NULL || strcmp(sqlstate, HD_SQLSTATE_DENIED) != 0)
		return false;

	model->redacted = true;
	if (model->nqueued == MODEL_QUEUE_MAX)
		request_release(&model->queue[--model->nqueued]);
	memmove(&model->queue[1], &model->queue[0],
	    model->nqueued * sizeof(model->queue[0]));
	model->queue[0] = model->out;
	model->nqueued++;
	memset(&model->out, 0, sizeof(model->out));
	return true;
}

bool
hd_model_redacted(const struct hd_model *model)
{
	return model->redacted;
}

/*
 * Send a step of the schema check: whether the version table and the
 * other schema's table exist, then, when the first does, the version.
 * The table is read only once it is known to exist, so that a database
 * without the schema gives its own message rather than an error.
 */
static int
model_send_check(struct hd_model *model, const struct request *req)
{
	char	sql[256];

	if (req->read_version)
		snprintf(sql, sizeof sql, "SELECT coalesce(max(version), 0)"
		    " FROM %s", hd_schema_table(HD_SCHEMA_JOB, false));
	else
		snprintf(sql, sizeof sql, "SELECT to_regclass('%s') IS NOT NULL,"
		    " to_regclass('%s') IS NOT NULL",
		    hd_schema_table(HD_SCHEMA_JOB, false),
		    hd_schema_table(HD_SCHEMA_JOB, true));
	return PQsendQuery(model->conn, sql);
}

/*
 * Judge the result of a step of the schema check.  A schema that is
 * missing or of another version, or a role denied, stops the model.
 * Another error, such as the statement timeout while a migration locks
 * the table, drops the connection, and the check runs on the next one.
 */
static void
model_checked(struct hd_model *model, const struct request *req,
    const PGresult *res, int64_t now_ms)
{
	struct request		*next;
	struct herald_error	 error;
	bool			 found, other;
	int			 version = 0;

	memset(&error, 0, sizeof error);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(&error, model->conn, res,
		    "could not read schema version");
		if (strcmp(error.sqlstate, HD_SQLSTATE_DENIED) == 0)
			model_fail(model, &error, now_ms);
		else {
			model_lost(model, now_ms);
			model_set_error(model, "query failed", error.message);
		}
		return;
	}
	if (req->read_version) {
		version = atoi(PQgetvalue(res, 0, 0));
		other = req->other_found;
	} else {
		found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		other = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		if (found) {
			next = model_push_front(model, REQUEST_CHECK);
			next->read_version = true;
			next->other_found = other;
			return;
		}
	}
	if (hd_schema_judge(model->conn, HD_SCHEMA_JOB, version, other,
	    &error) == -1) {
		model_fail(model, &error, now_ms);
		return;
	}
	model->checked = true;
}

/* Send the first queued request. */
static void
model_send(struct hd_model *model, int64_t now_ms)
{
	struct request	*req = &model->queue[0];
	int		 ok;

	if (req->kind == REQUEST_SETUP)
		ok = PQsendQuery(model->conn, model->setup_sql);
	else if (req->kind == REQUEST_CHECK)
		ok = model_send_check(model, req);
	else if (req->kind == REQUEST_ACTION)
		ok = PQsendQueryParams(model->conn, req->action->sql,
		    req->action->nparams, NULL, req->action->values, NULL,
		    NULL, 0);
	else
		ok = PQsendQueryParams(model->conn,
		    model_query_sql(model, req->query),
		    req->nparams, NULL, (const char *const *)req->values,
		    NULL, NULL, 0);

	model->out = *req;
	memmove(&model->queue[0], &model->queue[1],
	    (model->nqueued - 1) * sizeof(model->queue[0]));
	model->nqueued--;
	memset(&model->queue[model->nqueued], 0, sizeof(model->queue[0]));
	model->out_active = true;
	model->sent_ms = now_ms;

	if (!ok) {
		model_lost(model, now_ms);
		return;
	}
	model->want_write = PQflush(model->conn) == 1;
}

/* The request that was out has its result: store it and tell. */
static void
model_finish(struct hd_model *model, int64_t now_ms)
{
	struct request		*req = &model->out;
	PGresult		*res = model->out_res;
	struct hd_snapshot	*snap;
	struct herald_error	 error;
	int64_t			 count;

	model->out_res = NULL;
	model->out_active = false;
	if (req->kind == REQUEST_ACTION) {
		count = hd_action_result(req->action, model->conn, res,
		    &error);
		if (req->act_done != NULL)
			req->act_done(req->arg, req->action, count,
			    count == -1 ? &error : NULL);
		PQclear(res);
	} else if (req->kind == REQUEST_CHECK) {
		model_checked(model, req, res, now_ms);
		PQclear(res);
	} else if (!hd_db_ok(res) && model_retry_redacted(model, res)) {
		PQclear(res);
		return;
	} else if (!hd_db_ok(res)) {
		model_set_error(model, "query failed",
		    res != NULL ? PQresultErrorMessage(res) :
		    PQerrorMessage(model->conn));
		PQclear(res);
	} else if (req->kind == REQUEST_SETUP) {
		PQclear(res);
	} else {
		snap = &model->snaps[queries[req->query].snapshot];
		PQclear(snap->res);
		snap->res = res;
		snap->fetched_ms = now_ms;
		snap->tag = req->tag;
		snap->query = req->query;
		model->error[0] = '\0';
		model->down_since_ms = 0;
		if (req->fetch_done != NULL)
			req->fetch_done(req->arg, snap);
	}
	request_release(req);
}

/* Read what arrived; finish the request when its results are complete. */
static void
model_read(struct hd_model *model, int64_t now_ms)
{
	PGresult	*res;

	if (!PQconsumeInput(model->conn)) {
		model_lost(model, now_ms);
		return;
	}
	while (model->out_active && !PQisBusy(model->conn)) {
		res = PQgetResult(model->conn);
		if (res == NULL) {
			model_finish(model, now_ms);
			break;
		}
		/* Keep the first result; a setup's later ones are alike. */
		if (model->out_res == NULL)
			model->out_res = res;
		else
			PQclear(res);
	}
	if (model->state == MODEL_CONNECTED &&
	    PQstatus(model->conn) == CONNECTION_BAD)
		model_lost(model, now_ms);
}

void
hd_model_pollfd(struct hd_model *model, struct pollfd *pfd, int64_t now_ms,
    int64_t *timeout_ms)
{
	int64_t	wait;

	pfd->fd = -1;
	pfd->events = 0;
	pfd->revents = 0;
	switch (model->state) {
	case MODEL_WAITING:
		wait = model->retry_at_ms - now_ms;
		if (wait < 0)
			wait = 0;
		if (wait < *timeout_ms)
			*timeout_ms = wait;
		return;
	case MODEL_CONNECTING:
		pfd->fd = PQsocket(model->conn);
		pfd->events = model->poll_status == PGRES_POLLING_READING ?
		    POLLIN : POLLOUT;
		wait = model->connect_started_ms + MODEL_CONNECT_TIMEOUT_MS -
		    now_ms;
		if (wait < 0)
			wait = 0;
		if (wait < *timeout_ms)
			*timeout_ms = wait;
		return;
	case MODEL_CONNECTED:
		pfd->fd = PQsocket(model->conn);
		/* POLLIN also while idle, to notice a server that went away. */
		pfd->events = POLLIN | (model->want_write ? POLLOUT : 0);
		if (!model->out_active && model->nqueued > 0)
			*timeout_ms = 0;
		return;
	}
}

void
hd_model_io(struct hd_model *model, short revents, int64_t now_ms)
{
	switch (model->state) {
	case MODEL_WAITING:
		if (now_ms >= model->retry_at_ms)
			model_start_connect(model, now_ms);
		return;
	case MODEL_CONNECTING:
		if (revents != 0)
			model_continue_connect(model, now_ms);
		else if (now_ms - model->connect_started_ms >=
		    MODEL_CONNECT_TIMEOUT_MS) {
			model_set_error(model, "could not connect",
			    "timed out");
			model_retry_later(model, now_ms);
		}
		return;
	case MODEL_CONNECTED:
		break;
	}

	if (model->want_write && (revents & POLLOUT)) {
		int	flushed = PQflush(model->conn);

		if (flushed == -1) {
			model_lost(model, now_ms);
			return;
		}
		model->want_write = flushed == 1;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		model_read(model, now_ms);
		if (model->state != MODEL_CONNECTED)
			return;
	}
	if (!model->out_active && model->nqueued > 0)
		model_send(model, now_ms);
}

bool
hd_model_connected(const struct hd_model *model)
{
	return model->state == MODEL_CONNECTED;
}

int64_t
hd_model_down_since(const struct hd_model *model)
{
	return model->down_since_ms;
}

int64_t
hd_model_retry_at(const struct hd_model *model)
{
	return model->state == MODEL_WAITING ? model->retry_at_ms : 0;
}

const char *
hd_model_error(const struct hd_model *model)
{
	return model->error;
}

const char *
hd_model_target(const struct hd_model *model)
{
	return model->target;
}

const struct herald_error *
hd_model_failure(const struct hd_model *model)
{
	return model->failure.code != HERALD_OK ? &model->failure : NULL;
}

int64_t
hd_model_sent_at(const struct hd_model *model)
{
	return model->out_active ? model->sent_ms : 0;
}
