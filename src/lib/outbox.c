/*
 * outbox.c: moving outbox rows of an application database into the job
 * database.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald.h"
#include "db.h"
#include "outbox.h"
#include "wire.h"

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
	COL_MAX_ATTEMPTS,
	COL_UNIQUE_KEY,
	COL_UNIQUE_FOR_MS,
	COL_UNIQUE_STATES,
	COL_MORE
};

/*
 * Begin the application transaction and take a batch in one round trip.
 * Up to limit rows are locked in id order, skipping rows that other
 * relays hold.  The first of them is deleted, and so is each next one
 * while the payloads before it stay under max_bytes of JSON text, which
 * keeps the arrays far from the server's limit of 1 GB for one value.
 * The rows stay locked, and deleted only in this open transaction, until
 * its commit or rollback.  The rows are found again by their ctid, which
 * cannot change while the lock is held.  A DELETE that joins the locking
 * query on id is planned as a scan of the whole outbox, and one that
 * looks the ids up again costs a second index search per row.  The last
 * column is true when locked rows were left for the next batch.  The
 * first %d is the limit, the second max_bytes.  The outbox's trigger lets
 * only a transaction with herald.relay_unique_keys on delete a row with a
 * unique key, because a relay of an earlier version would relay the row
 * without its key (see sql/app/005).  run_at is clamped to the range
 * that the job database accepts, 1970 to the end of 9999: the outbox does
 * not check it, and a row with run_at 'infinity' would fail the cast to
 * bigint and so every batch.  A time before 1970 stays due now.
 */
static const char outbox_take_sql[] =
    "BEGIN; SET LOCAL herald.relay_unique_keys = on;"
    " WITH locked AS (SELECT ctid, id, octet_length(payload::text) AS bytes"
    " FROM herald.outbox ORDER BY id LIMIT %d FOR UPDATE SKIP LOCKED),"
    " chosen AS (SELECT ctid FROM (SELECT ctid, sum(bytes) OVER (ORDER BY id)"
    " - bytes AS before FROM locked) l WHERE before < %" PRId64 "),"
    " batch AS (DELETE FROM herald.outbox"
    " WHERE ctid = ANY (ARRAY(SELECT ctid FROM chosen))"
    " RETURNING id, kind, event_id, event_type, task, queue, payload,"
    " priority, run_at, max_attempts, unique_key, unique_for_ms,"
    " unique_states)"
    " SELECT id, kind, event_id, event_type, task, queue, payload::text,"
    " priority, CASE WHEN run_at IS NOT NULL THEN (extract(epoch FROM"
    " least(greatest(run_at, timestamptz '1970-01-01 00:00:00+00'),"
    " timestamptz '9999-12-31 23:59:59.999999+00')) * 1000000)::bigint END,"
    " max_attempts, unique_key, unique_for_ms, unique_states,"
    " (SELECT count(*) FROM locked) > (SELECT count(*) FROM chosen)"
    " FROM batch ORDER BY id";

/* The arrays of herald.relay_arrays(), in the order of its arguments. */
enum relay_column {
	/* One element per outbox row. */
	RELAY_IDS = 0,
	RELAY_PAYLOADS,
	RELAY_PRIORITIES,
	RELAY_RUN_AT,
	RELAY_EVENT_IDS,
	RELAY_EVENT_TYPES,
	/* One element per job. */
	RELAY_ROWS,
	RELAY_TASKS,
	RELAY_QUEUES,
	RELAY_MAX_ATTEMPTS,
	/* Of herald.relay_arrays_unique() only, for a batch with a key. */
	RELAY_UNIQUE_KEYS,
	RELAY_UNIQUE_FOR_MS,
	RELAY_UNIQUE_STATES,
	RELAY_COLUMNS
};

/* The columns of herald.relay_arrays(). */
#define RELAY_PLAIN_COLUMNS	RELAY_UNIQUE_KEYS

/*
 * Each batch adds its jobs and dropped events to its origin's totals in
 * herald.relay_status, in the transaction that inserts the jobs, so a
 * relay that dies loses no count.  The relay creates the row with its
 * first report, when it connects.  The last parameter is the number of
 * dropped events.
 */
#define RELAY_COUNTED(call, dropped)					\
    "WITH r AS (SELECT " call " AS jobs),"				\
    " s AS (UPDATE herald.relay_status s"				\
    " SET relayed_total = s.relayed_total + r.jobs,"			\
    " dropped_total = s.dropped_total + " dropped ""			\
    " FROM r WHERE s.origin = $1)"					\
    " SELECT r.jobs FROM r"

