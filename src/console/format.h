/*
 * format.h: text of durations, times and retry schedules for the console.
 *
 * Pure functions without curses or a database, so they are unit-tested
 * alone.  Each writes a NUL-terminated string into the caller's buffer and
 * truncates it to fit.  Times are Unix seconds and are shown in the local
 * time zone.
 */

#ifndef HD_FORMAT_H
#define HD_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <wchar.h>

/* "in 40s", "12s ago", or "now" within a second either way. */
void	hd_fmt_relative(int64_t delta_ms, char *buf, size_t size);

/* An age such as a heartbeat's: "0s" under a second, else "40s", "1m20s". */
void	hd_fmt_age(int64_t ms, char *buf, size_t size);

/*
 * A wall-clock time seen from now: "14:23" on the same day, "Tue 14:23"
 * within the coming or past six days, else "2026-03-04 14:23".
 */
void	hd_fmt_clock(time_t when, time_t now, char *buf, size_t size);

/*
 * The rest of a retry schedule after the next attempt: the n delays of
 * hd_backoff_schedule() and when the job dies if every attempt fails, as
 * "then 1m20s, 2m40s, 5m20s, dead at about 14:23 if every attempt
 * fails".  Delays that do not fit in width columns are replaced by
 * "...", keeping the first ones and the end.  With compact the end reads
 * "dead ~14:23".  With n == 0 the next attempt is the last one: "last
 * attempt, dead if it fails" ("last attempt" when compact).
 */
void	hd_fmt_schedule(const int64_t *delays_ms, int n, time_t dead_at,
	    time_t now, int compact, size_t width, char *buf, size_t size);

/* A count with a noun: "1 dead job", "3 dead jobs". */
void	hd_fmt_count(int64_t n, const char *singular, const char *plural,
	    char *buf, size_t size);

/*
 * Decode text (UTF-8 under a UTF-8 LC_CTYPE) into at most size - 1 wide
 * characters that fit in width columns, NUL-terminated.  Invalid
 * sequences, C0 and C1 controls, DEL and other characters without a
 * width become "?", so stored payloads and handler output cannot move the
 * cursor, change the title or send any other escape sequence.  Store the
 * columns used in *cols and return the characters written.
 */
size_t	hd_text_sanitize(const char *text, int width, wchar_t *buf,
	    size_t size, int *cols);

/*
 * Return how many bytes of the len bytes of text fit in width columns,
 * as hd_text_sanitize() would show them, never splitting a character.
 */
size_t	hd_text_fit(const char *text, size_t len, int width);

#endif /* HD_FORMAT_H */
