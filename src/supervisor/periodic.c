/*
 * periodic.c: the periodic jobs of the active janitor.
 *
 * The janitor's clock only decides when to look: due_s keeps each entry
 * from costing a query until its next slot, by the slot the last look
 * computed.  Whether a slot is due, and which, is decided in the
 * transaction by the database's clock.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "periodic.h"
#include "util.h"

/* How long an entry without any future slot waits before a new look. */
#define PERIODIC_IDLE_S		3600

void
hd_periodic_init(struct hd_periodic *periodic, const struct hd_config *config)
{
	memset(periodic, 0, sizeof *periodic);
	periodic->config = config;
	if (config->nperiodic > 0)
		periodic->due_s = hd_xcalloc(config->nperiodic,
		    sizeof *periodic->due_s);
}

void
hd_periodic_release(struct hd_periodic *periodic)
{
	free(periodic->due_s);
	periodic->due_s = NULL;
}

void
hd_periodic_reset(struct hd_periodic *periodic)
{
	size_t	i;

	periodic->synced = false;
	for (i = 0; i < periodic->config->nperiodic; i++)
		periodic->due_s[i] = 0;
}

/* Run sql with params, expecting rows or a command; NULL on failure. */
static PGresult *
periodic_query(PGconn *conn, const char *what, const char *sql, int n,
    const char *const *values, struct herald_error *error)
{
	PGresult	*res;

	res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
	if (hd_db_ok(res))
		return res;
	hd_error_from_pg(error, conn, res, what);
	PQclear(res);
	return NULL;
}

/*
 * Log msg for each row (name, host) of res whose host is not this one,
 * since the hosts' files then disagree about periodic entries.
 */
static void
periodic_warn_replaced(const PGresult *res, const char *host,
    const char *msg)
{
	int	i;

	for (i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 1) &&
		    strcmp(PQgetvalue(res, i, 1), host) != 0)
			hd_log_warn(msg, "periodic=%s previous_host=%s "
			    "hint=\"give every host the same periodic "
			    "entries\"", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1));
}

/*
 * Write every entry's definition into herald.periodic and delete the
 * rows of entries the configuration no longer has.  The rows of the
 * active janitor's configuration are the ones that count.
 */
static int
periodic_sync(struct hd_periodic *periodic, PGconn *conn,
    struct herald_error *error)
{
	const struct hd_config		*config = periodic->config;
	const struct hd_periodic_config	*p;
	const struct hd_task_config	*task;
	const char			*values[7];
	char				*names, host[256];
	size_t				 i, len = 2;
	PGresult			*res;

	hd_hostname(host, sizeof host);

	for (i = 0; i < config->nperiodic; i++)
		len += strlen(config->periodic[i].name) + 1;
	names = hd_xmalloc(len + 1);
	strcpy(names, "{");
	for (i = 0; i < config->nperiodic; i++) {
		p = &config->periodic[i];
		task = hd_config_task(config, p->task);
		values[0] = p->name;
		values[1] = p->schedule;
		values[2] = p->timezone;
		values[3] = p->task;
		values[4] = task != NULL ? task->queue : HERALD_DEFAULT_QUEUE;
		values[5] = p->catch_up_latest ? "latest" : "none";
		values[6] = host;
		/*
		 * The CTE reads the row as it was before the statement.  A
		 * new schedule counts its slots from now, so that none it
		 * would have had before the change runs as missed.
		 */
		res = periodic_query(conn, "could not store periodic entry",
		    "WITH old AS (SELECT o.stored_by FROM herald.periodic o"
		    " WHERE o.name = $1)"
		    " INSERT INTO herald.periodic AS p"
		    " (name, schedule, timezone, task, queue, catch_up,"
		    " stored_by)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
		    " ON CONFLICT (name) DO UPDATE"
		    " SET schedule = excluded.schedule,"
		    " timezone = excluded.timezone, task = excluded.task,"
		    " queue = excluded.queue, catch_up = excluded.catch_up,"
		    " stored_by = excluded.stored_by,"
		    " since = CASE WHEN (p.schedule, p.timezone)"
		    " IS DISTINCT FROM (excluded.schedule, excluded.timezone)"
		    " THEN now() ELSE p.since END,"
		    " next_slot = NULL, updated_at = now()"
		    " WHERE (p.schedule, p.timezone, p.task, p.queue, p.catch_up)"
		    " IS DISTINCT FROM (excluded.schedule, excluded.timezone,"
		    " excluded.task, excluded.queue, excluded.catch_up)"
		    " RETURNING p.name, (SELECT stored_by FROM old)",
		    7, values, error);
		if (res == NULL) {
			free(names);
			return -1;
		}
		periodic_warn_replaced(res, host, "periodic entry replaced");
		PQclear(res);
		/* Entry names are configuration names: no quoting needed. */
		strcat(names, i > 0 ? "," : "");
		strcat(names, p->name);
	}
	strcat(names, "}");
	values[0] = names;
	res = periodic_query(conn, "could not delete periodic entries",
	    "DELETE FROM herald.periodic WHERE name <> ALL ($1::text[])"
	    " RETURNING name, stored_by", 1, values, error);
	free(names);
	if (res == NULL)
		return -1;
	periodic_warn_replaced(res, host, "periodic entry removed");
	PQclear(res);
	periodic->synced = true;
	return 0;
}

