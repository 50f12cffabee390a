/*
 * migrate.c: apply the compiled-in migrations of the job and application
 * databases.
 *
 * Each step is one transaction that takes a fixed advisory lock, reads the
 * applied version and applies the next migration, so concurrent runs queue
 * behind the lock and the second finds the version already applied.  The
 * first step also creates schema herald and the version table.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db.h"
#include "migrate.h"

/* Advisory lock key of migrations: "HERLMIGR" in ASCII. */
#define MIGRATE_LOCK_KEY	"5207653316236478290"

struct migrate_schema {
	const char			*label;	/* for messages */
	const char			*table;
	const char			*command;	/* that migrates it */
	const char			*kind;	/* "job" or "application" */
	/* The version table and the kind of the other schema. */
	const char			*other_table;
	const char			*other_kind;
	const struct hd_migration	*migrations;
	int				 count;
};

static void
migrate_schema_get(enum hd_schema schema, struct migrate_schema *ms)
{
	if (schema == HD_SCHEMA_APP) {
		ms->label = "application database";
		ms->table = "herald.app_migrations";
		ms->command = "herald migrate --app";
		ms->kind = "application";
		ms->other_table = "herald.migrations";
		ms->other_kind = "job";
		ms->migrations = hd_app_migrations;
		ms->count = hd_app_migrations_count;
	} else {
		ms->label = "job database";
		ms->table = "herald.migrations";
		ms->command = "herald migrate";
		ms->kind = "job";
		ms->other_table = "herald.app_migrations";
		ms->other_kind = "application";
		ms->migrations = hd_job_migrations;
		ms->count = hd_job_migrations_count;
	}
}

/* The newest version compiled in, 0 when there is none. */
static int
migrate_newest(const struct migrate_schema *ms)
{
	return ms->count > 0 ? ms->migrations[ms->count - 1].version : 0;
}

static void
migrate_error_newer(const struct migrate_schema *ms, int version,
    struct herald_error *error)
{
	hd_error_set(error, HERALD_ESCHEMA,
	    "%s schema is at version %d, newer than this herald (version %d); upgrade herald",
	    ms->label, version, migrate_newest(ms));
}

/* Read the applied version from an existing version table. */
static int
migrate_read_version(PGconn *conn, const struct migrate_schema *ms,
    int *version, struct herald_error *error)
{
	char		 sql[128];
	PGresult	*res;

	snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s",
	    ms->table);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		hd_error_from_pg(error, conn, res,
		    "could not read schema version");
		PQclear(res);
		return -1;
	}
	*version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/*
 * Open a migration step: begin, take the lock, create what the version
 * table needs and read the version.  Notices of CREATE ... IF NOT EXISTS
 * are silenced, since the caller's notice processor may print them.
 */
static int
migrate_begin(PGconn *conn, const struct migrate_schema *ms, int *version,
    struct herald_error *error)
{
	char	sql[512];

	snprintf(sql, sizeof(sql),
	    "BEGIN;"
	    " SET LOCAL client_min_messages = warning;"
	    " SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
	    " CREATE SCHEMA IF NOT EXISTS herald;"
	    " CREATE TABLE IF NOT EXISTS %s ("
	    "  version integer PRIMARY KEY,"
	    "  name text NOT NULL,"
	    "  applied_at timestamptz NOT NULL DEFAULT now())",
	    ms->table);
	if (hd_db_exec(conn, sql, error) == -1)
		return -1;
	return migrate_read_version(conn, ms, version, error);
}

/* Apply one migration and record it, inside the open transaction. */
static int
migrate_apply(PGconn *conn, const struct migrate_schema *ms,
    const struct hd_migration *m, struct herald_error *error)
{
	const char	*values[2];
	char		 version_text[16], sql[128], what[128];
	PGresult	*res;

	snprintf(what, sizeof(what), "could not apply migration %s", m->name);
	res = PQexec(conn, m->sql);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res, what);
		PQclear(res);
		return -1;
	}
	PQclear(res);

	snprintf(version_text, sizeof(version_text), "%d", m->version);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO %s (version, name) VALUES ($1, $2)", ms->table);
	values[0] = version_text;
	values[1] = m->name;
	res = PQexecParams(conn, sql, 2, NULL, values, NULL, NULL, 0);
	if (!hd_db_ok(res)) {
		hd_error_from_pg(error, conn, res, what);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Roll back after a failed step; the first error stays in error. */
static void
migrate_rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

/*
 * Run one step.  Return 1 when a migration was applied, 0 when none was
 * missing, or -1.
 */
static int
migrate_step(PGconn *conn, const struct migrate_schema *ms,
    struct herald_error *error)
{
	const struct hd_migration	*next = NULL;
	int				 version, i;

	if (migrate_begin(conn, ms, &version, error) == -1)
		goto fail;
	if (version > migrate_newest(ms)) {
		migrate_error_newer(ms, version, error);
		goto fail;
	}
	for (i = 0; i < ms->count && next == NULL; i++)
		if (ms->migrations[i].version > version)
			next = &ms->migrations[i];
	if (next != NULL && migrate_apply(conn, ms, next, error) == -1)
		goto fail;
	if (hd_db_exec(conn, "COMMIT", error) == -1)
		goto fail;
	return next != NULL;

fail:
	migrate_rollback(conn);
	return -1;
}

int
hd_migrate(PGconn *conn, enum hd_schema schema, struct herald_error *error)
{
	struct migrate_schema	ms;
	int			applied = 0, step;

	if (conn == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no connection given");
		return -1;
	}
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		hd_error_set(error, HERALD_ESTATE,
		    "could not migrate: the connection is inside a transaction, and each migration runs in its own");
		return -1;
	}
	migrate_schema_get(schema, &ms);

	while ((step = migrate_step(conn, &ms, error)) == 1)
		applied++;
	return step == -1 ? -1 : applied;
}

