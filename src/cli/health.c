/*
 * health.c: the queue-health signals of herald status and herald
 * metrics, read with herald.queue_health(), herald.database_health() and
 * HD_SQL_TABLE_HEALTH, the vacuum statistics of herald.jobs and
 * herald.inbox.
 *
 * The SQL functions define each signal once, for the console too; this
 * file only formats them.  doc/operations.md says what each one means and
 * where to start alerting.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "table_sql.h"
#include "util.h"

/* Columns of herald.queue_health(). */
enum {
	QH_QUEUE = 0, QH_OLDEST_MS, QH_RETRY_1M, QH_RETRY_5M, QH_RETRY_15M,
	QH_EXPIRED_1H, QH_DEAD_1H
};

/* Columns of herald.database_health(). */
enum {
	DH_LIVE = 0, DH_DEAD_TUPLES, DH_AUTOVACUUM_MS, DH_VACUUM_MS,
	DH_OUTBOX_BACKLOG, DH_RELAY_LAG_MS, DH_RELAY_REPORT_MS,
	DH_BLOCKER_KIND, DH_BLOCKER_XMIN_AGE, DH_BLOCKER_AGE_MS,
	DH_BLOCKER_PID, DH_BLOCKER_APPLICATION
};

static const char queue_health_sql[] =
    "SELECT * FROM herald.queue_health()";
static const char database_health_sql[] =
    "SELECT * FROM herald.database_health()";
static const char table_health_sql[] = HD_SQL_TABLE_HEALTH;

int
hd_health_fetch(PGconn *conn, struct hd_health *health,
    struct herald_error *error)
{
	memset(health, 0, sizeof *health);
	health->queues = PQexec(conn, queue_health_sql);
	if (!hd_db_ok(health->queues)) {
		hd_error_from_pg(error, conn, health->queues,
		    "could not read queue health");
		hd_health_release(health);
		return -1;
	}
	health->database = PQexec(conn, database_health_sql);
	if (!hd_db_ok(health->database) || PQntuples(health->database) != 1) {
		hd_error_from_pg(error, conn, health->database,
		    "could not read database health");
		hd_health_release(health);
		return -1;
	}
	health->tables = PQexec(conn, table_health_sql);
	if (!hd_db_ok(health->tables)) {
		hd_error_from_pg(error, conn, health->tables,
		    "could not read the statistics of the job tables");
		hd_health_release(health);
		return -1;
	}
	return 0;
}

void
hd_health_release(struct hd_health *health)
{
	PQclear(health->queues);
	PQclear(health->database);
	PQclear(health->tables);
	health->queues = NULL;
	health->database = NULL;
	health->tables = NULL;
}

static bool
is_null(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col);
}

