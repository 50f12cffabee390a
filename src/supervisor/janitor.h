/*
 * janitor.h: the janitor process.
 *
 * Every heraldd runs one janitor; an advisory lock on the job database
 * makes one of them active at a time.  The active janitor returns jobs
 * whose lease expired, wakes the workers of queues whose scheduled or
 * retrying jobs became due, and prunes old counters and process rows.
 * Every janitor, active or not, also registers its supervisor in
 * herald.processes and keeps its heartbeat, since the supervisor itself
 * never touches the database.
 */

#ifndef HD_JANITOR_H
#define HD_JANITOR_H

#include "config.h"

/*
 * Run the janitor until SIGTERM or SIGINT and return its exit status: 0
 * after a clean stop, EX_CONFIG when the job database has the wrong
 * schema version, HD_EXIT_RESTART when its registration was removed.
 * report_fd (or -1) is the read end of a pipe on which the supervisor
 * sends its failed children: lines "role queue failures", each report
 * ended by an empty line.  id is the janitor's id in herald.processes,
 * and lost_id (or NULL) that of the janitor it replaces, whose
 * registration it removes.
 */
int	hd_janitor_main(const struct hd_config *config,
	    const char *supervisor_id, const char *id, const char *lost_id,
	    int report_fd);

#endif /* HD_JANITOR_H */
