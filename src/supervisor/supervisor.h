/*
 * supervisor.h: the process manager of heraldd.
 *
 * The supervisor starts the workers of every queue, the relay and one
 * janitor, each as a heraldd-child process (child.h).  It restarts a
 * child that dies, with a growing delay when it keeps dying.  It stops
 * the children on SIGTERM or SIGINT, and on SIGHUP it replaces those whose
 * settings changed.  It never touches the database and does not load
 * libpq, since each child opens its own connections.
 */

#ifndef HD_SUPERVISOR_H
#define HD_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

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

#endif /* HD_SUPERVISOR_H */
