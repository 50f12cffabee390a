/*
 * cron.c: parsing cron expressions and finding their slots in a time
 * zone.
 *
 * Slots are searched in local wall-clock time, held as seconds since the
 * epoch as if the zone were UTC ("wall seconds"), so that gmtime_r()
 * gives the fields and timegm() normalises them.  Each matching wall
 * time is then mapped to an instant with the zone's UTC offsets, which
 * localtime_r() reads from the tz database after TZ is set.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cron.h"

#define CRON_ZONEINFO	"/usr/share/zoneinfo"

struct cron_field {
	const char		*name;
	int			 min;
	int			 max;
	const char *const	*names;	/* names of min, min + 1, ... or NULL */
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
	"nov", "dec", NULL
};
static const char *const weekday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const struct cron_field cron_fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day-of-month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day-of-week", 0, 7, weekday_names }
};

static const struct {
	const char	*name;
	const char	*expression;
} cron_shortcuts[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" }
};

/* Read a number or a name of field f at *p; return it, or -1. */
static int
cron_value(const struct cron_field *f, const char **p)
{
	const char	*s = *p;
	long		 value;
	char		*end;
	int		 i;

	if (isdigit((unsigned char)*s)) {
		value = strtol(s, &end, 10);
		if (end - s > 4)
			return -1;
		*p = end;
		return (int)value;
	}
	for (i = 0; f->names != NULL && f->names[i] != NULL; i++) {
		if (strncasecmp(s, f->names[i], 3) == 0 &&
		    !isalpha((unsigned char)s[3])) {
			*p = s + 3;
			return f->min + i;
		}
	}
	return -1;
}

/* Parse one item of a list: "*", "a", "a-b", each with "/step". */
static int
cron_item(const struct cron_field *f, const char *item, size_t len,
    uint64_t *bits, char *error, size_t error_size)
{
	char		 text[64];
	const char	*p = text;
	int		 lo, hi, step = 1, v;

	if (len == 0 || len >= sizeof text)
		goto invalid;
	memcpy(text, item, len);
	text[len] = '\0';
	if (*p == '*') {
		lo = f->min;
		hi = f->max;
		p++;
	} else {
		if ((lo = cron_value(f, &p)) == -1)
			goto invalid;
		hi = lo;
		if (*p == '-') {
			p++;
			if ((hi = cron_value(f, &p)) == -1)
				goto invalid;
		} else if (*p == '/')
			hi = f->max;
	}
	if (*p == '/') {
		p++;
		if (!isdigit((unsigned char)*p) ||
		    (step = cron_value(f, &p)) < 1 || step > f->max) {
			snprintf(error, error_size, "%s field \"%s\": invalid "
			    "step", f->name, text);
			return -1;
		}
	}
	if (*p != '\0')
		goto invalid;
	if (lo < f->min || hi > f->max || lo > hi) {
		snprintf(error, error_size, "%s field \"%s\": out of range "
		    "(%d to %d)", f->name, text, f->min, f->max);
		return -1;
	}
	for (v = lo; v <= hi; v += step)
		*bits |= (uint64_t)1 << v;
	return 0;

invalid:
	snprintf(error, error_size, "%s field \"%.*s\": expected \"*\", a "
	    "value, a range \"a-b\" or a step \"/n\"", f->name,
	    (int)(len < 40 ? len : 40), item);
	return -1;
}

/* Parse a comma-separated field into bits. */
static int
cron_field_parse(const struct cron_field *f, const char *text, size_t len,
    uint64_t *bits, char *error, size_t error_size)
{
	const char	*item = text, *comma;

	*bits = 0;
	for (;;) {
		comma = memchr(item, ',', len - (size_t)(item - text));
		if (comma == NULL)
			comma = text + len;
		if (cron_item(f, item, (size_t)(comma - item), bits, error,
		    error_size) == -1)
			return -1;
		if (comma == text + len)
			return 0;
		item = comma + 1;
	}
}

