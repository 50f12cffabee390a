/*
 * dbtest.h: a fresh, migrated job database for each database test.
 *
 * HERALD_TEST_CONNINFO names a maintenance database ("host=/tmp/pg
 * port=5432 user=postgres dbname=postgres") of a server the tests may
 * create databases on.  A test program calls dbtest_init() first: it exits
 * 77, automake's SKIP, when the variable is unset.  A configured server
 * that cannot be reached makes setup fail, never skip.
 *
 *	static int
 *	setup(void **state)
 *	{
 *		return dbtest_setup(state);	  (*state: a struct dbtest)
 *	}
 *
 *	int
 *	main(void)
 *	{
 *		dbtest_init("store");
 *		return cmocka_run_group_tests_name("store", tests, NULL, NULL);
 *	}
 *
 * with each test listed as cmocka_unit_test_setup_teardown(test,
 * dbtest_setup, dbtest_teardown).  Each setup creates the database
 * herald_t_<prefix>_<pid>_<n>, runs hd_migrate(HD_SCHEMA_JOB) on it and
 * opens db->conn; teardown closes it and drops the database, together with
 * any connection still open to it.  A forked child must not use db->conn:
 * it opens its own with dbtest_connect(db), or passes db->conninfo on.
 *
 * The query helpers fail the running cmocka test, with the server's
 * message, when a statement fails.  Include cmocka.h before this header.
 */

#ifndef DBTEST_H
#define DBTEST_H

#include <stdint.h>

#include <libpq-fe.h>

struct dbtest {
	PGconn	*conn;		/* connection to the test database */
	char	*dbname;
	char	*conninfo;	/* conninfo of the test database */
};

/* Exit 77 unless HERALD_TEST_CONNINFO is set; prefix names the databases. */
void	dbtest_init(const char *prefix);

/*
 * Create, migrate and connect to a new database; NULL with a message.
 * dbtest_new_bare() skips the migration.
 */
struct dbtest *dbtest_new(void);
struct dbtest *dbtest_new_bare(void);
/* Close db->conn and drop the database; accepts NULL. */
void	dbtest_free(struct dbtest *db);

/* cmocka setups wrapping dbtest_new(), _new_bare(), and dbtest_free(). */
int	dbtest_setup(void **state);
int	dbtest_setup_bare(void **state);
int	dbtest_teardown(void **state);

/* Open another connection to the test database, or fail the test. */
PGconn	*dbtest_connect(const struct dbtest *db);

/*
 * The statements below are printf formats, for numbers such as job ids.
 * Strings belong in the format as SQL literals, never in a %s argument.
 */

/* Run a command that must succeed. */
void	dbtest_exec(PGconn *conn, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Run a query that must return one row of one non-NULL integer column,
 * such as "SELECT count(*) FROM herald.jobs", and return the value.
 */
int64_t	dbtest_int(PGconn *conn, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Run a query that must return one row of one column and return the value
 * as a malloc'ed string, or NULL when it is NULL.
 */
char	*dbtest_text(PGconn *conn, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Run sql, which must fail with SQLSTATE 22023, a primary message that
 * starts with message and the hint hint, or no hint when hint is NULL.
 */
void	dbtest_assert_invalid(PGconn *conn, const char *sql,
	    const char *message, const char *hint);

/*
 * Wait until the query sent on other either has its result or waits for
 * a lock, for at most 10 s, polling from conn.  Return whether it waits.
 */
int	dbtest_waits_for_lock(PGconn *conn, PGconn *other);

/* Assert that text, a result of dbtest_text(), equals expected; free it. */
#define dbtest_assert_text(text, expected) do {				\
	char	*dbtest_text_ = (text);					\
									\
	assert_string_equal(dbtest_text_, (expected));			\
	free(dbtest_text_);						\
} while (0)

#endif /* DBTEST_H */
