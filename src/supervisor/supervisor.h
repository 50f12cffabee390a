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

#include <libpq-fe.h>

#include "config.h"

/* Restart delays of a child that keeps dying. */
#define HD_RESTART_MIN_MS	100
#define HD_RESTART_MAX_MS	30000
/* A child that ran this long gets HD_RESTART_MIN_MS again. */
#define HD_RESTART_RESET_MS	10000
/* Time after the grace period before the remaining children get SIGKILL. */
#define HD_STOP_MARGIN_MS	5000

/*
 * Run the supervisor until it is stopped and return heraldd's exit
 * status.  It takes config, which it replaces and frees on SIGHUP.
 * verbose keeps the log level at debug across reloads.
 */
int	hd_supervisor_run(struct hd_config *config, bool verbose);

/*
 * Log that the job database has another schema version than this build,
 * for a child that found so with hd_schema_check().
 */
void	hd_log_schema_mismatch(PGconn *conn);

#endif /* HD_SUPERVISOR_H */