static const char relay_arrays_sql[] = RELAY_COUNTED(
    "herald.relay_arrays($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    "$12");
static const char relay_arrays_unique_sql[] = RELAY_COUNTED(
    "herald.relay_arrays_unique($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
    " $11, $12, $13, $14)", "$15");

/*
 * A batch on its way to herald.relay_arrays(), or to
 * herald.relay_arrays_unique() when a row has a unique key.  The key
 * arrays are built only then, so a batch without keys costs what it did
 * before keys.
 */
struct relay_batch {
	struct hd_wire_buf	 cols[RELAY_COLUMNS];
	bool			 later;		/* a row has its own run_at */
	bool			 keyed;		/* a row has a unique key */
};

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

/* Count name in the first HD_OUTBOX_DROPPED_TYPES distinct names. */
static void
stats_name(char names[][HERALD_NAME_MAX + 1], int64_t *counts, int *n,
    const char *name)
{
	int	i;

	for (i = 0; i < *n; i++) {
		if (strcmp(names[i], name) == 0) {
			counts[i]++;
			return;
		}
	}
	if (i < HD_OUTBOX_DROPPED_TYPES) {
		snprintf(names[i], HERALD_NAME_MAX + 1, "%s", name);
		counts[i] = 1;
		(*n)++;
	}
}

/*
 * Count a dropped event of type.  The types of herald.conf's events list
 * with no task, which are dropped on purpose, are not kept for the
 * warning.
 */
static void
stats_drop(struct hd_outbox_stats *stats, const struct hd_config *config,
    const char *type)
{
	int	i;

	stats->dropped++;
	for (i = 0; i < (int)config->nevents; i++)
		if (strcmp(config->events[i].type, type) == 0)
			return;
	stats_name(stats->dropped_types, stats->dropped_counts,
	    &stats->ndropped_types, type);
}

/* The route of events of type; NULL when no task subscribes. */
static const struct hd_event_route *
route_of(const struct hd_config *config, const char *type)
{
	const struct hd_event_route	*route = NULL;
	size_t				 i;

	for (i = 0; i < config->nevents; i++)
		if (strcmp(config->events[i].type, type) == 0)
			route = &config->events[i];
	if (route != NULL && route->ntasks == 0)
		return NULL;
	return route;
}

/* The number of jobs outbox row `row` expands to. */
static size_t
row_jobs(const PGresult *res, int row, const struct hd_config *config)
{
	const struct hd_event_route	*route;

	if (strcmp(PQgetvalue(res, row, COL_KIND), "event") != 0)
		return 1;
	route = route_of(config, PQgetvalue(res, row, COL_EVENT_TYPE));
	return route != NULL ? route->ntasks : 0;
}

static void
batch_release(struct relay_batch *batch)
{
	int	c;

	for (c = 0; c < RELAY_COLUMNS; c++)
		hd_wire_buf_release(&batch->cols[c]);
}

/* Start the arrays of a batch of nrows outbox rows and njobs jobs. */
static void
batch_begin(struct relay_batch *batch, size_t nrows, size_t njobs,
    bool keyed)
{
	static const uint32_t	elements[RELAY_COLUMNS] = {
		[RELAY_IDS] = HD_OID_INT8,
		[RELAY_PAYLOADS] = HD_OID_JSONB,
		[RELAY_PRIORITIES] = HD_OID_INT2,
		[RELAY_RUN_AT] = HD_OID_TIMESTAMPTZ,
		[RELAY_EVENT_IDS] = HD_OID_TEXT,
		[RELAY_EVENT_TYPES] = HD_OID_TEXT,
		[RELAY_ROWS] = HD_OID_INT4,
		[RELAY_TASKS] = HD_OID_TEXT,
		[RELAY_QUEUES] = HD_OID_TEXT,
		[RELAY_MAX_ATTEMPTS] = HD_OID_INT4,
		[RELAY_UNIQUE_KEYS] = HD_OID_TEXT,
		[RELAY_UNIQUE_FOR_MS] = HD_OID_INT8,
		[RELAY_UNIQUE_STATES] = HD_OID_TEXT,
	};
	int			c;

	memset(batch, 0, sizeof *batch);
	batch->keyed = keyed;
	for (c = 0; c < (keyed ? RELAY_COLUMNS : RELAY_PLAIN_COLUMNS); c++)
		hd_wire_array_begin(&batch->cols[c], elements[c],
		    c < RELAY_ROWS ? nrows : njobs);
}

static void
batch_text_or_null(struct hd_wire_buf *buf, const char *text)
{
	if (text == NULL)
		hd_wire_null(buf);
	else
		hd_wire_text(buf, text);
}

static void
batch_add_job(struct relay_batch *batch, int pos, const char *task,
    const char *queue, int max_attempts)
{
	hd_wire_int4(&batch->cols[RELAY_ROWS], pos);
	hd_wire_text(&batch->cols[RELAY_TASKS], task);
	hd_wire_text(&batch->cols[RELAY_QUEUES], queue);
	hd_wire_int4(&batch->cols[RELAY_MAX_ATTEMPTS], max_attempts);
}

/* The key columns of a job of a keyed batch; an event's jobs have none. */
static void
batch_add_key(struct relay_batch *batch, const PGresult *res, int row)
{
	if (!batch->keyed)
		return;
	if (res == NULL || PQgetisnull(res, row, COL_UNIQUE_KEY)) {
		hd_wire_null(&batch->cols[RELAY_UNIQUE_KEYS]);
		hd_wire_null(&batch->cols[RELAY_UNIQUE_FOR_MS]);
		hd_wire_null(&batch->cols[RELAY_UNIQUE_STATES]);
		return;
	}
	hd_wire_text(&batch->cols[RELAY_UNIQUE_KEYS],
	    PQgetvalue(res, row, COL_UNIQUE_KEY));
	if (PQgetisnull(res, row, COL_UNIQUE_FOR_MS))
		hd_wire_null(&batch->cols[RELAY_UNIQUE_FOR_MS]);
	else
		hd_wire_int8(&batch->cols[RELAY_UNIQUE_FOR_MS],
		    strtoll(PQgetvalue(res, row, COL_UNIQUE_FOR_MS), NULL, 10));
	batch_text_or_null(&batch->cols[RELAY_UNIQUE_STATES],
	    value_or_null(res, row, COL_UNIQUE_STATES));
}

/*
 * Add an event row and one job per subscribed task.  Its jobs run now
 * with priority 0; a row no task subscribes to is only counted.
 */
static void
batch_add_event(struct relay_batch *batch, const PGresult *res, int row,
    const struct hd_config *config, struct hd_outbox_stats *stats)
{
	const struct hd_event_route	*route;
	const struct hd_task_config	*task;
	const char			*type;
	size_t				 i;

	type = PQgetvalue(res, row, COL_EVENT_TYPE);
	route = route_of(config, type);
	if (route == NULL) {
		hd_wire_null(&batch->cols[RELAY_PAYLOADS]);
		hd_wire_null(&batch->cols[RELAY_PRIORITIES]);
		stats_drop(stats, config, type);
	} else {
		hd_wire_jsonb(&batch->cols[RELAY_PAYLOADS],
		    PQgetvalue(res, row, COL_PAYLOAD));
		hd_wire_int2(&batch->cols[RELAY_PRIORITIES], 0);
	}
	hd_wire_null(&batch->cols[RELAY_RUN_AT]);
	hd_wire_text(&batch->cols[RELAY_EVENT_IDS],
	    PQgetvalue(res, row, COL_EVENT_ID));
	hd_wire_text(&batch->cols[RELAY_EVENT_TYPES], type);

	for (i = 0; route != NULL && i < route->ntasks; i++) {
		task = hd_config_task(config, route->tasks[i]);
		batch_add_job(batch, row + 1, task->name, task->queue,
		    task->retry.max_attempts);
		batch_add_key(batch, NULL, row);
		stats->jobs++;
	}
}

/* Add an explicit job: its own settings first, then its task's. */
static void
batch_add_explicit(struct relay_batch *batch, const PGresult *res, int row,
    const struct hd_config *config, struct hd_outbox_stats *stats)
{
	const struct hd_task_config	*task;
	const char			*name, *queue;
	int				 max_attempts;

	hd_wire_jsonb(&batch->cols[RELAY_PAYLOADS],
	    PQgetvalue(res, row, COL_PAYLOAD));
	hd_wire_int2(&batch->cols[RELAY_PRIORITIES],
	    (int16_t)atoi(PQgetvalue(res, row, COL_PRIORITY)));
	if (PQgetisnull(res, row, COL_RUN_AT_US))
		hd_wire_null(&batch->cols[RELAY_RUN_AT]);
	else {
		hd_wire_timestamptz(&batch->cols[RELAY_RUN_AT],
		    strtoll(PQgetvalue(res, row, COL_RUN_AT_US), NULL, 10));
		batch->later = true;
	}
	batch_text_or_null(&batch->cols[RELAY_EVENT_IDS],
	    value_or_null(res, row, COL_EVENT_ID));
	batch_text_or_null(&batch->cols[RELAY_EVENT_TYPES],
	    value_or_null(res, row, COL_EVENT_TYPE));

	name = PQgetvalue(res, row, COL_TASK);
	task = hd_config_task(config, name);
	queue = value_or_null(res, row, COL_QUEUE);
	if (queue == NULL && task == NULL)
		stats_name(stats->unknown_tasks, stats->unknown_counts,
		    &stats->nunknown_tasks, name);
	if (queue == NULL)
		queue = task != NULL ? task->queue : HERALD_DEFAULT_QUEUE;
	if (!PQgetisnull(res, row, COL_MAX_ATTEMPTS))
		max_attempts = atoi(PQgetvalue(res, row, COL_MAX_ATTEMPTS));
	else if (task != NULL)
		max_attempts = task->retry.max_attempts;
	else
		max_attempts = HERALD_DEFAULT_MAX_ATTEMPTS;
	batch_add_job(batch, row + 1, name, queue, max_attempts);
	batch_add_key(batch, res, row);
	stats->jobs++;
}

/* Expand the rows of res into batch; 0, or -1 when out of memory. */
static int
batch_build(struct relay_batch *batch, const PGresult *res,
    const struct hd_config *config, struct hd_outbox_stats *stats)
{
	size_t	njobs = 0;
	bool	keyed = false;
	int	c, i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		njobs += row_jobs(res, i, config);
		if (!PQgetisnull(res, i, COL_UNIQUE_KEY))
			keyed = true;
	}
	batch_begin(batch, (size_t)n, njobs, keyed);
	for (i = 0; i < n; i++) {
		hd_wire_int8(&batch->cols[RELAY_IDS],
		    strtoll(PQgetvalue(res, i, COL_ID), NULL, 10));
		if (strcmp(PQgetvalue(res, i, COL_KIND), "event") == 0)
			batch_add_event(batch, res, i, config, stats);
		else
			batch_add_explicit(batch, res, i, config, stats);
	}
	for (c = 0; c < RELAY_COLUMNS; c++)
		if (batch->cols[c].failed)
			return -1;
	return 0;
}

