/*
 * supervisor.h: the process manager of heraldd.
 *
 * The supervisor forks the workers of every queue and one janitor,
 * restarts a child that dies (with a growing delay when it keeps dying),
 * stops them on SIGTERM or SIGINT and replaces them on SIGHUP when their
 * settings changed.  It never touches the database: each child opens its
 * own connection after fork(), so no connection crosses a fork.
 */

#ifndef HD_SUPERVISOR_H
#define HD_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "herald.h"

/* Restart delays of a child that keeps dying. */
#define HD_RESTART_MIN_MS	100
#define HD_RESTART_MAX_MS	30000
/* A child that ran this long gets HD_RESTART_MIN_MS again. */
#define HD_RESTART_RESET_MS	10000
/* Time after the grace period before the remaining children get SIGKILL. */
#define HD_STOP_MARGIN_MS	5000

/*
 * The exit status of a child that asks to be started again at once: a
 * worker recycled after max_jobs or max_rss, or a process that found its
 * registration removed.  Such an exit does not count as a failure.
 */
#define HD_EXIT_RESTART		75

/* Reconnection delays of every child: 100 ms doubling up to 30 s. */
#define HD_RECONNECT_MIN_MS	100
#define HD_RECONNECT_MAX_MS	30000
/* How often an idle connection is checked, and how long a check waits. */
#define HD_PING_INTERVAL_MS	5000
#define HD_PING_TIMEOUT_MS	5000

/*
 * Log a warning for each task whose exec program is not executable or
 * whose module is not a readable file here.  heraldd calls it at start
 * and at each reload.
 */
void	hd_supervisor_warn_handlers(const struct hd_config *config);

/*
 * Run the supervisor until it is stopped and return heraldd's exit
 * status.  It takes config, which it replaces and frees on SIGHUP.
 * verbose keeps the log level at debug across reloads.
 */
int	hd_supervisor_run(struct hd_config *config, bool verbose);

/*
 * Log that the job database has another schema version than this build,
 * for a child that found so with hd_schema_check(): as an error the first
 * time in the process, then at level debug.  Return true when the schema
 * is older, which herald migrate fixes while the child waits, and false
 * when it is newer or unknown, which needs another heraldd.
 */
bool	hd_log_schema_mismatch(PGconn *conn);

/*
 * Return the poll() timeout in ms until deadline_ms, both on
 * CLOCK_MONOTONIC: -1 (wait without limit) when the deadline is
 * INT64_MAX, 0 when it has passed, and at most 60000.
 */
int	hd_poll_timeout(int64_t deadline_ms, int64_t now_ms);

/*
 * Return the delay before the next connection attempt after failures
 * failed ones in a row (0 after a connection was lost): HD_RECONNECT_MIN_MS
 * doubling up to HD_RECONNECT_MAX_MS, scattered by +-20 % so that many
 * processes do not reconnect in step.
 */
int64_t	hd_reconnect_delay_ms(int failures);

/*
 * Return whether an error means the connection cannot be used any more:
 * it broke, the server is shutting down, or it became read-only.
 */
bool	hd_db_error_is_fatal(PGconn *conn, const struct herald_error *error);

#endif /* HD_SUPERVISOR_H */