/* The state of one entry's row, read under its lock. */
struct periodic_row {
	int64_t	now_s;
	int64_t	after_s;	/* slots after this count */
	int64_t	next_s;		/* the stored next_slot, or -1 */
};

/* Lock the row of p and read it; 1, 0 when it is missing, or -1. */
static int
periodic_lock(PGconn *conn, const struct hd_periodic_config *p,
    struct periodic_row *row, struct herald_error *error)
{
	const char	*values[1] = { p->name };
	PGresult	*res;

	res = periodic_query(conn, "could not read periodic entry",
	    "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint,"
	    " floor(extract(epoch FROM greatest(since, last_slot)))::bigint,"
	    " floor(extract(epoch FROM next_slot))::bigint"
	    " FROM herald.periodic WHERE name = $1 FOR UPDATE", 1, values,
	    error);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return 0;
	}
	row->now_s = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	row->after_s = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	row->next_s = PQgetisnull(res, 0, 2) ? -1 :
	    strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return 1;
}

/* Enqueue the job of slot_s of p; return its id, or -1. */
static int64_t
periodic_enqueue(PGconn *conn, const struct hd_config *config,
    const struct hd_periodic_config *p, int64_t slot_s,
    struct herald_error *error)
{
	const struct hd_task_config	*task = hd_config_task(config, p->task);
	const char			*values[6];
	char				 key[128], priority[16], attempts[16];
	PGresult			*res;
	int64_t				 id;

	snprintf(key, sizeof key, "periodic:%s:%" PRId64, p->name, slot_s);
	snprintf(priority, sizeof priority, "%d", p->priority);
	snprintf(attempts, sizeof attempts, "%d", task != NULL ?
	    task->retry.max_attempts : HERALD_DEFAULT_MAX_ATTEMPTS);
	values[0] = p->task;
	values[1] = task != NULL ? task->queue : HERALD_DEFAULT_QUEUE;
	values[2] = p->payload;
	values[3] = priority;
	values[4] = attempts;
	values[5] = key;
	res = periodic_query(conn, "could not enqueue periodic job",
	    "SELECT herald.enqueue_unique($1, $2, $3::jsonb, $4, NULL, $5,"
	    " NULL, NULL, $6)", 6, values, error);
	if (res == NULL)
		return -1;
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return id;
}

/* Record slot_s (or, with slot_s -1, only next_s) in the row of p. */
static int
periodic_record(PGconn *conn, const struct hd_periodic_config *p,
    int64_t slot_s, int64_t job_id, int64_t next_s,
    struct herald_error *error)
{
	const char	*values[4];
	char		 slot[32], job[32], next[32];
	PGresult	*res;

