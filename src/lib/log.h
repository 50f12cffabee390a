/*
 * log.h: logfmt lines on standard error.
 *
 * Each call writes one line with a single write(2):
 *
 *	level=info msg="job completed" role=worker pid=812 job_id=42 ...
 *
 * msg is a fixed lowercase phrase.  The fields are given as a printf
 * format of "key=%conversion" pairs separated by spaces; every %s value
 * is quoted and escaped as logfmt requires, so a value can never break
 * the line or forge a field.  Supported conversions: %s, %c, %d, %i, %u,
 * %x, %ld, %lu, %lld, %llu, %zu, %f and %.Nf, %%.  Lines longer than
 * HD_LOG_LINE_MAX are cut and end with "truncated=1".
 *
 * When standard error is the journal's stream (systemd sets JOURNAL_STREAM
 * to its device and inode), each line starts with the syslog priority of
 * its level, "<3>" for error to "<7>" for debug, so that journald stores
 * the priority and `journalctl -p` filters on it.  Elsewhere each line
 * starts with the time in UTC, "time=2026-12-05T07:20:01.123Z", since
 * nothing else records it.
 *
 * Never pass a payload, handler output, a server error message or a
 * conninfo string as a value: log lines are read by more people than
 * the job database, and these can hold personal data or secrets.
 */

#ifndef HD_LOG_H
#define HD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#define HD_LOG_LINE_MAX	2048

enum hd_log_level {
	HD_LOG_ERROR = 0,
	HD_LOG_WARN,
	HD_LOG_INFO,
	HD_LOG_DEBUG
};

extern enum hd_log_level hd_log_threshold;

/*
 * Set the role and level; the role ("heraldd", "worker") names the
 * process.  Also check whether standard error is the journal's stream.
 */
void	hd_log_init(const char *role, enum hd_log_level threshold);
void	hd_log_set_role(const char *role);
/*
 * Write lines to fd, a copy of standard error, so that standard error
 * itself can be closed to others (a worker's modules).
 */
void	hd_log_set_fd(int fd);

/* Parse "error", "warn", "info" or "debug"; -1 when none matches. */
int	hd_log_level_parse(const char *name, enum hd_log_level *level);
const char *hd_log_level_name(enum hd_log_level level);

/*
 * Return whether fd is the stream that $JOURNAL_STREAM names as
 * "DEVICE:INODE", that is, whether its lines go to journald.
 */
bool	hd_log_is_journal(int fd);

void	hd_log(enum hd_log_level level, const char *msg, const char *fields,
	    ...) __attribute__((format(printf, 3, 4)));
void	hd_vlog(enum hd_log_level level, const char *msg, const char *fields,
	    va_list ap) __attribute__((format(printf, 3, 0)));

/*
 * Format one line into buf (always NUL-terminated, without the newline)
 * and return its length; used by hd_vlog and the tests.
 */
size_t	hd_log_format(char *buf, size_t size, enum hd_log_level level,
	    const char *msg, const char *fields, va_list ap)
	    __attribute__((format(printf, 5, 0)));

/* The level macros skip formatting when the level is off. */
#define hd_log_at(level, ...) do {					\
	if ((level) <= hd_log_threshold)				\
		hd_log((level), __VA_ARGS__);				\
} while (0)
#define hd_log_error(...)	hd_log_at(HD_LOG_ERROR, __VA_ARGS__)
#define hd_log_warn(...)	hd_log_at(HD_LOG_WARN, __VA_ARGS__)
#define hd_log_info(...)	hd_log_at(HD_LOG_INFO, __VA_ARGS__)
#define hd_log_debug(...)	hd_log_at(HD_LOG_DEBUG, __VA_ARGS__)

#endif /* HD_LOG_H */
