/*
 * migrate.h: schema migrations of the job and application databases.
 *
 * The SQL files of sql/job and sql/app are compiled into the library, so a
 * binary always carries the schema it was built for.  The applied versions
 * are kept in herald.migrations (job) or herald.app_migrations (app).  Each
 * migration runs in its own transaction under an advisory lock, so two
 * concurrent runs apply each version once.
 */

#ifndef HD_MIGRATE_H
#define HD_MIGRATE_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "herald.h"

enum hd_schema {
	HD_SCHEMA_JOB = 0,
	HD_SCHEMA_APP
};

struct hd_migration {
	int		 version;
	const char	*name;		/* file name, such as "001_jobs.sql" */
	const char	*sql;
};

/* The migrations compiled in, in version order. */
extern const struct hd_migration hd_job_migrations[];
extern const int hd_job_migrations_count;
extern const struct hd_migration hd_app_migrations[];
extern const int hd_app_migrations_count;

/*
 * Apply the missing migrations of schema.  Return how many were applied,
 * or -1; fails with HERALD_ESCHEMA, changing nothing, when the database
 * has a version newer than this build knows.
 */
int	hd_migrate(PGconn *conn, enum hd_schema schema,
	    struct herald_error *error);

/*
 * Check that the database is at exactly the version this build knows.
 * Return 0, or -1 with HERALD_ESCHEMA and a message telling to run
 * "herald migrate".
 */
int	hd_schema_check(PGconn *conn, enum hd_schema schema,
	    struct herald_error *error);

/*
 * The version table of schema, or with other that of the other schema,
 * whose presence in a database without schema means that the other
 * database was given.  For a caller that reads them without blocking.
 */
const char *hd_schema_table(enum hd_schema schema, bool other);

/*
 * Judge version, read from the version table on conn (0 when it is
 * missing), as hd_schema_check() does.  other_found is whether the
 * other schema's table exists.  Return 0, or -1 with HERALD_ESCHEMA.
 */
int	hd_schema_judge(PGconn *conn, enum hd_schema schema, int version,
	    bool other_found, struct herald_error *error);

/* Store the applied version (0 when none) in *version; 0 or -1. */
int	hd_schema_version(PGconn *conn, enum hd_schema schema, int *version,
	    struct herald_error *error);

/*
 * Return true when the schema on conn is older than this build's, which
 * herald migrate fixes, and false when it is current, newer or cannot be
 * read.
 */
bool	hd_schema_behind(PGconn *conn, enum hd_schema schema);

/*
 * Fail with HERALD_ESCHEMA when the database on conn has none of schema
 * but the other one, a sign that it is the other database: a job
 * database given where the application database was meant, or the
 * reverse.  Return 0 otherwise, or -1 when it cannot be read.
 */
int	hd_schema_not_other(PGconn *conn, enum hd_schema schema,
	    struct herald_error *error);

#endif /* HD_MIGRATE_H */
