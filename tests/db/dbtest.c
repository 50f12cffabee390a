/*
 * dbtest.c: a fresh, migrated job database for each database test.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "migrate.h"
#include "dbtest.h"

#define DBTEST_SQL_MAX	4096

static const char	*dbtest_prefix = "db";
static int		 dbtest_count;

void
dbtest_init(const char *prefix)
{
	const char	*conninfo = getenv("HERALD_TEST_CONNINFO");

	if (conninfo == NULL || conninfo[0] == '\0') {
		fprintf(stderr,
		    "HERALD_TEST_CONNINFO is not set; skipping database tests\n");
		exit(77);
	}
	dbtest_prefix = prefix;
}

/* Append keyword='value' to buf, quoted as the conninfo syntax requires. */
static void
dbtest_append_option(char *buf, size_t size, const char *keyword,
    const char *value)
{
	size_t	len = strlen(buf);

	len += snprintf(buf + len, size - len, "%s%s='", len > 0 ? " " : "",
	    keyword);
	for (; *value != '\0' && len + 3 < size; value++) {
		if (*value == '\'' || *value == '\\')
			buf[len++] = '\\';
		buf[len++] = *value;
	}
	snprintf(buf + len, size - len, "'");
}

/*
 * Return HERALD_TEST_CONNINFO with dbname replaced, as a malloc'ed
 * keyword=value string, or NULL when it does not parse.
 */
static char *
dbtest_conninfo_for(const char *dbname)
{
	PQconninfoOption	*options, *o;
	char			*message = NULL, buf[DBTEST_SQL_MAX] = "";

	options = PQconninfoParse(getenv("HERALD_TEST_CONNINFO"), &message);
	if (options == NULL) {
		print_error("HERALD_TEST_CONNINFO does not parse: %s",
		    message != NULL ? message : "out of memory");
		PQfreemem(message);
		return NULL;
	}
	for (o = options; o->keyword != NULL; o++)
		if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
			dbtest_append_option(buf, sizeof(buf), o->keyword,
			    o->val);
	dbtest_append_option(buf, sizeof(buf), "dbname", dbname);
	PQconninfoFree(options);
	return strdup(buf);
}

/* Run one command on the maintenance database; 0 or -1. */
static int
dbtest_admin(const char *sql)
{
	struct herald_error	 error;
	PGconn			*conn;
	int			 rc;

	conn = hd_db_connect(getenv("HERALD_TEST_CONNINFO"), "herald-test",
	    &error);
	if (conn == NULL) {
		print_error("could not connect to HERALD_TEST_CONNINFO: %s\n",
		    error.message);
		return -1;
	}
	rc = hd_db_exec(conn, sql, &error);
	if (rc == -1)
		print_error("%s: %s\n", sql, error.message);
	PQfinish(conn);
	return rc;
}

static struct dbtest *
dbtest_create(int migrate)
{
	struct herald_error	 error;
	struct dbtest		*db;
	char			 name[64], sql[128];

	snprintf(name, sizeof(name), "herald_t_%s_%ld_%d", dbtest_prefix,
	    (long)getpid(), ++dbtest_count);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (dbtest_admin(sql) == -1)
		return NULL;

	db = calloc(1, sizeof(*db));
	if (db == NULL)
		goto fail;
	db->dbname = strdup(name);
	db->conninfo = dbtest_conninfo_for(name);
	if (db->dbname == NULL || db->conninfo == NULL)
		goto fail;
	db->conn = hd_db_connect(db->conninfo, "herald-test", &error);
	if (db->conn == NULL) {
		print_error("could not connect to %s: %s\n", name,
		    error.message);
		goto fail;
	}
	if (migrate && hd_migrate(db->conn, HD_SCHEMA_JOB, &error) == -1) {
		print_error("could not migrate %s: %s\n", name, error.message);
		goto fail;
	}
	return db;

fail:
	if (db != NULL) {
		PQfinish(db->conn);
		free(db->dbname);
		free(db->conninfo);
		free(db);
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    name);
	dbtest_admin(sql);
	return NULL;
}

struct dbtest *
dbtest_new(void)
{
	return dbtest_create(1);
}

struct dbtest *
dbtest_new_bare(void)
{
	return dbtest_create(0);
}