static long long
value_ll(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Format a duration in ms, or "-" when the column is NULL. */
static void
format_ms(const PGresult *res, int row, int col, char *buf, size_t size)
{
	if (PQgetisnull(res, row, col))
		snprintf(buf, size, "-");
	else
		hd_format_duration(value_ll(res, row, col), buf, size);
}

/*
 * Print what holds back vacuum, or that nothing does.  A transaction
 * open for less than HD_VACUUM_BLOCKER_MIN_MS is not named.
 */
static void
print_blocker(const PGresult *db)
{
	char	age[32];

	if (is_null(db, DH_BLOCKER_KIND) ||
	    (strcmp(PQgetvalue(db, 0, DH_BLOCKER_KIND), "transaction") == 0 &&
	    !is_null(db, DH_BLOCKER_AGE_MS) &&
	    value_ll(db, 0, DH_BLOCKER_AGE_MS) < HD_VACUUM_BLOCKER_MIN_MS)) {
		printf("vacuum: no transaction open for %ds or more holds it "
		    "back\n", HD_VACUUM_BLOCKER_MIN_MS / 1000);
		return;
	}
	format_ms(db, 0, DH_BLOCKER_AGE_MS, age, sizeof age);
	printf("vacuum: held back by a %s", PQgetvalue(db, 0,
	    DH_BLOCKER_KIND));
	if (!is_null(db, DH_BLOCKER_PID))
		printf(", pid %s", PQgetvalue(db, 0, DH_BLOCKER_PID));
	if (!is_null(db, DH_BLOCKER_APPLICATION))
		printf(" (%s)", PQgetvalue(db, 0, DH_BLOCKER_APPLICATION));
	if (!is_null(db, DH_BLOCKER_AGE_MS))
		printf(", open %s", age);
	printf(", xmin age %s %s\n", PQgetvalue(db, 0, DH_BLOCKER_XMIN_AGE),
	    hd_cli_plural(PQgetvalue(db, 0, DH_BLOCKER_XMIN_AGE),
	    "transaction", "transactions"));
	if (is_null(db, DH_BLOCKER_PID) &&
	    strcmp(PQgetvalue(db, 0, DH_BLOCKER_KIND), "transaction") == 0)
		printf("        (this role may not see its pid: ask a member "
		    "of pg_read_all_stats)\n");
}

/* Print the last vacuum of row of tables: by autovacuum or by VACUUM. */
static void
print_last_vacuum(const PGresult *tables, int row)
{
	bool	auto_never, manual_never;
	char	age[32];

	auto_never = PQgetisnull(tables, row, HD_TH_AUTOVACUUM_MS);
	manual_never = PQgetisnull(tables, row, HD_TH_VACUUM_MS);
	if (auto_never && manual_never) {
		printf("never vacuumed");
		return;
	}
	if (manual_never || (!auto_never &&
	    value_ll(tables, row, HD_TH_AUTOVACUUM_MS) <=
	    value_ll(tables, row, HD_TH_VACUUM_MS))) {
		format_ms(tables, row, HD_TH_AUTOVACUUM_MS, age, sizeof age);
		printf("last autovacuum %s ago", age);
		return;
	}
	format_ms(tables, row, HD_TH_VACUUM_MS, age, sizeof age);
	printf("last VACUUM %s ago", age);
}

/*
 * Print a line of tuples and the last vacuum per job table, then a
 * warning for each table whose dead tuples autovacuum cannot remove.
 */
static void
print_tables(const PGresult *tables)
{
	const char	*name;
	int		 row;

	for (row = 0; row < PQntuples(tables); row++) {
		name = PQgetvalue(tables, row, HD_TH_TABLE);
		printf("%-14s %s %s, %s live; ",
		    strcmp(name, "jobs") == 0 ? "herald.jobs:" : "herald.inbox:",
		    PQgetvalue(tables, row, HD_TH_DEAD),
		    hd_cli_plural(PQgetvalue(tables, row, HD_TH_DEAD),
		    "dead tuple", "dead tuples"),
		    PQgetvalue(tables, row, HD_TH_LIVE));
		print_last_vacuum(tables, row);
		printf("\n");
	}
	for (row = 0; row < PQntuples(tables); row++)
		if (!PQgetisnull(tables, row, HD_TH_AUTOVACUUM_OFF))
			printf("warning: autovacuum is off for herald.%s (%s),\n"
			    "         so its dead tuples stay until VACUUM "
			    "herald.%s runs\n",
			    PQgetvalue(tables, row, HD_TH_TABLE),
			    PQgetvalue(tables, row, HD_TH_AUTOVACUUM_OFF),
			    PQgetvalue(tables, row, HD_TH_TABLE));
}

void
hd_health_print(const struct hd_health *health)
{
	static const char	*headers[] = {
		"queue", "oldest", "retry<1m", "<5m", "<15m",
		"expired/1h", "dead/1h"
	};
	const PGresult		*q = health->queues, *db = health->database;
	struct hd_table		 table;
	char			 oldest[32];
	int			 row;

	printf("\n");
	if (PQntuples(q) > 0) {
		hd_table_init(&table, 7, headers, "lrrrrrr");
		for (row = 0; row < PQntuples(q); row++) {
			format_ms(q, row, QH_OLDEST_MS, oldest, sizeof oldest);
			hd_table_cell(&table, "%s", PQgetvalue(q, row,
			    QH_QUEUE));
			hd_table_cell(&table, "%s", oldest);
			hd_table_cell(&table, "%s", PQgetvalue(q, row,
			    QH_RETRY_1M));
			hd_table_cell(&table, "%s", PQgetvalue(q, row,
			    QH_RETRY_5M));
			hd_table_cell(&table, "%s", PQgetvalue(q, row,
			    QH_RETRY_15M));
			hd_table_cell(&table, "%s", PQgetvalue(q, row,
			    QH_EXPIRED_1H));
			hd_table_cell(&table, "%s", PQgetvalue(q, row,
			    QH_DEAD_1H));
		}
		hd_table_print(&table, stdout);
		hd_table_release(&table);
	}

	/* The outbox backlog is in the relay table above. */
	print_tables(health->tables);
	print_blocker(db);
}

/* A column of the one row of db as JSON: an integer, a string or null. */
static json_t *
db_int(const PGresult *db, int col)
{
	return hd_cli_json_int(db, 0, col);
}

/*
 * Add the keys of each job table to root: jobs_live_tuples,
 * inbox_live_tuples and so on.
 */
static void
tables_json(json_t *root, const PGresult *tables)
{
	static const struct {
		int		 col;
		const char	*suffix;
	} keys[] = {
		{ HD_TH_LIVE, "live_tuples" },
		{ HD_TH_DEAD, "dead_tuples" },
		{ HD_TH_AUTOVACUUM_MS, "last_autovacuum_ms_ago" },
		{ HD_TH_VACUUM_MS, "last_vacuum_ms_ago" },
	};
	char	key[64];
	int	row;
	size_t	i;

	for (row = 0; row < PQntuples(tables); row++) {
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			snprintf(key, sizeof key, "%s_%s",
			    PQgetvalue(tables, row, HD_TH_TABLE),
			    keys[i].suffix);
			json_object_set_new(root, key,
			    hd_cli_json_int(tables, row, keys[i].col));
		}
		snprintf(key, sizeof key, "%s_autovacuum_off",
		    PQgetvalue(tables, row, HD_TH_TABLE));
		json_object_set_new(root, key, hd_cli_json_text(tables, row,
		    HD_TH_AUTOVACUUM_OFF));
	}
}