/*
 * Send the batch's jobs to the job database, which inserts and commits
 * them in one statement.  libpq copies the arrays into its buffer, so
 * the batch can be released once this returns.
 */
static int
batch_send(PGconn *job, const char *origin, const struct relay_batch *batch,
    const struct hd_outbox_stats *stats, struct herald_error *error)
{
	static const Oid	 types[RELAY_COLUMNS + 1] = {
		HD_OID_TEXT,
		[1 + RELAY_IDS] = HD_OID_INT8_ARRAY,
		[1 + RELAY_PAYLOADS] = HD_OID_JSONB_ARRAY,
		[1 + RELAY_PRIORITIES] = HD_OID_INT2_ARRAY,
		[1 + RELAY_RUN_AT] = HD_OID_TIMESTAMPTZ_ARRAY,
		[1 + RELAY_EVENT_IDS] = HD_OID_TEXT_ARRAY,
		[1 + RELAY_EVENT_TYPES] = HD_OID_TEXT_ARRAY,
		[1 + RELAY_ROWS] = HD_OID_INT4_ARRAY,
		[1 + RELAY_TASKS] = HD_OID_TEXT_ARRAY,
		[1 + RELAY_QUEUES] = HD_OID_TEXT_ARRAY,
		[1 + RELAY_MAX_ATTEMPTS] = HD_OID_INT4_ARRAY,
		[1 + RELAY_UNIQUE_KEYS] = HD_OID_TEXT_ARRAY,
		[1 + RELAY_UNIQUE_FOR_MS] = HD_OID_INT8_ARRAY,
		[1 + RELAY_UNIQUE_STATES] = HD_OID_TEXT_ARRAY,
	};
	const char		*values[RELAY_COLUMNS + 2];
	int			 lengths[RELAY_COLUMNS + 2];
	int			 formats[RELAY_COLUMNS + 2];
	Oid			 oids[RELAY_COLUMNS + 2];
	char			 dropped[24];
	int			 c, ncols;

	ncols = batch->keyed ? RELAY_COLUMNS : RELAY_PLAIN_COLUMNS;
	values[0] = origin;
	lengths[0] = 0;
	formats[0] = 0;
	oids[0] = types[0];
	for (c = 0; c < ncols; c++) {
		values[1 + c] = batch->cols[c].data;
		lengths[1 + c] = (int)batch->cols[c].len;
		formats[1 + c] = 1;
		oids[1 + c] = types[1 + c];
	}
	/* No row runs later: a NULL array saves the server reading one. */
	if (!batch->later)
		values[1 + RELAY_RUN_AT] = NULL;
	snprintf(dropped, sizeof dropped, "%" PRId64, stats->dropped);
	values[1 + ncols] = dropped;
	lengths[1 + ncols] = 0;
	formats[1 + ncols] = 0;
	oids[1 + ncols] = HD_OID_INT8;

	if (PQsendQueryParams(job, batch->keyed ? relay_arrays_unique_sql :
	    relay_arrays_sql, ncols + 2, oids, values, lengths, formats,
	    0) == 0) {
		hd_error_from_pg(error, job, NULL,
		    "could not insert relayed jobs");
		return -1;
	}
	return 0;
}

