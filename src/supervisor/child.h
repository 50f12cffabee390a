/*
 * child.h: heraldd-child, the program that heraldd starts for each of its
 * workers, its relay and its janitor.
 *
 * heraldd itself does not load libpq: on Debian 12, libpq and the 24
 * libraries it needs add about 5.4 MiB to a process's resident memory.
 * So heraldd does not run these roles in a forked copy of itself but
 * executes heraldd-child with the role as argument and descriptor
 * HD_CHILD_SPEC_FD open on a child specification, a memfd that names
 * everything else.  The specification is lines of "key value",
 * where the values of "path" and "config" are byte counts followed by a
 * newline and that many bytes:
 *
 *	version 0.1.0
 *	role worker
 *	queue default
 *	supervisor 0f3c9a61d2e4b857
 *	worker 5be0c1a9d3f27e46
 *	lost 9a4e2b7c0d1f3865	(the worker replaced, if any)
 *	started known 2 1041 1042	(its started jobs: "unknown" or a count)
 *	verbose 1
 *	schema 1		(role check: also check the database schemas)
 *	path 23
 *	/etc/herald/herald.conf
 *	config 1180
 *	...the configuration file as heraldd read it...
 *
 * heraldd-child parses the same text that heraldd checked, so both see
 * the same configuration even if the file changed since.
 */

#ifndef HD_CHILD_H
#define HD_CHILD_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "herald.h"
#include "migrate.h"
#include "started.h"

/* The descriptors that heraldd-child starts with. */
#define HD_CHILD_SPEC_FD	3	/* the child specification */
#define HD_CHILD_UP_FD		4	/* one byte is written once it runs */
/* A worker's region of started jobs, or the janitor's report pipe. */
#define HD_CHILD_EXTRA_FD	5

/* Reconnection delays of every child: 100 ms doubling up to 5 s. */
#define HD_RECONNECT_MIN_MS	100
#define HD_RECONNECT_MAX_MS	5000
/*
 * The maximum wait while the server reports that it is starting up, for
 * the first HD_RECONNECT_STARTING_TRIES failures of an outage: a standby
 * that catches up reports the same, possibly for hours.
 */
#define HD_RECONNECT_STARTING_MS	250
#define HD_RECONNECT_STARTING_TRIES	40

/* How often an idle connection is checked, and how long a check waits. */
#define HD_PING_INTERVAL_MS	5000
#define HD_PING_TIMEOUT_MS	5000

/* A child specification.  Strings not set are NULL. */
struct hd_child_spec {
	char			*role;	/* worker, relay, janitor or check */
	char			*queue;
	char			*supervisor_id;
	char			*worker_id;
	char			*lost_id;
	struct hd_started_ids	 lost_started;
	bool			 verbose;
	bool			 check_schema;
	bool			 load_modules;	/* heraldd --check */
	char			*config_path;
	char			*config_text;
	size_t			 config_len;
};

/*
 * The build's identity in a specification's version line: the release and
 * the schema versions of the job and application databases it was built
 * with, such as "0.1.0 schema 41/5".  The schema versions distinguish
 * two builds of one release whose migrations differ.
 */
const char	*hd_child_build(void);

/*
 * The versions of the last job and application migrations of this build,
 * "JOB/APP", generated from sql/ by scripts/embed-sql.
 */
extern const char hd_schema_versions[];

/*
 * Write spec into a new memfd and return it, positioned at its start, or
 * return -1 with errno set.
 */
int	hd_child_spec_write(const struct hd_child_spec *spec);

/*
 * Read the specification of descriptor fd into spec.  On failure return
 * -1 with a message in error.
 */
int	hd_child_spec_read(int fd, struct hd_child_spec *spec, char *error,
	    size_t error_size);
void	hd_child_spec_clear(struct hd_child_spec *spec);

/*
 * Log that the database on conn, of schema, has another schema version
 * than this build, for a child that found so with hd_schema_check(): as
 * an error the first time in the process, then at level debug.  Return
 * true when the schema is older, which herald migrate fixes while the
 * child waits, and false when it is newer or unknown, which needs another
 * heraldd.
 */
bool	hd_log_schema_mismatch(PGconn *conn, enum hd_schema schema);

/*
 * Return the delay before the next connection attempt after failures
 * failed ones in a row (0 after a connection was lost): HD_RECONNECT_MIN_MS
 * doubling up to HD_RECONNECT_MAX_MS, scattered by +-20 % so that many
 * processes do not reconnect in step.
 */
int64_t	hd_reconnect_delay_ms(int failures);

/*
 * Return the delay after a failed connection attempt as
 * hd_reconnect_delay_ms() does, but at most HD_RECONNECT_STARTING_MS
 * (scattered as well) when the server rejected it because it is starting
 * up or recovering from a crash, for HD_RECONNECT_STARTING_TRIES failures.
 * Such a server accepts connections once its recovery ends, and the jobs
 * should start right after that.
 */
int64_t	hd_reconnect_delay_after(int failures,
	    const struct herald_error *error);

/*
 * Return whether an error means the connection cannot be used any more:
 * it broke, the server is shutting down, or it became read-only.
 */
bool	hd_db_error_is_fatal(PGconn *conn, const struct herald_error *error);

/*
 * Store in buf the role that conninfo connects as: its user, else
 * PGUSER, else the name of the operating system user, which libpq takes
 * then.
 */
void	hd_conninfo_role(const char *conninfo, char *buf, size_t size);

#endif /* HD_CHILD_H */
