/*
 * log.c: logfmt lines on standard error.
 *
 * The field format is a printf format, so the compiler checks it, but it
 * is interpreted here rather than by vsnprintf: each %s value is quoted
 * and escaped, so a value with a space, a quote or a newline stays one
 * value on one line.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"

enum hd_log_level hd_log_threshold = HD_LOG_INFO;

static const char *log_role = "herald";

/* Standard error is journald's stream: prefix lines with "<N>". */
static bool log_journal;

/* Length of "time=2026-12-05T07:20:01.123Z ", which starts each line. */
#define LOG_TIME_LEN	30

static const char *const log_level_names[] = {
	[HD_LOG_ERROR] = "error",
	[HD_LOG_WARN] = "warn",
	[HD_LOG_INFO] = "info",
	[HD_LOG_DEBUG] = "debug",
};

/* The syslog priority of each level, as sd-daemon(3) prefixes expect. */
static const char log_level_priorities[] = {
	[HD_LOG_ERROR] = '3',
	[HD_LOG_WARN] = '4',
	[HD_LOG_INFO] = '6',
	[HD_LOG_DEBUG] = '7',
};

/* An output buffer that stops at its end and remembers that it did. */
struct log_buf {
	char	*data;
	size_t	 size;		/* room, including the terminating NUL */
	size_t	 len;
	int	 truncated;
};

/* Where lines go: standard error, unless hd_log_set_fd() moved them. */
static int	log_fd = STDERR_FILENO;

void
hd_log_set_fd(int fd)
{
	log_fd = fd;
}

void
hd_log_init(const char *role, enum hd_log_level threshold)
{
	log_role = role;
	hd_log_threshold = threshold;
	log_journal = hd_log_is_journal(STDERR_FILENO);
}