int
hd_schema_version(PGconn *conn, enum hd_schema schema, int *version,
    struct herald_error *error)
{
	struct migrate_schema	 ms;
	const char		*values[1];
	PGresult		*res;
	int			 exists;

	if (conn == NULL) {
		hd_error_set(error, HERALD_EINVAL, "no connection given");
		return -1;
	}
	migrate_schema_get(schema, &ms);
	values[0] = ms.table;
	res = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1,
	    NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		hd_error_from_pg(error, conn, res,
		    "could not read schema version");
		PQclear(res);
		return -1;
	}
	exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);

	*version = 0;
	if (!exists)
		return 0;
	return migrate_read_version(conn, &ms, version, error);
}

bool
hd_schema_behind(PGconn *conn, enum hd_schema schema)
{
	struct herald_error	error;
	struct migrate_schema	ms;
	int			version;

	if (hd_schema_version(conn, schema, &version, &error) == -1)
		return false;
	migrate_schema_get(schema, &ms);
	return version < migrate_newest(&ms);
}

/* Return true when the table exists; false also when that cannot be read. */
static bool
migrate_has_table(PGconn *conn, const char *table)
{
	const char	*values[1] = { table };
	PGresult	*res;
	bool		 found;

	res = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1,
	    NULL, values, NULL, NULL, 0);
	found = PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return found;
}

/*
 * Describe the database conn is connected to, such as "jobs" on
 * /run/postgresql port 5432, so that a hint to migrate names its target.
 * libpq keeps the password apart, so it never shows here.
 */
static void
migrate_describe_target(PGconn *conn, char *out, size_t size)
{
	const char	*host = PQhost(conn), *port = PQport(conn);

	snprintf(out, size, "\"%s\" on %s port %s", PQdb(conn),
	    host != NULL && host[0] != '\0' ? host : "the default socket",
	    port != NULL && port[0] != '\0' ? port : "5432");
}

int
hd_schema_check(PGconn *conn, enum hd_schema schema,
    struct herald_error *error)
{
	struct migrate_schema	ms;
	int			version;

	if (hd_schema_version(conn, schema, &version, error) == -1)
		return -1;
	migrate_schema_get(schema, &ms);
	return hd_schema_judge(conn, schema, version, version == 0 &&
	    migrate_has_table(conn, ms.other_table), error);
}

const char *
hd_schema_table(enum hd_schema schema, bool other)
{
	struct migrate_schema	ms;

	migrate_schema_get(schema, &ms);
	return other ? ms.other_table : ms.table;
}

int
hd_schema_judge(PGconn *conn, enum hd_schema schema, int version,
    bool other_found, struct herald_error *error)
{
	struct migrate_schema	ms;
	int			newest;
	char			target[512];

	migrate_schema_get(schema, &ms);
	newest = migrate_newest(&ms);
	if (version == newest)
		return 0;

	migrate_describe_target(conn, target, sizeof target);
	if (version > newest)
		migrate_error_newer(&ms, version, error);
	else if (version == 0 && other_found)
		hd_error_set(error, HERALD_ESCHEMA,
		    "%s %s has no %s schema but the %s schema; check that it is the %s, then run \"%s\" on it",
		    ms.label, target, ms.kind, ms.other_kind, ms.label,
		    ms.command);
	else if (version == 0)
		hd_error_set(error, HERALD_ESCHEMA,
		    "%s %s has no herald schema; run \"%s\" on it",
		    ms.label, target, ms.command);
	else
		hd_error_set(error, HERALD_ESCHEMA,
		    "%s %s schema is at version %d, this herald needs version %d; run \"%s\" on it",
		    ms.label, target, version, newest, ms.command);
	return -1;
}

int
hd_schema_not_other(PGconn *conn, enum hd_schema schema,
    struct herald_error *error)
{
	struct migrate_schema	ms;
	int			version;
	char			target[512];

	if (hd_schema_version(conn, schema, &version, error) == -1)
		return -1;
	migrate_schema_get(schema, &ms);
	if (version > 0 || !migrate_has_table(conn, ms.other_table))
		return 0;
	migrate_describe_target(conn, target, sizeof target);
	hd_error_set(error, HERALD_ESCHEMA,
	    "%s has the %s schema and no %s schema; check that the "
	    "connection string names the %s", target, ms.other_kind, ms.kind,
	    ms.label);
	return -1;
}