static int
cron_parse_every(const char *text, struct hd_cron *cron, char *error,
    size_t error_size)
{
	int64_t	ms;

	while (*text == ' ' || *text == '\t')
		text++;
	if (hd_parse_duration_ms(text, &ms) != 0 || ms < 1000 ||
	    ms % 1000 != 0) {
		snprintf(error, error_size, "\"@every %s\": expected a "
		    "duration of whole seconds, at least 1s, such as \"30s\"",
		    text);
		return -1;
	}
	cron->every_s = ms / 1000;
	return 0;
}

int
hd_cron_parse(const char *text, struct hd_cron *cron, char *error,
    size_t error_size)
{
	const char	*p, *start[5];
	size_t		 len[5], i;
	uint64_t	 bits[5];
	int		 n = 0;

	memset(cron, 0, sizeof *cron);
	if (strncmp(text, "@every", 6) == 0 &&
	    (text[6] == ' ' || text[6] == '\t'))
		return cron_parse_every(text + 6, cron, error, error_size);
	for (i = 0; i < sizeof cron_shortcuts / sizeof cron_shortcuts[0]; i++)
		if (strcmp(text, cron_shortcuts[i].name) == 0)
			text = cron_shortcuts[i].expression;
	if (text[0] == '@') {
		snprintf(error, error_size, "unrecognized shortcut \"%s\"; "
		    "use @yearly, @monthly, @weekly, @daily, @hourly or "
		    "@every", text);
		return -1;
	}

	for (p = text; *p != '\0';) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == 5) {
			n++;
			break;
		}
		start[n] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		len[n] = (size_t)(p - start[n]);
		n++;
	}
	if (n != 5) {
		snprintf(error, error_size, "\"%s\" has %s fields; expected "
		    "five (minute hour day-of-month month day-of-week) or a "
		    "shortcut such as @daily", text, n > 5 ? "more than five" :
		    "fewer than five");
		return -1;
	}
	for (i = 0; i < 5; i++)
		if (cron_field_parse(&cron_fields[i], start[i], len[i],
		    &bits[i], error, error_size) == -1)
			return -1;

	cron->minutes = bits[0];
	cron->hours = (uint32_t)bits[1];
	cron->days = (uint32_t)bits[2];
	cron->months = (uint16_t)bits[3];
	/* Day of week 7 is Sunday, like 0. */
	cron->weekdays = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);
	cron->days_any = start[2][0] == '*';
	cron->weekdays_any = start[4][0] == '*';
	return 0;
}

bool
hd_cron_zone_valid(const char *zone)
{
	const char	*dir = getenv("TZDIR");
	char		 path[4096], magic[4];
	FILE		*f;
	bool		 valid;

	if (zone == NULL || zone[0] == '\0' || zone[0] == '/' ||
	    strstr(zone, "..") != NULL || strlen(zone) > 255)
		return false;
	if (dir == NULL || dir[0] == '\0')
		dir = CRON_ZONEINFO;
	snprintf(path, sizeof path, "%s/%s", dir, zone);
	if ((f = fopen(path, "re")) == NULL)
		return strcmp(zone, "UTC") == 0;
	valid = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return valid;
}

/* TZ as it was before zone_enter(), restored by zone_leave(). */
struct zone_saved {
	char	*tz;
	bool	 set;
};

static void
zone_enter(const char *zone, struct zone_saved *saved)
{
	const char	*tz = getenv("TZ");

	saved->set = tz != NULL;
	saved->tz = tz != NULL ? strdup(tz) : NULL;
	setenv("TZ", zone != NULL ? zone : "UTC", 1);
	tzset();
}

static void
zone_leave(struct zone_saved *saved)
{
	if (saved->set && saved->tz != NULL)
		setenv("TZ", saved->tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved->tz);
}

/* Return the wall seconds of instant t in the current zone. */
static int64_t
zone_wall(int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	localtime_r(&tt, &tm);
	return t + tm.tm_gmtoff;
}

/*
 * Return the instant whose wall time is w: the first of two when the
 * wall time repeats, and the end of the gap when it is skipped.  The
 * offsets before and after w come from instants 16 hours away, which
 * assumes at most one change of offset within 32 hours.
 */
