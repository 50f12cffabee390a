/*
 * model.h: the console's queries and their last results.
 *
 * The model owns the one job database connection of the console and
 * drives it without blocking: requests wait in a short queue, one at a
 * time goes out with PQsendQueryParams, and hd_model_io() reads results
 * with PQconsumeInput and PQisBusy when poll() says the socket is ready.
 * Each query fills a snapshot, the PGresult of its last success, which
 * stays in place when the connection breaks; the model then reconnects
 * with PQconnectStartParams and PQconnectPoll, waiting longer after each
 * failed attempt, and the snapshots count as stale until a query
 * succeeds again.
 */

#ifndef HD_MODEL_H
#define HD_MODEL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "herald.h"
#include "store.h"

/* The queries.  Each fills the snapshot hd_query_snapshot() names. */
enum hd_query {
	HD_Q_QUEUES = 0,	/* $1 configured queue names, text[] */
	HD_Q_WORKERS,
	HD_Q_RETRIES,		/* $1 also scheduled jobs (bool), $2 limit */
	HD_Q_DEAD_AFTER,	/* dead page: filters $1-$3, id > $4, $5 limit */
	HD_Q_DEAD_BEFORE,	/* dead page: filters $1-$3, id < $4, $5 limit */
	HD_Q_DEAD_COUNT,	/* filters $1-$3, $4 first id on screen */
	HD_Q_RELAY,
	HD_Q_EVENT_RATES,
	HD_Q_DETAIL_DEAD,	/* $1 id */
	HD_Q_DETAIL_LIVE,	/* $1 id */
	HD_Q_QUEUE_HEALTH,
	HD_Q_DB_HEALTH,
	HD_Q_RETENTION,
	HD_Q_PERIODIC,
	HD_Q_FAILED,
	HD_Q_FAILED_CHILDREN,
	HD_Q_COUNT
};

enum hd_snapshot_kind {
	HD_SNAP_QUEUES = 0,
	HD_SNAP_WORKERS,
	HD_SNAP_RETRIES,
	HD_SNAP_DEAD_PAGE,
	HD_SNAP_DEAD_COUNT,
	HD_SNAP_RELAY,
	HD_SNAP_EVENT_RATES,
	HD_SNAP_DETAIL,
	HD_SNAP_QUEUE_HEALTH,
	HD_SNAP_DB_HEALTH,
	HD_SNAP_RETENTION,
	HD_SNAP_PERIODIC,
	HD_SNAP_FAILED,
	HD_SNAP_FAILED_CHILDREN,
	HD_SNAP_COUNT
};

/* Columns of each query's rows.  Durations are whole milliseconds. */
enum hd_queues_column {
	HD_QUEUES_NAME = 0, HD_QUEUES_READY, HD_QUEUES_SCHEDULED,
	HD_QUEUES_RUNNING, HD_QUEUES_RETRYING, HD_QUEUES_DEAD,
	HD_QUEUES_DONE_RATE, HD_QUEUES_FAIL_RATE, HD_QUEUES_OLDEST_MS,
	HD_QUEUES_PAUSED, HD_QUEUES_WORKERS
};

/* Each child that a heraldd stopped restarting, as herald status lists it. */
enum hd_failed_child_column {
	HD_FC_ROLE = 0, HD_FC_QUEUE, HD_FC_SLOT, HD_FC_FAILURES, HD_FC_HOST,
	HD_FC_SUPERVISOR, HD_FC_PID
};

enum hd_workers_column {
	HD_WORKERS_KIND = 0, HD_WORKERS_HOST, HD_WORKERS_PID,
	HD_WORKERS_QUEUE, HD_WORKERS_ID, HD_WORKERS_SUPERVISOR,
	HD_WORKERS_UP_MS, HD_WORKERS_HEARTBEAT_MS, HD_WORKERS_JOB_ID,
	HD_WORKERS_TASK, HD_WORKERS_RUNNING_MS, HD_WORKERS_ATTEMPT,
	HD_WORKERS_MAX_ATTEMPTS, HD_WORKERS_ACTIVE
};

enum hd_retries_column {
	HD_RETRIES_ID = 0, HD_RETRIES_TASK, HD_RETRIES_QUEUE,
	HD_RETRIES_ATTEMPT, HD_RETRIES_MAX_ATTEMPTS, HD_RETRIES_DUE_MS,
	HD_RETRIES_RUN_AT_S, HD_RETRIES_LAST, HD_RETRIES_TOTAL
};

enum hd_dead_column {
	HD_DEAD_ID = 0, HD_DEAD_TASK, HD_DEAD_QUEUE, HD_DEAD_ATTEMPT,
	HD_DEAD_MAX_ATTEMPTS, HD_DEAD_REASON, HD_DEAD_DIED_MS,
	HD_DEAD_OUTCOME, HD_DEAD_EXIT_CODE, HD_DEAD_SIGNAL
};

enum hd_dead_count_column {
	HD_DEAD_COUNT_TOTAL = 0, HD_DEAD_COUNT_BEFORE, HD_DEAD_COUNT_MAX_ID
};

enum hd_relay_column {
	HD_RELAY_ORIGIN = 0, HD_RELAY_DATABASE, HD_RELAY_BACKLOG,
	HD_RELAY_LAG_MS, HD_RELAY_RELAYED, HD_RELAY_DROPPED,
	HD_RELAY_UPDATED_MS
};

enum hd_rates_column {
	HD_RATES_TYPE = 0, HD_RATES_THIS_MINUTE, HD_RATES_LAST_MINUTE,
	HD_RATES_AVG_15, HD_RATES_HOUR, HD_RATES_WAITING
};

