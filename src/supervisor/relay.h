/*
 * relay.h: the relay process, which moves outbox rows of the application
 * database into the job database (see src/lib/outbox.h for how each batch
 * stays exactly once).
 */

#ifndef HD_RELAY_H
#define HD_RELAY_H

#include "config.h"

/*
 * Run the relay until SIGTERM or SIGINT and return its exit status: 0
 * after a clean stop, EX_CONFIG when either database has the wrong schema
 * version.  Called in a freshly forked child of the supervisor, which
 * forks one when the configuration sets app_db.  id is the relay's id in
 * herald.processes, and lost_id (or NULL) that of the relay it replaces,
 * whose registration it removes.
 */
int	hd_relay_main(const struct hd_config *config, const char *supervisor_id,
	    const char *id, const char *lost_id);

#endif /* HD_RELAY_H */