static int64_t
zone_instant(int64_t w)
{
	int64_t	t1, t2, lo, hi, mid, best = -1;

	t1 = w - (zone_wall(w - 16 * 3600) - (w - 16 * 3600));
	t2 = w - (zone_wall(w + 16 * 3600) - (w + 16 * 3600));
	if (zone_wall(t1) == w)
		best = t1;
	if (zone_wall(t2) == w && (best == -1 || t2 < best))
		best = t2;
	if (best != -1)
		return best;

	/* Skipped: find the first instant whose wall time is past w. */
	lo = t1 < t2 ? t1 : t2;
	hi = t1 < t2 ? t2 : t1;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (zone_wall(mid) > w)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

static bool
cron_day_matches(const struct hd_cron *cron, const struct tm *tm)
{
	bool	day = (cron->days >> tm->tm_mday) & 1;
	bool	weekday = (cron->weekdays >> tm->tm_wday) & 1;

	if (cron->days_any || cron->weekdays_any)
		return day && weekday;
	return day || weekday;
}

/* The first slot strictly after after, with TZ set to the zone. */
static int64_t
cron_next_in_zone(const struct hd_cron *cron, int64_t after)
{
	struct tm	tm;
	time_t		tt;
	int64_t		w, end, t;

	if (cron->every_s > 0)
		return (after / cron->every_s + 1) * cron->every_s;
	w = zone_wall(after + 1);
	if (w % 60 != 0)
		w += 60 - w % 60;
	end = w + (int64_t)HD_CRON_SEARCH_YEARS * 366 * 86400;
	while (w < end) {
		tt = (time_t)w;
		gmtime_r(&tt, &tm);
		tm.tm_sec = 0;
		if (!((cron->months >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!cron_day_matches(cron, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!((cron->hours >> tm.tm_hour) & 1)) {
			tm.tm_hour++;
			tm.tm_min = 0;
		} else if (!((cron->minutes >> tm.tm_min) & 1))
			tm.tm_min++;
		else {
			t = zone_instant(w);
			if (t > after)
				return t;
			tm.tm_min++;
		}
		w = (int64_t)timegm(&tm);
	}
	return -1;
}

int64_t
hd_cron_next(const struct hd_cron *cron, const char *zone, int64_t after)
{
	struct zone_saved	saved;
	int64_t			t;

	if (cron->every_s > 0)
		return cron_next_in_zone(cron, after);
	zone_enter(zone, &saved);
	t = cron_next_in_zone(cron, after);
	zone_leave(&saved);
	return t;
}

/* The last slot up to now, going forward from slot s <= now. */
static int64_t
cron_last_from(const struct hd_cron *cron, int64_t s, int64_t now)
{
	int64_t	n;

	while ((n = cron_next_in_zone(cron, s)) != -1 && n <= now)
		s = n;
	return s;
}

/*
 * Search the last day first, so that a frequent schedule after a long
 * pause does not walk every slot since after; before that day the
 * schedule has no slot, so the walk from after is short.
 */
static int64_t
cron_latest_in_zone(const struct hd_cron *cron, int64_t after, int64_t now)
{
	int64_t	from = now - 86400 > after ? now - 86400 : after;
	int64_t	s;

	if (cron->every_s > 0) {
		s = now - now % cron->every_s;
		return s > after ? s : -1;
	}
	s = cron_next_in_zone(cron, from);
	if (s != -1 && s <= now)
		return cron_last_from(cron, s, now);
	if (from == after)
		return -1;
	s = cron_next_in_zone(cron, after);
	if (s == -1 || s > now)
		return -1;
	return cron_last_from(cron, s, now);
}

int64_t
hd_cron_latest(const struct hd_cron *cron, const char *zone, int64_t after,
    int64_t now)
{
	struct zone_saved	saved;
	int64_t			t;

	if (now <= after)
		return -1;
	if (cron->every_s > 0)
		return cron_latest_in_zone(cron, after, now);
	zone_enter(zone, &saved);
	t = cron_latest_in_zone(cron, after, now);
	zone_leave(&saved);
	return t;
}
