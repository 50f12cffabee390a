/*
 * periodic.h: the periodic jobs of the active janitor.
 *
 * For each periodic entry of the configuration the janitor keeps a row
 * in herald.periodic.  When a slot is due it locks the row, enqueues the
 * slot's job with the unique key "periodic:NAME:SLOT" and moves
 * last_slot, all in one transaction: a crash before the commit loses
 * nothing (the slot is still due), one after it doubles nothing (the row
 * says the slot is done), and a second heraldd's janitor waits for the
 * row lock and then finds the slot done.
 *
 * After downtime only the newest missed slot counts.  With catch_up
 * "latest" its job is enqueued however late; with "none" it is skipped
 * when it is more than HD_PERIODIC_LATE_S seconds late.  Slots are
 * computed from the database's clock, so hosts with skewed clocks agree.
 */

#ifndef HD_PERIODIC_H
#define HD_PERIODIC_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "herald.h"

/* A slot found later than this is missed, for catch_up = "none". */
#define HD_PERIODIC_LATE_S	60

struct hd_periodic {
	const struct hd_config	*config;
	/* Per entry: the Unix time before which nothing is due; 0: now. */
	int64_t			*due_s;
	bool			 synced;	/* the rows match config */
};

void	hd_periodic_init(struct hd_periodic *periodic,
	    const struct hd_config *config);
void	hd_periodic_release(struct hd_periodic *periodic);

/*
 * Forget what the rows contain, for a janitor that just became active or
 * reconnected: the next hd_periodic_run() writes the entries again.
 */
void	hd_periodic_reset(struct hd_periodic *periodic);

/*
 * Enqueue the jobs of the slots that are due.  Return the number of jobs
 * enqueued, or -1 with error filled; conn is left outside a transaction
 * either way.
 */
int	hd_periodic_run(struct hd_periodic *periodic, PGconn *conn,
	    struct herald_error *error);

#endif /* HD_PERIODIC_H */
