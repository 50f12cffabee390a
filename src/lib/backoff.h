/*
 * backoff.h: the retry delay, shared by workers and the console.
 *
 * The delay before attempt n + 1, after attempt n (counted from 1) failed,
 * is min(max_delay, base_delay * factor^(n - 1)), scattered uniformly by
 * up to +-jitter of itself.  Randomness is an argument, so a fixed input
 * gives a fixed schedule.
 */

#ifndef HD_BACKOFF_H
#define HD_BACKOFF_H

#include <stdint.h>

struct hd_retry_policy {
	int		max_attempts;	/* 1 .. HERALD_ATTEMPTS_MAX */
	int64_t		base_delay_ms;
	double		factor;		/* >= 1 */
	int64_t		max_delay_ms;	/* >= base_delay_ms */
	double		jitter;		/* 0 .. 1, fraction of the delay */
};

/* Fill policy with the defaults of herald.h. */
void	hd_retry_policy_init(struct hd_retry_policy *policy);

/*
 * Return the delay in milliseconds after failed attempt `attempt` (>= 1).
 * unit is a number in [0, 1): 0.5 gives the delay without jitter, 0 the
 * shortest and values near 1 the longest.  The result is never negative.
 */
int64_t	hd_backoff_delay_ms(const struct hd_retry_policy *policy, int attempt,
	    double unit);

/*
 * Store in delays_ms the nominal (jitter-free) delays that follow failed
 * attempt `attempt`, one per attempt still left, up to max entries, and
 * return how many were stored.  The sum, added to now, is when the job
 * dies if every remaining attempt fails.
 */
int	hd_backoff_schedule(const struct hd_retry_policy *policy, int attempt,
	    int64_t *delays_ms, int max);

/* Return a uniformly distributed number in [0, 1) for the jitter. */
double	hd_backoff_random(void);

#endif /* HD_BACKOFF_H */
