/*
 * format.c: text of durations, times and retry schedules for the console.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "format.h"
#include "util.h"

void
hd_fmt_relative(int64_t delta_ms, char *buf, size_t size)
{
	char	duration[32];

	if (delta_ms > -1000 && delta_ms < 1000) {
		snprintf(buf, size, "now");
		return;
	}
	hd_format_duration(delta_ms < 0 ? -delta_ms : delta_ms, duration,
	    sizeof(duration));
	if (delta_ms > 0)
		snprintf(buf, size, "in %s", duration);
	else
		snprintf(buf, size, "%s ago", duration);
}

void
hd_fmt_age(int64_t ms, char *buf, size_t size)
{
	if (ms < 1000)
		snprintf(buf, size, "0s");
	else
		hd_format_duration(ms, buf, size);
}

void
hd_fmt_clock(time_t when, time_t now, char *buf, size_t size)
{
	struct tm	w, n;
	time_t		days;

	localtime_r(&when, &w);
	localtime_r(&now, &n);
	days = (when - now) / 86400;
	if (w.tm_year == n.tm_year && w.tm_yday == n.tm_yday)
		strftime(buf, size, "%H:%M", &w);
	else if (days > -7 && days < 7)
		strftime(buf, size, "%a %H:%M", &w);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M", &w);
}

/* Append the end of a schedule, its last phrase, to buf. */
static void
schedule_end(time_t dead_at, time_t now, int compact, char *buf,
    size_t size)
{
	char	clock[32];

	hd_fmt_clock(dead_at, now, clock, sizeof(clock));
	if (compact)
		snprintf(buf, size, "dead ~%s", clock);
	else
		snprintf(buf, size, "dead at about %s if every attempt fails",
		    clock);
}

/* Write "then D1, D2, ..., Dk, " for the first k delays, plus "..., ". */
static void
schedule_head(const int64_t *delays_ms, int k, int elided, char *buf,
    size_t size)
{
	char	duration[32];
	size_t	len;
	int	i;

	snprintf(buf, size, "then ");
	for (i = 0; i < k; i++) {
		hd_format_duration(delays_ms[i], duration, sizeof(duration));
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s, ", duration);
	}
	if (elided) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "..., ");
	}
}

void
hd_fmt_schedule(const int64_t *delays_ms, int n, time_t dead_at,
    time_t now, int compact, size_t width, char *buf, size_t size)
{
	char	head[512], end[96];
	int	k;

	if (size == 0)
		return;
	if (n <= 0) {
		snprintf(buf, size, "%s", compact ? "last attempt" :
		    "last attempt, dead if it fails");
		return;
	}
	schedule_end(dead_at, now, compact, end, sizeof(end));

	/* Keep as many leading delays as fit, then mark the rest elided. */
	for (k = n; k >= 0; k--) {
		schedule_head(delays_ms, k, k < n, head, sizeof(head));
		if (strlen(head) + strlen(end) <= width || k == 0)
			break;
	}
	snprintf(buf, size, "%s%s", head, end);
	if (strlen(buf) > width && width < size)
		buf[width] = '\0';
}

void
hd_fmt_count(int64_t n, const char *singular, const char *plural, char *buf,
    size_t size)
{
	snprintf(buf, size, "%" PRId64 " %s", n, n == 1 ? singular : plural);
}

/*
 * Decode the character at the start of the len bytes of p into *wc and
 * its columns into *w, with "?" for what cannot be shown, and return its
 * length in bytes.
 */
static size_t
text_next(const char *p, size_t len, mbstate_t *state, wchar_t *wc, int *w)
{
	size_t	n;

	n = mbrtowc(wc, p, len, state);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		memset(state, 0, sizeof(*state));
		*wc = L'?';
		n = 1;
	}
	*w = wcwidth(*wc);
	if (*w < 0 || *wc < 0x20 || *wc == 0x7f) {
		*wc = L'?';
		*w = 1;
	}
	return n;
}

size_t
hd_text_sanitize(const char *text, int width, wchar_t *buf, size_t size,
    int *cols)
{
	mbstate_t	 state;
	wchar_t		 wc;
	size_t		 len, n, used = 0;
	int		 w;
	const char	*p = text;

	*cols = 0;
	if (size == 0)
		return 0;
	memset(&state, 0, sizeof(state));
	len = strlen(text);
	while (len > 0 && used < size - 1) {
		n = text_next(p, len, &state, &wc, &w);
		if (*cols + w > width)
			break;
		buf[used++] = wc;
		*cols += w;
		p += n;
		len -= n;
	}
	buf[used] = L'\0';
	return used;
}

size_t
hd_text_fit(const char *text, size_t len, int width)
{
	mbstate_t	 state;
	wchar_t		 wc;
	size_t		 n, used = 0;
	int		 w, cols = 0;

	memset(&state, 0, sizeof(state));
	while (used < len) {
		n = text_next(text + used, len - used, &state, &wc, &w);
		if (cols + w > width)
			break;
		cols += w;
		used += n;
	}
	return used;
}
