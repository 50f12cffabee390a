/*
 * util.h: allocation and time helpers.
 *
 * The x-allocators abort the process when memory runs out; libherald's
 * public functions do not use them, since they must not exit.
 */

#ifndef HD_UTIL_H
#define HD_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

void	*hd_xmalloc(size_t size);
void	*hd_xcalloc(size_t n, size_t size);
void	*hd_xrealloc(void *ptr, size_t n, size_t size);
char	*hd_xstrdup(const char *s);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds and microseconds. */
int64_t	 hd_monotonic_ms(void);
int64_t	 hd_realtime_us(void);

/*
 * Return the poll() timeout in ms until deadline_ms, both on
 * CLOCK_MONOTONIC: -1 (wait without limit) when the deadline is
 * INT64_MAX, 0 when it has passed, and at most 60000.
 */
int	 hd_poll_timeout(int64_t deadline_ms, int64_t now_ms);

/*
 * Round ms, which is not negative, to the nearest integer with halves
 * away from zero, as llround() does.  herald needs no other function of
 * libm, whose loading costs each process about 300 KiB of resident
 * memory.
 */
int64_t	 hd_round_ms(double ms);

/* Format a duration in ms as "250ms", "40s", "1m20s", "2h5m". */
void	 hd_format_duration(int64_t ms, char *buf, size_t size);

/*
 * Format value for a person to read: a whole number below 2^53 in full,
 * such as "100000000", else as %g does with the fewest significant
 * digits, 6 to 17, that read back as value.  32 bytes hold any value.
 */
void	 hd_format_double(double value, char *buf, size_t size);

/* Copy this host's name into buf, or "unknown" when it cannot be read. */
void	 hd_hostname(char *buf, size_t size);

/* Fill buf with 2 * nbytes random hex digits and a NUL (an instance id). */
void	 hd_random_hex(char *buf, size_t nbytes);

/*
 * Copy to buf the token that ends a jansson error text, such as "task"
 * with its quotes from "duplicate object key near '"task"'", or the whole
 * text when it names no token.
 */
void	 hd_json_error_token(const char *text, char *buf, size_t size);

/*
 * Write every number outside a string in the len bytes of JSON text as 0
 * padded with spaces, so that a number past the range of a double no
 * longer stops jansson while every other byte keeps its offset.
 */
void	 hd_json_zero_numbers(char *text, size_t len);

/*
 * Return the offset of the first number outside a string of the len
 * bytes of JSON text that PostgreSQL's numeric cannot hold (more than
 * 131072 digits before the decimal point or 16383 after), or -1.
 */
long	 hd_json_numeric_misfit(const char *text, size_t len);

/*
 * Open /dev/null on any of descriptors 0 to 2 that is closed, so that a
 * database connection or file opened later never takes their place and
 * receives what is printed.  It is opened for reading only, so that
 * printing there still fails, as it would on the closed descriptor.
 */
void	 hd_open_standard_fds(void);

/*
 * Return whether s is well-formed UTF-8, as PostgreSQL admits it: no
 * overlong form, surrogate or code point above U+10FFFF.
 */
bool	 hd_utf8_valid(const char *s);

/*
 * Describe in buf what is wrong with the option at which getopt_long()
 * returned c: ':' for a missing argument, or '?'.  options is the table
 * given to getopt_long(), whose option string must start with ':'.
 * An ambiguous abbreviation is described with the options it may mean.
 * name receives the option as written, without any "=value".
 * Return true when no option of that name exists.
 */
struct option;
bool	 hd_option_error(const struct option *options, char **argv, int c,
	    char *name, size_t namesize, char *buf, size_t size);

#endif /* HD_UTIL_H */
