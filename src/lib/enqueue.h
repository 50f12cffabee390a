/*
 * enqueue.h: the checks of herald_enqueue that units of work share.
 */

#ifndef HD_ENQUEUE_H
#define HD_ENQUEUE_H

#include "herald.h"

/*
 * Check the unique options of options as herald_enqueue does: without a
 * unique_key, unique_for_ms and unique_states must be 0.  Return 0, or -1
 * with HERALD_EINVAL in error.
 */
int	hd_enqueue_check_unique(const struct herald_job_options *options,
	    struct herald_error *error);

#endif /* HD_ENQUEUE_H */