void
dbtest_free(struct dbtest *db)
{
	char	sql[128];

	if (db == NULL)
		return;
	PQfinish(db->conn);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    db->dbname);
	dbtest_admin(sql);
	free(db->dbname);
	free(db->conninfo);
	free(db);
}

int
dbtest_setup(void **state)
{
	*state = dbtest_new();
	return *state != NULL ? 0 : -1;
}

int
dbtest_setup_bare(void **state)
{
	*state = dbtest_new_bare();
	return *state != NULL ? 0 : -1;
}

int
dbtest_teardown(void **state)
{
	dbtest_free(*state);
	*state = NULL;
	return 0;
}

PGconn *
dbtest_connect(const struct dbtest *db)
{
	struct herald_error	 error;
	PGconn			*conn;

	conn = hd_db_connect(db->conninfo, "herald-test", &error);
	if (conn == NULL)
		fail_msg("could not connect to %s: %s", db->dbname,
		    error.message);
	return conn;
}

/* Run the statement of fmt and return its result, or fail the test. */
static PGresult *
dbtest_vquery(PGconn *conn, const char *fmt, va_list ap)
{
	char		 sql[DBTEST_SQL_MAX];
	PGresult	*res;

	vsnprintf(sql, sizeof(sql), fmt, ap);
	res = PQexec(conn, sql);
	if (!hd_db_ok(res)) {
		PQclear(res);
		print_error("%s\n", sql);
		fail_msg("statement failed: %s", PQerrorMessage(conn));
	}
	return res;
}

void
dbtest_exec(PGconn *conn, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	PQclear(dbtest_vquery(conn, fmt, ap));
	va_end(ap);
}

/* Run a query of one row and one column, or fail the test. */
static PGresult *
dbtest_vvalue(PGconn *conn, const char *fmt, va_list ap)
{
	PGresult	*res;

	res = dbtest_vquery(conn, fmt, ap);
	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		int	rows = PQntuples(res), columns = PQnfields(res);

		PQclear(res);
		fail_msg("expected one value, got %d rows of %d columns",
		    rows, columns);
	}
	return res;
}

int64_t
dbtest_int(PGconn *conn, const char *fmt, ...)
{
	PGresult	*res;
	va_list		 ap;
	int64_t		 value;

	va_start(ap, fmt);
	res = dbtest_vvalue(conn, fmt, ap);
	va_end(ap);
	if (PQgetisnull(res, 0, 0)) {
		PQclear(res);
		fail_msg("expected an integer, got NULL");
	}
	value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return value;
}

char *
dbtest_text(PGconn *conn, const char *fmt, ...)
{
	PGresult	*res;
	va_list		 ap;
	char		*value = NULL;

	va_start(ap, fmt);
	res = dbtest_vvalue(conn, fmt, ap);
	va_end(ap);
	if (!PQgetisnull(res, 0, 0)) {
		value = strdup(PQgetvalue(res, 0, 0));
		assert_non_null(value);
	}
	PQclear(res);
	return value;
}

void
dbtest_assert_invalid(PGconn *conn, const char *sql, const char *message,
    const char *hint)
{
	PGresult	*res = PQexec(conn, sql);
	const char	*got;

	if (PQresultStatus(res) != PGRES_FATAL_ERROR)
		fail_msg("\"%s\" succeeded", sql);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
	    "22023");
	got = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (strstr(got, message) != got)
		fail_msg("\"%s\" failed with \"%s\", expected \"%s\"", sql,
		    got, message);
	got = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	if (hint == NULL)
		assert_null(got);
	else
		assert_string_equal(got, hint);
	PQclear(res);
}

int
dbtest_waits_for_lock(PGconn *conn, PGconn *other)
{
	int	i;

	for (i = 0; i < 1000; i++) {
		assert_int_equal(PQconsumeInput(other), 1);
		if (!PQisBusy(other))
			return 0;
		if (dbtest_int(conn, "SELECT count(*) FROM pg_locks"
		    " WHERE pid = %d AND NOT granted",
		    PQbackendPID(other)) > 0)
			return 1;
		dbtest_exec(conn, "SELECT pg_sleep(0.01)");
	}
	fail_msg("the query neither ended nor waited for a lock in 10 s");
	return -1;
}