bool
hd_log_is_journal(int fd)
{
	const char	*env = getenv("JOURNAL_STREAM");
	uintmax_t	 dev, ino;
	struct stat	 st;
	char		 tail;

	if (env == NULL || sscanf(env, "%ju:%ju%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(fd, &st) == -1)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void
hd_log_set_role(const char *role)
{
	log_role = role;
}

int
hd_log_level_parse(const char *name, enum hd_log_level *level)
{
	size_t	i;

	for (i = 0; i < sizeof log_level_names / sizeof log_level_names[0];
	    i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*level = (enum hd_log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
hd_log_level_name(enum hd_log_level level)
{
	if ((size_t)level >= sizeof log_level_names / sizeof log_level_names[0])
		return "unknown";
	return log_level_names[level];
}

static void
buf_putc(struct log_buf *b, char c)
{
	if (b->len + 1 < b->size)
		b->data[b->len++] = c;
	else
		b->truncated = 1;
}

static void
buf_puts(struct log_buf *b, const char *s)
{
	while (*s != '\0')
		buf_putc(b, *s++);
}

/* Append a value produced by snprintf with one conversion. */
static void
buf_printf(struct log_buf *b, const char *fmt, ...)
{
	char	tmp[64];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	buf_puts(b, tmp);
}

/*
 * Append s as a logfmt value: bare when it is non-empty and has no space,
 * quote, equals sign or control character, else in double quotes with \",
 * \\, \n, \r, \t and \xHH escapes.
 */
static void
buf_put_value(struct log_buf *b, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p;
	int			 quote;

	if (s == NULL) {
		buf_puts(b, "null");
		return;
	}
	quote = (s[0] == '\0');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' ||
		    *p == 0x7f) {
			quote = 1;
			break;
		}
	}
	if (!quote) {
		buf_puts(b, s);
		return;
	}

	buf_putc(b, '"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			buf_puts(b, "\\\"");
			break;
		case '\\':
			buf_puts(b, "\\\\");
			break;
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		default:
			if (*p < ' ' || *p == 0x7f) {
				buf_puts(b, "\\x");
				buf_putc(b, hex[*p >> 4]);
				buf_putc(b, hex[*p & 0xf]);
			} else
				buf_putc(b, (char)*p);
		}
	}
	buf_putc(b, '"');
}

/*
 * Append one conversion of fields starting at *fmtp (just past '%') and
 * advance *fmtp past it.  Only the conversions listed in log.h are known;
 * anything else is printed as "?" so a wrong format cannot misread the
 * argument list further than one value.
 */
static void
buf_put_conversion(struct log_buf *b, const char **fmtp, va_list *ap)
{
	const char	*f = *fmtp;
	char		 spec[16];
	int		 precision = -1;

	if (*f == '%') {
		buf_putc(b, '%');
		*fmtp = f + 1;
		return;
	}
	if (f[0] == '.' && f[1] >= '0' && f[1] <= '9') {
		precision = f[1] - '0';
		f += 2;
	}

	if (strncmp(f, "lld", 3) == 0 || strncmp(f, "lli", 3) == 0) {
		buf_printf(b, "%lld", va_arg(*ap, long long));
		f += 3;
	} else if (strncmp(f, "llu", 3) == 0) {
		buf_printf(b, "%llu", va_arg(*ap, unsigned long long));
		f += 3;
	} else if (strncmp(f, "ld", 2) == 0 || strncmp(f, "li", 2) == 0) {
		buf_printf(b, "%ld", va_arg(*ap, long));
		f += 2;
	} else if (strncmp(f, "lu", 2) == 0) {
		buf_printf(b, "%lu", va_arg(*ap, unsigned long));
		f += 2;
	} else if (strncmp(f, "zu", 2) == 0) {
		buf_printf(b, "%zu", va_arg(*ap, size_t));
		f += 2;
	} else if (*f == 'd' || *f == 'i') {
		buf_printf(b, "%d", va_arg(*ap, int));
		f++;
	} else if (*f == 'u') {
		buf_printf(b, "%u", va_arg(*ap, unsigned int));
		f++;
	} else if (*f == 'x') {
		buf_printf(b, "%x", va_arg(*ap, unsigned int));
		f++;
	} else if (*f == 'c') {
		char	s[2] = { (char)va_arg(*ap, int), '\0' };

		buf_put_value(b, s);
		f++;
	} else if (*f == 'f') {
		snprintf(spec, sizeof spec, "%%.%df",
		    precision < 0 ? 6 : precision);
		buf_printf(b, spec, va_arg(*ap, double));
		f++;
	} else if (*f == 's') {
		const char	*s = va_arg(*ap, const char *);

		if (s == NULL)
			buf_puts(b, "null");
		else
			buf_put_value(b, s);
		f++;
	} else {
		buf_putc(b, '?');
		if (*f != '\0')
			f++;
	}
	*fmtp = f;
}

size_t
hd_log_format(char *out, size_t size, enum hd_log_level level,
    const char *msg, const char *fields, va_list ap)
{
	struct log_buf	 b = { out, size, 0, 0 };
	const char	*f;
	va_list		 aq;
	char		 pid[24];

	if (size == 0)
		return 0;

	buf_puts(&b, "level=");
	buf_puts(&b, hd_log_level_name(level));
	buf_puts(&b, " msg=");
	buf_put_value(&b, msg);
	buf_puts(&b, " role=");
	buf_put_value(&b, log_role);
	snprintf(pid, sizeof pid, " pid=%ld", (long)getpid());
	buf_puts(&b, pid);

	if (fields != NULL && fields[0] != '\0') {
		buf_putc(&b, ' ');
		va_copy(aq, ap);
		for (f = fields; *f != '\0';) {
			if (*f == '%') {
				f++;
				buf_put_conversion(&b, &f, &aq);
			} else
				buf_putc(&b, *f++);
		}
		va_end(aq);
	}

	if (b.truncated) {
		/* Make room for the marker by cutting the line shorter. */
		static const char	marker[] = " truncated=1";

		if (b.size > sizeof marker)
			b.len = b.size - sizeof marker;
		else
			b.len = 0;
		b.truncated = 0;
		buf_puts(&b, marker);
	}
	out[b.len] = '\0';
	return b.len;
}

/*
 * Write "time=2026-12-05T07:20:01.123Z " for the current time in UTC to
 * out, which has room for LOG_TIME_LEN bytes, and return LOG_TIME_LEN, or
 * 0 when the clock cannot be read or the year has more than four digits.
 * The date is computed from the seconds since the epoch, with no time
 * zone data and no call that may take a lock.
 */
static size_t
log_time(char *out)
{
	struct timespec	ts;
	long long	days, era, doe, yoe, doy, mp, year, month, day, secs;
	char		stamp[96];
	int		n;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 || ts.tv_sec < 0)
		return 0;
	days = (long long)ts.tv_sec / 86400;
	secs = (long long)ts.tv_sec % 86400;

	/* Days since 1970-01-01 to a civil date, in eras of 400 years. */
	days += 719468;
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	year = yoe + era * 400 + (month <= 2);

	n = snprintf(stamp, sizeof stamp,
	    "time=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", (int)year,
	    (int)month, (int)day, (int)(secs / 3600), (int)(secs / 60 % 60),
	    (int)(secs % 60), (int)(ts.tv_nsec / 1000000));
	if (n != LOG_TIME_LEN)
		return 0;
	memcpy(out, stamp, LOG_TIME_LEN);
	return LOG_TIME_LEN;
}

void
hd_vlog(enum hd_log_level level, const char *msg, const char *fields,
    va_list ap)
{
	char	line[LOG_TIME_LEN + 1 + HD_LOG_LINE_MAX + 1];
	size_t	len = 0;

	if (level > hd_log_threshold)
		return;

	if (log_journal && (size_t)level < sizeof log_level_priorities) {
		line[len++] = '<';
		line[len++] = log_level_priorities[level];
		line[len++] = '>';
	} else if (!log_journal)
		len = log_time(line);
	len += hd_log_format(line + len, HD_LOG_LINE_MAX, level, msg, fields,
	    ap);
	line[len++] = '\n';

	/* One write(2): a pipe keeps lines up to PIPE_BUF bytes whole. */
	(void)write(log_fd, line, len);
}

void
hd_log(enum hd_log_level level, const char *msg, const char *fields, ...)
{
	va_list	ap;

	va_start(ap, fields);
	hd_vlog(level, msg, fields, ap);
	va_end(ap);
}