static void
rollback_quietly(PGconn *app)
{
	if (PQstatus(app) == CONNECTION_OK &&
	    PQtransactionStatus(app) != PQTRANS_IDLE)
		PQclear(PQexec(app, "ROLLBACK"));
}

int
hd_outbox_take_send(struct hd_outbox_take *take, PGconn *app, int limit,
    int64_t max_bytes, struct herald_error *error)
{
	char	sql[sizeof outbox_take_sql + 32];

	memset(take, 0, sizeof *take);
	if (limit < 1 || max_bytes < 1) {
		hd_error_set(error, HERALD_EINVAL,
		    "relay batch limits must be positive: %d rows, %" PRId64 " bytes",
		    limit, max_bytes);
		return -1;
	}
	snprintf(sql, sizeof sql, outbox_take_sql, limit, max_bytes);
	if (PQsendQuery(app, sql) == 0) {
		hd_error_from_pg(error, app, NULL, "could not read the outbox");
		return -1;
	}
	take->app = app;
	take->sent = true;
	return 0;
}

/*
 * Read the results of the take's statements.  The query string contains
 * several, so the rows come last, after the results of BEGIN and SET.
 * The server skips the statements after a failed one.  Return the failed
 * statement's result when there is one, as PQexec() does, or else the
 * last.
 */
