/*
 * util.c: allocation and time helpers.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void
die_nomem(size_t size)
{
	char	buf[96];
	int	len;

	len = snprintf(buf, sizeof buf,
	    "level=error msg=\"out of memory\" size=%zu\n", size);
	if (len > 0)
		(void)write(STDERR_FILENO, buf, (size_t)len);
	abort();
}

void *
hd_xmalloc(size_t size)
{
	void	*ptr;

	ptr = malloc(size == 0 ? 1 : size);
	if (ptr == NULL)
		die_nomem(size);
	return ptr;
}

void *
hd_xcalloc(size_t n, size_t size)
{
	void	*ptr;

	ptr = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
	if (ptr == NULL)
		die_nomem(n * size);
	return ptr;
}

void *
hd_xrealloc(void *ptr, size_t n, size_t size)
{
	void	*new;

	if (size != 0 && n > SIZE_MAX / size)
		die_nomem(SIZE_MAX);
	new = realloc(ptr, n * size == 0 ? 1 : n * size);
	if (new == NULL)
		die_nomem(n * size);
	return new;
}

char *
hd_xstrdup(const char *s)
{
	char	*copy;

	copy = strdup(s);
	if (copy == NULL)
		die_nomem(strlen(s) + 1);
	return copy;
}

int64_t
hd_monotonic_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
hd_realtime_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
hd_format_duration(int64_t ms, char *buf, size_t size)
{
	const char	*sign = "";
	int64_t		 s;

	if (ms < 0) {
		sign = "-";
		ms = -ms;
	}
	if (ms < 1000) {
		snprintf(buf, size, "%s%lldms", sign, (long long)ms);
		return;
	}

	/* Round to whole seconds from here on. */
	s = (ms + 500) / 1000;
	if (s < 60)
		snprintf(buf, size, "%s%llds", sign, (long long)s);
	else if (s < 3600 && s % 60 == 0)
		snprintf(buf, size, "%s%lldm", sign, (long long)(s / 60));
	else if (s < 3600)
		snprintf(buf, size, "%s%lldm%llds", sign, (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400 && s % 3600 / 60 == 0)
		snprintf(buf, size, "%s%lldh", sign, (long long)(s / 3600));
	else if (s < 86400)
		snprintf(buf, size, "%s%lldh%lldm", sign, (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(buf, size, "%s%lldd%lldh", sign, (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
}

void
hd_format_double(double value, char *buf, size_t size)
{
	/* 2^53: every whole number of smaller magnitude is exact. */
	const double	exact_max = 9007199254740992.0;
	int		digits;

	if (value > -exact_max && value < exact_max &&
	    value == (double)(int64_t)value) {
		snprintf(buf, size, "%lld", (long long)value);
		return;
	}
	for (digits = 6; digits < 17; digits++) {
		snprintf(buf, size, "%.*g", digits, value);
		if (strtod(buf, NULL) == value)
			return;
	}
	snprintf(buf, size, "%.17g", value);
}

void
hd_random_hex(char *buf, size_t nbytes)
{
	static const char	 digits[] = "0123456789abcdef";
	unsigned char		 raw[64];
	size_t			 i;

	if (nbytes > sizeof raw)
		nbytes = sizeof raw;
	if (getrandom(raw, nbytes, 0) != (ssize_t)nbytes) {
		/* Without the kernel's generator, time and pid still differ. */
		uint64_t	seed = (uint64_t)hd_realtime_us() ^
		    ((uint64_t)getpid() << 32);

		for (i = 0; i < nbytes; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			raw[i] = (unsigned char)(seed >> 56);
		}
	}
	for (i = 0; i < nbytes; i++) {
		buf[2 * i] = digits[raw[i] >> 4];
		buf[2 * i + 1] = digits[raw[i] & 0xf];
	}
	buf[2 * nbytes] = '\0';
}

void
hd_json_error_token(const char *text, char *buf, size_t size)
{
	const char	*near = strstr(text, " near '");
	size_t		 len;

	if (near == NULL) {
		snprintf(buf, size, "%s", text);
		return;
	}
	near += strlen(" near '");
	len = strlen(near);
	if (len > 0 && near[len - 1] == '\'')
		len--;
	snprintf(buf, size, "%.*s", (int)len, near);
}

int
hd_poll_timeout(int64_t deadline_ms, int64_t now_ms)
{
	if (deadline_ms == INT64_MAX)
		return -1;
	if (deadline_ms <= now_ms)
		return 0;
	return deadline_ms - now_ms > 60000 ? 60000 :
	    (int)(deadline_ms - now_ms);
}

int64_t
hd_round_ms(double ms)
{
	return (int64_t)(ms + 0.5);
}

void
hd_hostname(char *buf, size_t size)
{
	if (gethostname(buf, size) == -1)
		snprintf(buf, size, "unknown");
	buf[size - 1] = '\0';
}

/*
 * Return the length of the JSON number at the start of the len bytes of
 * text, or 0 when none starts there.  The grammar is
 * -? (0 | [1-9][0-9]*) (\. [0-9]+)? ([eE] [+-]? [0-9]+)?.
 */
static size_t
json_number_length(const char *text, size_t len)
{
	size_t	i = 0, digits;

	if (i < len && text[i] == '-')
		i++;
	if (i < len && text[i] == '0')
		i++;
	else if (i < len && text[i] >= '1' && text[i] <= '9') {
		while (i < len && isdigit((unsigned char)text[i]))
			i++;
	} else
		return 0;
	if (i + 1 < len && text[i] == '.' &&
	    isdigit((unsigned char)text[i + 1])) {
		for (i++; i < len && isdigit((unsigned char)text[i]); i++)
			;
	}
	if (i < len && (text[i] == 'e' || text[i] == 'E')) {
		digits = i + 1;
		if (digits < len && (text[digits] == '+' || text[digits] == '-'))
			digits++;
		if (digits < len && isdigit((unsigned char)text[digits])) {
			for (i = digits; i < len &&
			    isdigit((unsigned char)text[i]); i++)
				;
		}
	}
	return i;
}

/*
 * Find the next number outside a string of the len bytes of JSON text
 * from *at: store its offset in *at and its length in *n, and return
 * true, or return false at the end.  *quoted keeps whether *at is inside
 * a string between calls; it starts false.
 */
static bool
json_next_number(const char *text, size_t len, size_t *at, size_t *n,
    bool *quoted)
{
	size_t	i = *at;

	while (i < len) {
		if (*quoted) {
			if (text[i] == '\\')
				i++;
			else if (text[i] == '"')
				*quoted = false;
			i++;
		} else if (text[i] == '"') {
			*quoted = true;
			i++;
		} else if ((*n = json_number_length(text + i, len - i)) > 0) {
			*at = i;
			return true;
		} else
			i++;
	}
	return false;
}

void
hd_json_zero_numbers(char *text, size_t len)
{
	size_t	i = 0, n;
	bool	quoted = false;

	for (; json_next_number(text, len, &i, &n, &quoted); i += n) {
		text[i] = '0';
		memset(text + i + 1, ' ', n - 1);
	}
}

/* PostgreSQL's numeric: digits before the decimal point, and after. */
#define NUMERIC_WEIGHT_DIGITS	131072
#define NUMERIC_SCALE_DIGITS	16383

/* Whether the JSON number of n bytes at text fits PostgreSQL's numeric. */
static bool
json_number_fits(const char *text, size_t n)
{
	size_t		i = 0;
	long long	intdigits = 0, fracdigits = 0, exponent = 0;
	bool		nonzero = false, negative = false;

	if (text[i] == '-')
		i++;
	for (; i < n && isdigit((unsigned char)text[i]); i++)
		if (text[i] != '0' || nonzero) {
			nonzero = true;
			intdigits++;
		}
	if (i < n && text[i] == '.')
		for (i++; i < n && isdigit((unsigned char)text[i]); i++) {
			fracdigits++;
			nonzero |= text[i] != '0';
		}
	if (i < n && (text[i] == 'e' || text[i] == 'E')) {
		i++;
		if (i < n && (text[i] == '+' || text[i] == '-'))
			negative = text[i++] == '-';
		for (; i < n && isdigit((unsigned char)text[i]); i++)
			if (exponent < 1000000000)
				exponent = exponent * 10 + (text[i] - '0');
		if (negative)
			exponent = -exponent;
	}
	if (fracdigits - exponent > NUMERIC_SCALE_DIGITS)
		return false;
	return !nonzero || intdigits + exponent <= NUMERIC_WEIGHT_DIGITS;
}

long
hd_json_numeric_misfit(const char *text, size_t len)
{
	size_t	i = 0, n;
	bool	quoted = false;

	for (; json_next_number(text, len, &i, &n, &quoted); i += n)
		if (!json_number_fits(text + i, n))
			return (long)i;
	return -1;
}

void
hd_open_standard_fds(void)
{
	int	fd;

	/* Read-only, so that a write to 1 or 2 fails as to a closed one. */
	while ((fd = open("/dev/null", O_RDONLY)) != -1 && fd <= 2)
		continue;
	if (fd > 2)
		close(fd);
}

bool
hd_utf8_valid(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp, min;
	int			 n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
			min = 0x80;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
			min = 0x800;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
			min = 0x10000;
		} else
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/*
 * List in buf the options that arg abbreviates, as "--check or --config"
 * or "--a, --b or --c", and return true when there are two or more.
 * arg is a long option's name of len bytes, without its dashes.
 */
static bool
option_ambiguous(const struct option *options, const char *arg, size_t len,
    char *buf, size_t size)
{
	const struct option	*o;
	size_t			 used = 0;
	int			 matches = 0, i = 0;

	for (o = options; o->name != NULL; o++)
		if (strncmp(o->name, arg, len) == 0)
			matches++;
	if (matches < 2)
		return false;
	buf[0] = '\0';
	for (o = options; o->name != NULL && used < size; o++)
		if (strncmp(o->name, arg, len) == 0)
			used += (size_t)snprintf(buf + used, size - used,
			    "%s--%s", ++i == 1 ? "" : i == matches ? " or " :
			    ", ", o->name);
	return true;
}

/*
 * Return whether arg, a long option as written, names one option of
 * options, whole or by a unique abbreviation, and uses it rightly for a
 * result c of getopt_long().
 */
static bool
long_option_ok(const struct option *options, const char *arg, int c)
{
	const struct option	*o, *found = NULL;
	size_t			 len = strcspn(arg + 2, "=");

	if (len == 0)
		return false;
	for (o = options; o->name != NULL; o++) {
		if (strncmp(o->name, arg + 2, len) != 0)
			continue;
		if (strlen(o->name) == len) {
			found = o;
			break;
		}
		if (found != NULL)
			return false;
		found = o;
	}
	if (found == NULL)
		return false;
	if (arg[2 + len] == '=' && found->has_arg == no_argument)
		return false;
	return !(c == ':' && arg[2 + len] != '=' &&
	    found->has_arg == required_argument);
}

bool
hd_option_error(const struct option *options, char **argv, int c,
    char *name, size_t namesize, char *buf, size_t size)
{
	const char	*arg = argv[optind - 1];
	char		 list[256];
	size_t		 len;

	/*
	 * A letter inside a group such as -zv leaves optind on the group,
	 * so argv[optind - 1] is the argument before it, which may be a
	 * long option used rightly.
	 */
	if (optind > 1 && strncmp(arg, "--", 2) == 0 &&
	    long_option_ok(options, arg, c) && argv[optind] != NULL &&
	    argv[optind][0] == '-' && argv[optind][1] != '-')
		arg = argv[optind];
	if (strncmp(arg, "--", 2) != 0) {
		/* For a short option, glibc sets optopt to its letter. */
		snprintf(name, namesize, "-%c", optopt);
		snprintf(buf, size, c == ':' ? "option \"%s\" requires an "
		    "argument" : "unrecognized option \"%s\"", name);
		return c != ':';
	}
	len = strcspn(arg, "=");
	snprintf(name, namesize, "%.*s", (int)len, arg);
	if (c == ':')
		snprintf(buf, size, "option \"%s\" requires an argument",
		    name);
	/* glibc sets optopt for a known option given a value. */
	else if (arg[len] == '=' && optopt != 0)
		snprintf(buf, size, "option \"%s\" takes no argument", name);
	else if (len > 2 && option_ambiguous(options, arg + 2, len - 2, list,
	    sizeof list))
		snprintf(buf, size, "option \"%s\" is ambiguous: it may be "
		    "%s", name, list);
	else {
		snprintf(buf, size, "unrecognized option \"%s\"", name);
		return true;
	}
	return false;
}