enum hd_detail_column {
	HD_DETAIL_ID = 0, HD_DETAIL_TASK, HD_DETAIL_QUEUE,
	HD_DETAIL_PRIORITY, HD_DETAIL_ATTEMPT, HD_DETAIL_MAX_ATTEMPTS,
	HD_DETAIL_STATE, HD_DETAIL_CREATED, HD_DETAIL_WHEN,
	HD_DETAIL_WHEN_MS, HD_DETAIL_EVENT_ID, HD_DETAIL_EVENT_TYPE,
	HD_DETAIL_PAYLOAD, HD_DETAIL_ERRORS
};

/* herald.queue_health() and herald.database_health(). */
enum hd_queue_health_column {
	HD_QH_QUEUE = 0, HD_QH_OLDEST_MS, HD_QH_RETRY_1M, HD_QH_RETRY_5M,
	HD_QH_RETRY_15M, HD_QH_EXPIRED_1H, HD_QH_DEAD_1H
};

enum hd_db_health_column {
	HD_DH_LIVE = 0, HD_DH_DEAD_TUPLES, HD_DH_AUTOVACUUM_MS,
	HD_DH_VACUUM_MS, HD_DH_OUTBOX_BACKLOG, HD_DH_RELAY_LAG_MS,
	HD_DH_RELAY_REPORT_MS, HD_DH_BLOCKER_KIND, HD_DH_BLOCKER_XMIN_AGE,
	HD_DH_BLOCKER_AGE_MS, HD_DH_BLOCKER_PID, HD_DH_BLOCKER_APPLICATION
};

/* The retention the active janitor applies; no row before it ran. */
enum hd_retention_column {
	HD_RETENTION_DEAD_MS = 0, HD_RETENTION_DEAD_ROWS,
	HD_RETENTION_COUNTERS_MS, HD_RETENTION_HOURLY_MS
};

struct hd_snapshot {
	PGresult	*res;		/* last good result, or NULL */
	int64_t		 fetched_ms;	/* monotonic time it arrived */
	int64_t		 tag;		/* the tag its request carried */
	enum hd_query	 query;
};

struct hd_model;

/* Called after a query's result became its snapshot. */
typedef void (*hd_fetch_done)(void *arg, const struct hd_snapshot *snap);

/* Called when an action ended: count, or -1 with error. */
typedef void (*hd_act_done)(void *arg, const struct hd_action *action,
    int64_t count, const struct herald_error *error);

/*
 * Take over conn, a connection opened with hd_db_connect() (NULL to
 * connect later), and reconnect with conninfo when it breaks.  setup_sql,
 * when not NULL, runs first on every connection, then a check of the job
 * schema.  A failed check, or a failed connection that waiting cannot
 * mend before a check passed, stops the model (hd_model_failure()).
 */
struct hd_model *hd_model_new(PGconn *conn, const char *conninfo,
	    const char *application_name, const char *setup_sql);
void	hd_model_free(struct hd_model *model);

/*
 * Queue query with nparams text values (copied), replacing a queued
 * request for the same snapshot.  done, when not NULL, runs with arg
 * after the snapshot is stored.
 */
void	hd_model_fetch(struct hd_model *model, enum hd_query query,
	    int nparams, const char *const *values, int64_t tag,
	    hd_fetch_done done, void *arg);

/*
 * Send an action, allocated with malloc and prepared with hd_action_*(),
 * before every queued fetch; the model takes it over.  Return -1,
 * freeing it, when not connected.
 */
int	hd_model_act(struct hd_model *model, struct hd_action *action,
	    hd_act_done done, void *arg);

/* True while a request is out or queued. */
bool	hd_model_busy(const struct hd_model *model);

/* True while an action is out or queued. */
bool	hd_model_acting(const struct hd_model *model);

/* Forget a snapshot, such as the detail of the job last opened. */
void	hd_model_drop(struct hd_model *model, enum hd_snapshot_kind kind);

const struct hd_snapshot *hd_model_snapshot(const struct hd_model *model,
	    enum hd_snapshot_kind kind);

/*
 * Fill pfd with the socket and the events to wait for (fd -1 when
 * none), and lower *timeout_ms to the next reconnect attempt.
 */
void	hd_model_pollfd(struct hd_model *model, struct pollfd *pfd,
	    int64_t now_ms, int64_t *timeout_ms);

/* Do what is due: read results, send the next request, reconnect. */
void	hd_model_io(struct hd_model *model, short revents, int64_t now_ms);

/* The connection's state for the status line. */
bool	hd_model_connected(const struct hd_model *model);
/*
 * Monotonic time the connection broke; 0 once a query succeeded after
 * it, so the snapshots are stale while this is not 0.
 */
int64_t	hd_model_down_since(const struct hd_model *model);
/* Monotonic time of the next reconnect attempt; 0 when none waits. */
int64_t	hd_model_retry_at(const struct hd_model *model);
/* The last failure's message, or "" after a success. */
const char *hd_model_error(const struct hd_model *model);
/* "dbname on host" of the connection, as libpq reports it. */
const char *hd_model_target(const struct hd_model *model);
/*
 * The failure that stopped the model: HERALD_ECONNECT for a connection,
 * another code for a schema check.  NULL while the model runs.
 */
const struct herald_error *hd_model_failure(const struct hd_model *model);
/* Monotonic time the request now out was sent; 0 when none is out. */
int64_t	hd_model_sent_at(const struct hd_model *model);
/*
 * Whether the role may not read payloads and output tails, so the
 * queries read the redacted views: payload columns are NULL there.
 */
bool	hd_model_redacted(const struct hd_model *model);

#endif /* HD_MODEL_H */