	snprintf(slot, sizeof slot, "%" PRId64, slot_s);
	snprintf(job, sizeof job, "%" PRId64, job_id);
	snprintf(next, sizeof next, "%" PRId64, next_s);
	values[0] = p->name;
	values[1] = slot_s != -1 ? slot : NULL;
	values[2] = job_id != -1 ? job : NULL;
	values[3] = next_s != -1 ? next : NULL;
	res = periodic_query(conn, "could not record periodic slot",
	    "UPDATE herald.periodic"
	    " SET last_slot = coalesce(to_timestamp($2::bigint), last_slot),"
	    " last_job_id = CASE WHEN $2 IS NULL THEN last_job_id"
	    " ELSE $3::bigint END,"
	    " last_enqueued = CASE WHEN $2 IS NULL THEN last_enqueued"
	    " ELSE $3 IS NOT NULL END,"
	    " next_slot = to_timestamp($4::bigint), updated_at = now()"
	    " WHERE name = $1", 4, values, error);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Handle entry i in its own transaction; return 1 when a job was
 * enqueued, 0, or -1.
 */
static int
periodic_entry(struct hd_periodic *periodic, PGconn *conn, size_t i,
    struct herald_error *error)
{
	const struct hd_periodic_config	*p = &periodic->config->periodic[i];
	struct periodic_row		 row;
	int64_t				 slot, next, job_id = -1;
	int				 r;

	if (hd_db_exec(conn, "BEGIN", error) == -1)
		return -1;
	if ((r = periodic_lock(conn, p, &row, error)) == -1)
		goto fail;
	if (r == 0) {
		/* Deleted by a janitor with another configuration. */
		(void)hd_db_exec(conn, "ROLLBACK", NULL);
		periodic->synced = false;
		return 0;
	}
	slot = hd_cron_latest(&p->cron, p->timezone, row.after_s, row.now_s);
	next = hd_cron_next(&p->cron, p->timezone, row.now_s);
	if (slot != -1 && (p->catch_up_latest ||
	    row.now_s - slot <= HD_PERIODIC_LATE_S) &&
	    (job_id = periodic_enqueue(conn, periodic->config, p, slot,
	    error)) == -1)
		goto fail;
	if ((slot != -1 || next != row.next_s) &&
	    periodic_record(conn, p, slot, job_id, next, error) == -1)
		goto fail;
	if (hd_db_exec(conn, "COMMIT", error) == -1)
		return -1;

	/* The local clock may differ: look again at the slot, by ours. */
	periodic->due_s[i] = next != -1 ?
	    (int64_t)time(NULL) + (next - row.now_s) :
	    (int64_t)time(NULL) + PERIODIC_IDLE_S;
	if (job_id != -1)
		hd_log_info("periodic job enqueued", "periodic=%s task=%s "
		    "job_id=%lld slot=%lld late_s=%lld", p->name, p->task,
		    (long long)job_id, (long long)slot,
		    (long long)(row.now_s - slot));
	else if (slot != -1)
		hd_log_warn("periodic slot missed", "periodic=%s task=%s "
		    "slot=%lld late_s=%lld catch_up=none", p->name, p->task,
		    (long long)slot, (long long)(row.now_s - slot));
	return job_id != -1;

fail:
	(void)hd_db_exec(conn, "ROLLBACK", NULL);
	return -1;
}

int
hd_periodic_run(struct hd_periodic *periodic, PGconn *conn,
    struct herald_error *error)
{
	int64_t	now = (int64_t)time(NULL);
	size_t	i;
	int	n = 0, r;

	if (!periodic->synced) {
		if (periodic_sync(periodic, conn, error) == -1)
			return -1;
		for (i = 0; i < periodic->config->nperiodic; i++)
			periodic->due_s[i] = 0;
	}
	for (i = 0; i < periodic->config->nperiodic; i++) {
		if (now < periodic->due_s[i])
			continue;
		if ((r = periodic_entry(periodic, conn, i, error)) == -1)
			return -1;
		n += r;
	}
	return n;
}
