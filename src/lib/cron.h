/*
 * cron.h: schedules of periodic jobs.
 *
 * A schedule is a cron expression of five fields (minute, hour, day of
 * month, month, day of week), one of the shortcuts @yearly (@annually),
 * @monthly, @weekly, @daily (@midnight) and @hourly, or "@every
 * DURATION" for slots at multiples of DURATION since the Unix epoch.
 * Fields take "*", numbers, ranges "a-b", lists "a,b" and steps "/n";
 * months and days of the week also take three-letter English names, and
 * day of week 7 is Sunday like 0.  When both day fields are restricted,
 * a day matching either one matches, as in every cron since Vixie's.
 *
 * Slots are instants (Unix seconds).  A five-field schedule is read in a
 * time zone of the tz database: a local time that a daylight-saving
 * change skips runs once, at the first instant after the gap; a local
 * time that occurs twice runs once, at its first occurrence.
 *
 * hd_cron_next() and hd_cron_latest() set the TZ environment variable
 * while they run and restore it, so they are not thread-safe: call them
 * only in single-threaded processes (heraldd's janitor, the herald
 * command, tests).
 */

#ifndef HD_CRON_H
#define HD_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slots further than this from the start of a search are not found. */
#define HD_CRON_SEARCH_YEARS	8

struct hd_cron {
	uint64_t	 minutes;	/* bit n: minute n, 0 .. 59 */
	uint32_t	 hours;		/* 0 .. 23 */
	uint32_t	 days;		/* 1 .. 31 */
	uint16_t	 months;	/* 1 .. 12 */
	uint8_t		 weekdays;	/* 0 .. 6, Sunday 0 */
	bool		 days_any;	/* the day-of-month field was "*" */
	bool		 weekdays_any;	/* the day-of-week field was "*" */
	int64_t		 every_s;	/* > 0 for "@every"; the rest unused */
};

/*
 * Parse text into cron.  Return 0, or -1 with a message such as
 * "minute field \"61\": 61 is out of range (0 to 59)" in error.
 */
int	hd_cron_parse(const char *text, struct hd_cron *cron, char *error,
	    size_t error_size);

/*
 * Return whether zone names a time zone of the tz database ("UTC",
 * "Europe/Berlin"): a readable TZif file under $TZDIR or
 * /usr/share/zoneinfo.
 */
bool	hd_cron_zone_valid(const char *zone);

/*
 * Return the first slot of cron in zone (NULL: UTC) strictly after the
 * instant after, or -1 when there is none within HD_CRON_SEARCH_YEARS
 * (such as "0 0 30 2 *").
 */
int64_t	hd_cron_next(const struct hd_cron *cron, const char *zone,
	    int64_t after);

/*
 * Return the last slot s of cron in zone with after < s <= now, or -1
 * when there is none.
 */
int64_t	hd_cron_latest(const struct hd_cron *cron, const char *zone,
	    int64_t after, int64_t now);

#endif /* HD_CRON_H */