static PGresult *
take_results(PGconn *app)
{
	PGresult	*res, *last = NULL;

	while ((res = PQgetResult(app)) != NULL) {
		if (last != NULL && !hd_db_ok(last)) {
			PQclear(res);
			continue;
		}
		PQclear(last);
		last = res;
	}
	return last;
}

int
hd_outbox_take_receive(struct hd_outbox_take *take,
    struct herald_error *error)
{
	take->sent = false;
	take->res = take_results(take->app);
	if (!hd_db_ok(take->res)) {
		hd_error_from_pg(error, take->app, take->res,
		    "could not read the outbox");
		hd_outbox_take_rollback(take);
		return -1;
	}
	if (PQntuples(take->res) == 0) {
		hd_outbox_take_rollback(take);
		return 0;
	}
	take->rows = PQntuples(take->res);
	take->more = strcmp(PQgetvalue(take->res, 0, COL_MORE), "t") == 0;
	return take->rows;
}

int
hd_outbox_take_insert_send(struct hd_outbox_take *take, PGconn *job,
    const struct hd_config *config, const char *origin,
    struct hd_outbox_stats *stats, struct herald_error *error)
{
	struct relay_batch	batch;
	int			rc = -1;

	memset(stats, 0, sizeof *stats);
	memset(&batch, 0, sizeof batch);
	if (batch_build(&batch, take->res, config, stats) == -1) {
		hd_error_set(error, HERALD_ENOMEM, "out of memory");
		goto out;
	}
	stats->rows = take->rows;
	stats->more = take->more;
	rc = batch_send(job, origin, &batch, stats, error);
out:
	batch_release(&batch);
	return rc;
}

int
hd_outbox_take_insert_receive(PGconn *job, struct hd_outbox_stats *stats,
    struct herald_error *error)
{
	PGresult	*res, *next;
	int64_t		 inserted;
	int		 rc = -1;