json_t *
hd_health_json(const struct hd_health *health)
{
	static const char *const	 keys[] = {
		"queue", "oldest_ready_ms", "retry_due_1m", "retry_due_5m",
		"retry_due_15m", "leases_expired_1h", "dead_1h"
	};
	const PGresult			*q = health->queues;
	const PGresult			*db = health->database;
	json_t				*root, *queues, *item, *blocker;
	int				 row, col;

	queues = json_array();
	for (row = 0; row < PQntuples(q); row++) {
		item = json_object();
		json_object_set_new(item, keys[0], hd_cli_json_text(q, row, 0));
		for (col = 1; col <= QH_DEAD_1H; col++)
			json_object_set_new(item, keys[col],
			    hd_cli_json_int(q, row, col));
		json_array_append_new(queues, item);
	}

	root = json_object();
	json_object_set_new(root, "queues", queues);
	tables_json(root, health->tables);
	json_object_set_new(root, "outbox_backlog",
	    db_int(db, DH_OUTBOX_BACKLOG));
	json_object_set_new(root, "relay_lag_ms", db_int(db, DH_RELAY_LAG_MS));
	if (is_null(db, DH_BLOCKER_KIND))
		blocker = json_null();
	else {
		blocker = json_object();
		json_object_set_new(blocker, "kind",
		    hd_cli_json_text(db, 0, DH_BLOCKER_KIND));
		json_object_set_new(blocker, "xmin_age",
		    db_int(db, DH_BLOCKER_XMIN_AGE));
		json_object_set_new(blocker, "age_ms",
		    db_int(db, DH_BLOCKER_AGE_MS));
		json_object_set_new(blocker, "pid", db_int(db, DH_BLOCKER_PID));
		json_object_set_new(blocker, "application",
		    hd_cli_json_text(db, 0, DH_BLOCKER_APPLICATION));
	}
	json_object_set_new(root, "vacuum_blocker", blocker);
	return root;
}

