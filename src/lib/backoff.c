/*
 * backoff.c: the retry delay, shared by workers and the console.
 */

#include <float.h>
#include <stdint.h>
#include <sys/random.h>

#include "herald.h"
#include "backoff.h"
#include "util.h"

void
hd_retry_policy_init(struct hd_retry_policy *policy)
{
	policy->max_attempts = HERALD_DEFAULT_MAX_ATTEMPTS;
	policy->base_delay_ms = HERALD_DEFAULT_BASE_DELAY_MS;
	policy->factor = HERALD_DEFAULT_FACTOR;
	policy->max_delay_ms = HERALD_DEFAULT_MAX_DELAY_MS;
	policy->jitter = HERALD_DEFAULT_JITTER;
}

/*
 * The jitter-free delay after failed attempt `attempt`, in ms.  It
 * multiplies instead of calling pow(), so that no herald program needs
 * libm (see hd_round_ms()).  The product stops growing at max_delay,
 * which also keeps it finite.
 */
static double
nominal_delay_ms(const struct hd_retry_policy *policy, int attempt)
{
	double	delay = (double)policy->base_delay_ms;
	double	max = (double)policy->max_delay_ms;
	int	i;

	for (i = 1; i < attempt && delay < max; i++)
		delay *= policy->factor;
	if (!(delay < max))
		delay = max;
	return delay;
}

int64_t
hd_backoff_delay_ms(const struct hd_retry_policy *policy, int attempt,
    double unit)
{
	double	delay, scatter;

	delay = nominal_delay_ms(policy, attempt);
	if (unit < 0)
		unit = 0;
	if (unit >= 1)
		unit = 1.0 - DBL_EPSILON / 2;	/* the largest double below 1 */

	/* unit 0 maps to -jitter, unit 0.5 to none, unit -> 1 to +jitter. */
	scatter = policy->jitter * (2.0 * unit - 1.0);
	delay *= 1.0 + scatter;
	if (delay < 0)
		delay = 0;
	return hd_round_ms(delay);
}

int
hd_backoff_schedule(const struct hd_retry_policy *policy, int attempt,
    int64_t *delays_ms, int max)
{
	int	n = 0, next;

	for (next = attempt; next < policy->max_attempts && n < max; next++)
		delays_ms[n++] = hd_round_ms(nominal_delay_ms(policy, next));
	return n;
}

double
hd_backoff_random(void)
{
	uint64_t	r;

	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint64_t)hd_realtime_us() * 0x9e3779b97f4a7c15ULL;

	/* The top 53 bits give every double in [0, 1) the same chance. */
	return (double)(r >> 11) * 0x1.0p-53;
}