	res = PQgetResult(job);
	while ((next = PQgetResult(job)) != NULL)
		PQclear(next);
	if (!hd_db_ok(res) || PQntuples(res) != 1) {
		hd_error_from_pg(error, job, res,
		    "could not insert relayed jobs");
		goto out;
	}
	/* Copies of rows relayed before add no jobs, nor do held keys. */
	inserted = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	stats->skipped = stats->jobs > inserted ? stats->jobs - inserted : 0;
	stats->jobs = inserted;
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int
hd_outbox_take_insert(struct hd_outbox_take *take, PGconn *job,
    const struct hd_config *config, const char *origin,
    struct hd_outbox_stats *stats, struct herald_error *error)
{
	if (hd_outbox_take_insert_send(take, job, config, origin, stats,
	    error) == -1)
		return -1;
	return hd_outbox_take_insert_receive(job, stats, error);
}

int
hd_outbox_take_commit(struct hd_outbox_take *take,
    struct herald_error *error)
{
	int	rc;

	rc = hd_db_exec(take->app, "COMMIT", error);
	if (rc == -1)
		rollback_quietly(take->app);
	hd_outbox_take_clear(take);
	return rc;
}

void
hd_outbox_take_rollback(struct hd_outbox_take *take)
{
	if (take->app == NULL)
		return;
	if (take->sent)
		PQclear(take_results(take->app));
	rollback_quietly(take->app);
	hd_outbox_take_clear(take);
}

void
hd_outbox_take_clear(struct hd_outbox_take *take)
{
	PQclear(take->res);
	memset(take, 0, sizeof *take);
}

/*
 * Three round trips make a batch: taking it in the application database,
 * inserting its jobs in the job database (which commits), and the
 * application database's commit.  The relay process overlaps the first
 * of the next batch with the second of this one, on a second
 * application connection.
 */
int
hd_outbox_relay(PGconn *app, PGconn *job, const struct hd_config *config,
    const char *origin, int limit, int64_t max_bytes,
    enum hd_outbox_fault fault, struct hd_outbox_stats *stats,
    struct herald_error *error)
{
	struct hd_outbox_take	take;
	int			n;

	memset(stats, 0, sizeof *stats);
	if (hd_outbox_take_send(&take, app, limit, max_bytes, error) == -1)
		return -1;
	n = hd_outbox_take_receive(&take, error);
	if (n <= 0)
		return n;
	if (hd_outbox_take_insert(&take, job, config, origin, stats,
	    error) == -1) {
		hd_outbox_take_rollback(&take);
		return -1;
	}
	if (fault == HD_OUTBOX_FAULT_AFTER_JOB_COMMIT) {
		/* Leave the transaction open, as a crash would. */
		hd_outbox_take_clear(&take);
		return n;
	}
	if (hd_outbox_take_commit(&take, error) == -1)
		return -1;
	return n;
}

int
hd_outbox_report(PGconn *app, PGconn *job, const char *origin,
    struct herald_error *error)
{
	PGresult	*res, *up;
	const char	*params[4];
	int		 rc = -1;

	res = PQexec(app, "SELECT count(*), min(created_at), current_database()"
	    " FROM herald.outbox");
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, app, res,
		    "could not measure the outbox backlog");
		PQclear(res);
		return -1;
	}
	params[0] = origin;
	params[1] = PQgetvalue(res, 0, 2);
	params[2] = PQgetvalue(res, 0, 0);
	params[3] = value_or_null(res, 0, 1);

	up = PQexecParams(job,
	    "INSERT INTO herald.relay_status (origin, database, backlog,"
	    " oldest_at, updated_at) VALUES ($1, $2, $3, $4, now())"
	    " ON CONFLICT (origin) DO UPDATE SET database = excluded.database,"
	    " backlog = excluded.backlog, oldest_at = excluded.oldest_at,"
	    " updated_at = now()", 4, NULL, params, NULL, NULL, 0);
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
	del = PQexecParams(job, "WITH pruned AS (DELETE FROM"
	    " herald.relayed_batches WHERE origin = $1"
	    " AND relayed_at < now() - interval '1 hour'"
	    " AND ($2::bigint IS NULL OR last_id < $2::bigint)"
	    " RETURNING cardinality(outbox_ids) AS keys)"
	    " SELECT coalesce(sum(keys), 0) FROM pruned",
	    2, NULL, params, NULL, NULL, 0);
	if (!hd_db_ok(del)) {
		hd_error_from_pg(error, job, del,
		    "could not prune relayed origin keys");
		goto out;
	}
	pruned = strtoll(PQgetvalue(del, 0, 0), NULL, 10);
out:
	PQclear(del);
	PQclear(res);
	return pruned;
}