static void
metric_family(const char *name, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* Print a sample of a queue; queue names need no escaping. */
static void
metric_queue(const char *name, const char *queue, const char *extra,
    const char *value)
{
	printf("%s{queue=\"%s\"%s} %s\n", name, queue, extra, value);
}

/* Print milliseconds as seconds, the unit of every *_seconds metric. */
static void
metric_seconds(const char *name, const PGresult *res, int row, int col)
{
	printf("%s %.3f\n", name, PQgetisnull(res, row, col) ? 0.0 :
	    (double)value_ll(res, row, col) / 1000.0);
}

/*
 * Print the families of one job table, herald_jobs_table_* or
 * herald_inbox_table_*.
 */
static void
table_metrics(const PGresult *tables, int row)
{
	const char	*table = PQgetvalue(tables, row, HD_TH_TABLE);
	char		 name[64], help[160];

	snprintf(name, sizeof name, "herald_%s_table_live_tuples", table);
	snprintf(help, sizeof help, "Live tuples in herald.%s, as "
	    "PostgreSQL's statistics last counted them.", table);
	metric_family(name, help);
	printf("%s %s\n", name, PQgetvalue(tables, row, HD_TH_LIVE));

	snprintf(name, sizeof name, "herald_%s_table_dead_tuples", table);
	snprintf(help, sizeof help, "Dead tuples in herald.%s, as "
	    "PostgreSQL's statistics last counted them.", table);
	metric_family(name, help);
	printf("%s %s\n", name, PQgetvalue(tables, row, HD_TH_DEAD));

	snprintf(name, sizeof name, "herald_%s_table_autovacuum_age_seconds",
	    table);
	snprintf(help, sizeof help, "Seconds since autovacuum last processed "
	    "herald.%s; absent when it never did.", table);
	metric_family(name, help);
	if (!PQgetisnull(tables, row, HD_TH_AUTOVACUUM_MS))
		metric_seconds(name, tables, row, HD_TH_AUTOVACUUM_MS);

	snprintf(name, sizeof name, "herald_%s_table_vacuum_age_seconds",
	    table);
	snprintf(help, sizeof help, "Seconds since a manual VACUUM last "
	    "processed herald.%s; absent when none did.", table);
	metric_family(name, help);
	if (!PQgetisnull(tables, row, HD_TH_VACUUM_MS))
		metric_seconds(name, tables, row, HD_TH_VACUUM_MS);

	snprintf(name, sizeof name, "herald_%s_table_autovacuum_enabled",
	    table);
	snprintf(help, sizeof help, "1 when autovacuum may remove the dead "
	    "tuples of herald.%s; 0 when a setting turns it off.", table);
	metric_family(name, help);
	printf("%s %d\n", name, PQgetisnull(tables, row,
	    HD_TH_AUTOVACUUM_OFF) ? 1 : 0);
}

/* Return whether res, rows of health's queues, has a row of queue. */
static bool
health_has_queue(const PGresult *res, const char *queue)
{
	int	row;

	for (row = 0; row < PQntuples(res); row++)
		if (strcmp(PQgetvalue(res, row, QH_QUEUE), queue) == 0)
			return true;
	return false;
}

/*
 * Print a zero of family name for each queue of config that has no row
 * in res, so that every configured queue has its series.
 */
static void
metric_queue_zeros(const char *name, const char *extra,
    const struct hd_config *config, const PGresult *res)
{
	size_t	i;

	for (i = 0; config != NULL && i < config->nqueues; i++)
		if (!health_has_queue(res, config->queues[i].name))
			metric_queue(name, config->queues[i].name, extra, "0");
}

void
hd_health_metrics(const struct hd_health *health,
    const struct hd_config *config)
{
	static const struct {
		int		 col;
		const char	*within;
	} wall[] = {
		{ QH_RETRY_1M, "60" }, { QH_RETRY_5M, "300" },
		{ QH_RETRY_15M, "900" }
	};
	const PGresult	*q = health->queues, *db = health->database;
	char		 extra[32];
	int		 row, i;

	metric_family("herald_queue_retry_due_jobs", "Jobs waiting to retry "
	    "that are due within the given seconds (the retry wall).");
	for (i = 0; i < 3; i++) {
		snprintf(extra, sizeof extra, ",within_seconds=\"%s\"",
		    wall[i].within);
		for (row = 0; row < PQntuples(q); row++)
			metric_queue("herald_queue_retry_due_jobs",
			    PQgetvalue(q, row, QH_QUEUE), extra,
			    PQgetvalue(q, row, wall[i].col));
		metric_queue_zeros("herald_queue_retry_due_jobs", extra,
		    config, q);
	}
	metric_family("herald_queue_leases_expired_last_hour", "Leases that "
	    "expired in the last hour: jobs whose worker was lost.");
	for (row = 0; row < PQntuples(q); row++)
		metric_queue("herald_queue_leases_expired_last_hour",
		    PQgetvalue(q, row, QH_QUEUE), "",
		    PQgetvalue(q, row, QH_EXPIRED_1H));
	metric_queue_zeros("herald_queue_leases_expired_last_hour", "",
	    config, q);
	metric_family("herald_queue_dead_last_hour", "Jobs that died in the "
	    "last hour.");
	for (row = 0; row < PQntuples(q); row++)
		metric_queue("herald_queue_dead_last_hour",
		    PQgetvalue(q, row, QH_QUEUE), "",
		    PQgetvalue(q, row, QH_DEAD_1H));
	metric_queue_zeros("herald_queue_dead_last_hour", "", config, q);

	for (row = 0; row < PQntuples(health->tables); row++)
		table_metrics(health->tables, row);
	metric_family("herald_vacuum_blocker_age_seconds", "Age of the "
	    "oldest transaction holding back vacuum on the job database; 0 "
	    "when none.");
	metric_seconds("herald_vacuum_blocker_age_seconds", db, 0,
	    DH_BLOCKER_AGE_MS);
	metric_family("herald_vacuum_blocker_xmin_age", "Transactions "
	    "between the oldest xmin that holds back vacuum and now; 0 when "
	    "none.");
	printf("herald_vacuum_blocker_xmin_age %s\n", is_null(db,
	    DH_BLOCKER_XMIN_AGE) ? "0" : PQgetvalue(db, 0,
	    DH_BLOCKER_XMIN_AGE));
}
