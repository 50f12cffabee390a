/*
 * config.c: read and check herald.conf with libconfig.
 *
 * The file is checked whole before anything uses it: every setting's type
 * and range, unknown settings (a misspelt name would otherwise be ignored
 * in silence), and the references between queues, tasks and events.  The
 * first problem found is reported with the file, the line and the path of
 * the setting.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <libconfig.h>

#include "herald.h"
#include "config.h"
#include "conninfo.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

#define QUEUE_WORKERS_MAX	256
#define QUEUE_CONCURRENCY_MAX	1024
#define LIMIT_ADDRESS_SPACE_MIN	(1024 * 1024)
#define LIMIT_OPEN_FILES_MAX	(1024 * 1024)

/*
 * The state of one load: the file, where the first error goes, and where
 * the others go, one per line, when the caller wants them.
 */
struct config_reader {
	const char		*path;
	char			*error;
	size_t			 error_size;
	FILE			*more;
	int			 nerrors;
	/* The top level's user, group and limits, which tasks inherit. */
	struct hd_isolation	 defaults;
	const config_setting_t	*user_setting;
	const config_setting_t	*group_setting;
	/* The top level's user or group does not exist, reported once. */
	bool			 defaults_failed;
};

static int	read_top(struct config_reader *, config_t *, struct hd_config *);
static void	read_queues(struct config_reader *, const config_setting_t *,
		    struct hd_config *);
static void	read_tasks(struct config_reader *, const config_setting_t *,
		    struct hd_config *);
static int	read_periodic(struct config_reader *,
		    const config_setting_t *, struct hd_config *);
static int	read_events(struct config_reader *, const config_setting_t *,
		    struct hd_config *);
static int	read_retention(struct config_reader *,
		    const config_setting_t *, struct hd_config *);
static int	read_restart_limit(struct config_reader *,
		    const config_setting_t *, struct hd_config *);
static int	read_isolation(struct config_reader *,
		    const config_setting_t *, struct hd_isolation *);
static void	isolation_release(struct hd_isolation *);
static void	escape_controls(char *, size_t);
static char	*read_text(const char *, size_t *, char *, size_t);

/* Report a problem with setting s, or with the file when s is NULL. */
static int __attribute__((format(printf, 3, 4)))
config_fail(struct config_reader *r, const config_setting_t *s,
    const char *fmt, ...)
{
	char	 message[HD_CONFIG_ERROR_MAX], full[2 * HD_CONFIG_ERROR_MAX];
	char	 where[256] = "";
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);

	/* The root group has no name and no line: report the file alone. */
	if (s != NULL && config_setting_parent(s) != NULL) {
		const config_setting_t	*p;
		char			 path[200] = "";
		char			 tmp[200];

		/* Build "tasks.mail.retry.factor" from the leaf upwards. */
		for (p = s; p != NULL && config_setting_parent(p) != NULL;
		    p = config_setting_parent(p)) {
			const char	*name = config_setting_name(p);
			char		 index[16];

			if (name == NULL) {
				snprintf(index, sizeof index, "[%d]",
				    config_setting_index(p));
				name = index;
				snprintf(tmp, sizeof tmp, "%s%s", name, path);
			} else
				snprintf(tmp, sizeof tmp, "%s%s%s", name,
				    path[0] == '\0' || path[0] == '[' ? "" : ".",
				    path);
			memcpy(path, tmp, sizeof path);
		}
		snprintf(where, sizeof where, "%u: %s: ",
		    config_setting_source_line(s), path);
	}
	/* A setting of an included file names that file. */
	snprintf(full, sizeof full, "%s:%s%s", s != NULL &&
	    config_setting_source_file(s) != NULL ?
	    config_setting_source_file(s) : r->path,
	    where[0] == '\0' ? " " : where, message);
	if (r->nerrors++ == 0)
		snprintf(r->error, r->error_size, "%s", full);
	else if (r->more != NULL) {
		escape_controls(full, sizeof full);
		fprintf(r->more, "%s\n", full);
	}
	return -1;
}

int
hd_parse_duration_ms(const char *text, int64_t *ms)
{
	char	*end;
	double	 value, unit;

	while (isspace((unsigned char)*text))
		text++;
	if (*text == '\0' || *text == '-' || *text == '+')
		return -1;

	errno = 0;
	value = strtod(text, &end);
	if (errno != 0 || end == text || !isfinite(value) || value < 0)
		return -1;

	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		unit = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		unit = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		unit = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		unit = 24 * 3600 * 1000;
	else
		return -1;

	value *= unit;
	if (value > (double)HD_DURATION_MAX_MS)
		return -2;
	*ms = hd_round_ms(value);
	return 0;
}

const char *
hd_config_default_path(const char *explicit_path)
{
	const char	*env;

	if (explicit_path != NULL)
		return explicit_path;
	env = getenv("HERALD_CONFIG");
	if (env != NULL && env[0] != '\0')
		return env;
	return SYSCONFDIR "/herald.conf";
}

/* Fail unless every child of group s is named in allowed. */
static int
check_known(struct config_reader *r, const config_setting_t *s,
    const char *const *allowed)
{
	const config_setting_t	*child;
	const char *const	*a;
	int			 i, rc = 0;

	/* Each unknown name is reported, not only the first. */
	for (i = 0; (child = config_setting_get_elem(s, i)) != NULL; i++) {
		const char	*name = config_setting_name(child);

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, name) == 0)
				break;
		if (*a == NULL)
			rc = config_fail(r, child, "unrecognized setting");
	}
	return rc;
}

static int
get_string(struct config_reader *r, const config_setting_t *group,
    const char *name, int required, char **out)
{
	const config_setting_t	*s;

	s = config_setting_get_member(group, name);
	if (s == NULL) {
		if (required)
			return config_fail(r, group,
			    "missing setting \"%s\"", name);
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return config_fail(r, s, "must be a string");
	free(*out);
	*out = hd_xstrdup(config_setting_get_string(s));
	return 0;
}

static int
get_int(struct config_reader *r, const config_setting_t *group,
    const char *name, long long min, long long max, int *out)
{
	const config_setting_t	*s;
	long long		 value;

	s = config_setting_get_member(group, name);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		value = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		value = config_setting_get_int64(s);
	else
		return config_fail(r, s, "must be a whole number");
	if (value < min || value > max)
		return config_fail(r, s, "%lld is out of range (%lld to %lld)",
		    value, min, max);
	*out = (int)value;
	return 0;
}

static int
get_float(struct config_reader *r, const config_setting_t *group,
    const char *name, double min, double max, double *out)
{
	const config_setting_t	*s;
	double			 value;
	char			 text[32], min_text[32], max_text[32];

	s = config_setting_get_member(group, name);
	if (s == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		value = config_setting_get_float(s);
		break;
	case CONFIG_TYPE_INT:
		value = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		value = (double)config_setting_get_int64(s);
		break;
	default:
		return config_fail(r, s, "must be a number");
	}
	if (!(value >= min && value <= max)) {
		hd_format_double(value, text, sizeof text);
		hd_format_double(min, min_text, sizeof min_text);
		hd_format_double(max, max_text, sizeof max_text);
		return config_fail(r, s, "%s is out of range (%s to %s)",
		    text, min_text, max_text);
	}
	*out = value;
	return 0;
}

/* A duration is a string such as "250ms" or "5m", or a number of seconds. */
static int
get_duration(struct config_reader *r, const config_setting_t *group,
    const char *name, int64_t min_ms, int64_t *out)
{
	const config_setting_t	*s;
	double			 seconds;
	int64_t			 ms;
	char			 text[32];

	s = config_setting_get_member(group, name);
	if (s == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		switch (hd_parse_duration_ms(config_setting_get_string(s),
		    &ms)) {
		case 0:
			break;
		case -2:
			return config_fail(r, s, "duration \"%s\" is out of "
			    "range: the maximum is 366d",
			    config_setting_get_string(s));
		default:
			return config_fail(r, s, "invalid duration \"%s\" "
			    "(use a number of seconds, or a number followed by "
			    "ms, s, m, h or d, of at most 366 days)",
			    config_setting_get_string(s));
		}
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
	case CONFIG_TYPE_FLOAT:
		seconds = config_setting_type(s) == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(s) :
		    (double)config_setting_get_int64(s);
		if (!(seconds >= 0 && seconds * 1000 <= HD_DURATION_MAX_MS)) {
			hd_format_double(seconds, text, sizeof text);
			return config_fail(r, s, "invalid duration %s (use "
			    "0 to 366 days in seconds)", text);
		}
		ms = hd_round_ms(seconds * 1000);
		break;
	default:
		return config_fail(r, s, "must be a duration such as \"30s\"");
	}
	if (ms < min_ms && min_ms % 1000 == 0)
		return config_fail(r, s, "must be at least %llds",
		    (long long)(min_ms / 1000));
	if (ms < min_ms)
		return config_fail(r, s, "must be at least %lldms",
		    (long long)min_ms);
	*out = ms;
	return 0;
}

/*
 * A size is a whole number of bytes, or a string such as "512MB" with the
 * unit kB, MB or GB (powers of 1024, as PostgreSQL reads them).
 */
static int
get_size(struct config_reader *r, const config_setting_t *group,
    const char *name, int64_t *out)
{
	const config_setting_t	*s;
	const char		*text;
	char			*end;
	long long		 value;
	int64_t			 unit;

	s = config_setting_get_member(group, name);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT ||
	    config_setting_type(s) == CONFIG_TYPE_INT64) {
		value = config_setting_get_int64(s);
		unit = 1;
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		text = config_setting_get_string(s);
		errno = 0;
		value = strtoll(text, &end, 10);
		if (end == text || errno != 0)
			unit = 0;
		else if (strcmp(end, "kB") == 0)
			unit = 1024;
		else if (strcmp(end, "MB") == 0)
			unit = 1024 * 1024;
		else if (strcmp(end, "GB") == 0)
			unit = 1024 * 1024 * 1024;
		else if (*end == '\0')
			unit = 1;
		else
			unit = 0;
		if (unit == 0)
			return config_fail(r, s, "invalid size \"%s\" (use a "
			    "number of bytes or a number followed by kB, MB "
			    "or GB)", text);
	} else
		return config_fail(r, s, "must be a size such as \"512MB\"");
	if (value < 0 || value > INT64_MAX / unit / 2)
		return config_fail(r, s, "size %lld is out of range", value);
	*out = value * unit;
	return 0;
}

static int
check_name(struct config_reader *r, const config_setting_t *s,
    const char *what, const char *name)
{
	struct herald_error	error;

	if (herald_check_name(what, name, &error) == -1)
		return config_fail(r, s, "%s", error.message);
	return 0;
}

/*
 * Set *name to the herald name of group s: the string of its member key
 * when set, else the setting's own name.  Check it as a name of kind what.
 */
static int
get_name(struct config_reader *r, const config_setting_t *s, const char *key,
    const char *what, char **name)
{
	const config_setting_t	*named;

	named = config_setting_is_group(s) ?
	    config_setting_get_member(s, key) : NULL;
	if (named == NULL)
		return check_name(r, s, what, *name);
	if (get_string(r, s, key, 1, name) == -1)
		return -1;
	return check_name(r, named, what, *name);
}

/*
 * Fail when entry i of group (of kind what) has the herald name of an
 * earlier entry.  name_of returns the name of entry j.
 */
static int
check_unique(struct config_reader *r, const config_setting_t *group, int i,
    const char *what, const char *key, const char *name,
    const char *(*name_of)(const struct hd_config *, int),
    const struct hd_config *config)
{
	const config_setting_t	*s, *earlier, *named;
	int			 j;

	s = config_setting_get_elem(group, i);
	for (j = 0; j < i; j++) {
		if (strcmp(name_of(config, j), name) != 0)
			continue;
		earlier = config_setting_get_elem(group, j);
		named = config_setting_is_group(s) ?
		    config_setting_get_member(s, key) : NULL;
		return config_fail(r, named != NULL ? named : s, "%s \"%s\" is "
		    "also the name of %s.%s (line %u)", what, name,
		    config_setting_name(group), config_setting_name(earlier),
		    config_setting_source_line(earlier));
	}
	return 0;
}

static const char *
queue_name_of(const struct hd_config *config, int i)
{
	return config->queues[i].name;
}

static const char *
task_name_of(const struct hd_config *config, int i)
{
	return config->tasks[i].name;
}

static const char *
event_name_of(const struct hd_config *config, int i)
{
	return config->events[i].type;
}

static const char *
periodic_name_of(const struct hd_config *config, int i)
{
	return config->periodic[i].name;
}

/* Copy a list or array of strings into a NULL-terminated vector. */
static int
get_string_vector(struct config_reader *r, const config_setting_t *s,
    char ***out, size_t *count)
{
	const config_setting_t	*elem;
	char			**v;
	int			 i, n;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return config_fail(r, s, "must be a list of strings, "
		    "such as [ \"a\", \"b\" ]");
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		elem = config_setting_get_elem(s, i);
		if (config_setting_type(elem) != CONFIG_TYPE_STRING)
			return config_fail(r, elem, "must be a string");
	}

	v = hd_xcalloc((size_t)n + 1, sizeof *v);
	for (i = 0; i < n; i++)
		v[i] = hd_xstrdup(config_setting_get_string_elem(s, i));
	*out = v;
	*count = (size_t)n;
	return 0;
}

static int
get_bool(struct config_reader *r, const config_setting_t *group,
    const char *name, bool *out)
{
	const config_setting_t	*s;

	s = config_setting_get_member(group, name);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return config_fail(r, s, "must be true or false");
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

/* Whether name is a variable name: a letter or '_', then alphanumerics. */
static bool
env_name_valid(const char *name, size_t len)
{
	size_t	i;

	if (len == 0 || isdigit((unsigned char)name[0]))
		return false;
	for (i = 0; i < len; i++)
		if (!isascii((unsigned char)name[i]) ||
		    !(isalnum((unsigned char)name[i]) || name[i] == '_'))
			return false;
	return true;
}

/*
 * A task's env list: "NAME" or "NAME=value".  HERALD_ names are heraldd's
 * own, and a name may appear once.
 */
static int
read_env(struct config_reader *r, const config_setting_t *s,
    struct hd_task_config *t)
{
	const config_setting_t	*elem;
	size_t			 i, j, len;

	if (get_string_vector(r, s, &t->env, &t->nenv) == -1)
		return -1;
	if (t->nenv > HD_TASK_ENV_MAX)
		return config_fail(r, s, "has %zu entries, over the limit of "
		    "%d", t->nenv, HD_TASK_ENV_MAX);
	for (i = 0; i < t->nenv; i++) {
		elem = config_setting_get_elem(s, (int)i);
		len = strcspn(t->env[i], "=");
		if (!env_name_valid(t->env[i], len))
			return config_fail(r, elem, "invalid variable \"%s\" "
			    "(use NAME or NAME=value, where NAME has letters, "
			    "digits and _ and does not start with a digit)",
			    t->env[i]);
		if (strncmp(t->env[i], "HERALD_", 7) == 0)
			return config_fail(r, elem, "variable \"%.*s\" is set "
			    "by heraldd; HERALD_ names cannot be configured",
			    (int)len, t->env[i]);
		for (j = 0; j < i; j++)
			if (strcspn(t->env[j], "=") == len &&
			    strncmp(t->env[j], t->env[i], len) == 0)
				return config_fail(r, elem, "variable "
				    "\"%.*s\" is listed twice", (int)len,
				    t->env[i]);
	}
	return 0;
}

/*
 * A group of resource limits: address_space (a size), open_files (a
 * count) and cpu_time (a duration, whole seconds).  Unset ones keep the
 * values iso has.
 */
static int
read_limits(struct config_reader *r, const config_setting_t *s,
    struct hd_isolation *iso)
{
	static const char *const known[] = {
		"address_space", "open_files", "cpu_time", NULL
	};
	const config_setting_t	*setting;
	int64_t			 cpu_ms = -1;
	int			 open_files = -1;

	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, such as "
		    "{ address_space = \"1GB\"; open_files = 1024; "
		    "cpu_time = \"10m\"; }");
	if (check_known(r, s, known) == -1 ||
	    get_size(r, s, "address_space", &iso->address_space) == -1 ||
	    get_int(r, s, "open_files", 3, LIMIT_OPEN_FILES_MAX,
	    &open_files) == -1 ||
	    get_duration(r, s, "cpu_time", 1000, &cpu_ms) == -1)
		return -1;
	setting = config_setting_get_member(s, "address_space");
	if (setting != NULL && iso->address_space < LIMIT_ADDRESS_SPACE_MIN)
		return config_fail(r, setting, "must be at least 1MB");
	if (open_files != -1)
		iso->open_files = open_files;
	if (cpu_ms != -1)
		iso->cpu_time_s = (cpu_ms + 999) / 1000;
	return 0;
}

/* Fill groups with the supplementary groups of user, gid among them. */
static int
resolve_groups(struct config_reader *r, const config_setting_t *s,
    const char *user, gid_t gid, struct hd_isolation *iso)
{
	int	n = 16;

	for (;;) {
		int	got = n;

		iso->groups = hd_xrealloc(iso->groups, (size_t)n,
		    sizeof *iso->groups);
		if (getgrouplist(user, gid, iso->groups, &got) != -1) {
			iso->ngroups = (size_t)got;
			return 0;
		}
		if (got <= n || got > 65536)
			return config_fail(r, s, "could not read the groups "
			    "of user \"%s\"", user);
		n = got;
	}
}

/*
 * Look up the user and group names of iso; s_user and s_group are the
 * settings they came from, for messages.
 */
static int
resolve_ids(struct config_reader *r, const config_setting_t *s_user,
    const config_setting_t *s_group, struct hd_isolation *iso)
{
	struct passwd	*pw;
	struct group	*gr;

	if (iso->user == NULL && iso->group == NULL)
		return 0;
	iso->set_ids = true;
	if (iso->group != NULL) {
		errno = 0;
		if ((gr = getgrnam(iso->group)) == NULL)
			return config_fail(r, s_group, "group \"%s\" does not "
			    "exist", iso->group);
		iso->gid = gr->gr_gid;
	}
	if (iso->user == NULL) {
		iso->uid = getuid();
		iso->groups = hd_xmalloc(sizeof *iso->groups);
		iso->groups[0] = iso->gid;
		iso->ngroups = 1;
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(iso->user)) == NULL)
		return config_fail(r, s_user, "user \"%s\" does not exist",
		    iso->user);
	iso->uid = pw->pw_uid;
	if (iso->group == NULL)
		iso->gid = pw->pw_gid;
	return resolve_groups(r, s_user, iso->user, iso->gid, iso);
}

/* The file of task t's setting: an included one, or config's own. */
#define TASK_FILE(config, t)	\
	((t)->file != NULL ? (t)->file : (config)->path)

/*
 * Rewrite each control byte of the message in error as \xHH, so that a
 * byte of the file quoted in a message cannot act on a terminal.
 */
static void
escape_controls(char *error, size_t size)
{
	char		copy[HD_CONFIG_ERROR_MAX];
	size_t		len = 0, i;
	unsigned char	c;

	snprintf(copy, sizeof copy, "%s", error);
	for (i = 0; copy[i] != '\0' && len + 9 < size; i++) {
		c = (unsigned char)copy[i];
		/* U+0080 to U+009F in UTF-8 are controls as well. */
		if (c == 0xc2 && (unsigned char)copy[i + 1] >= 0x80 &&
		    (unsigned char)copy[i + 1] <= 0x9f) {
			len += (size_t)snprintf(error + len, size - len,
			    "\\xc2\\x%02x", (unsigned char)copy[++i]);
		} else if (c < 0x20 || c == 0x7f)
			len += (size_t)snprintf(error + len, size - len,
			    "\\x%02x", c);
		else
			error[len++] = (char)c;
	}
	error[len] = '\0';
}

/*
 * Read user, group and limits of group s (the top level or a task) into
 * iso.  A task without user and group takes the top level's, and each
 * limit it does not set.
 */
static int
read_isolation(struct config_reader *r, const config_setting_t *s,
    struct hd_isolation *iso)
{
	const config_setting_t	*s_user, *s_group, *limits;
	bool			 top = iso == &r->defaults;

	if (!top) {
		iso->address_space = r->defaults.address_space;
		iso->open_files = r->defaults.open_files;
		iso->cpu_time_s = r->defaults.cpu_time_s;
	}
	limits = config_setting_get_member(s, "limits");
	if (limits != NULL && read_limits(r, limits, iso) == -1)
		return -1;
	if (get_string(r, s, "user", 0, &iso->user) == -1 ||
	    get_string(r, s, "group", 0, &iso->group) == -1)
		return -1;
	s_user = config_setting_get_member(s, "user");
	s_group = config_setting_get_member(s, "group");
	if ((s_user != NULL && iso->user[0] == '\0') ||
	    (s_group != NULL && iso->group[0] == '\0'))
		return config_fail(r, s_user != NULL && iso->user[0] ==
		    '\0' ? s_user : s_group, "must not be empty");
	if (!top && iso->user == NULL && iso->group == NULL) {
		/* A task inheriting a user that does not exist says nothing. */
		if (r->defaults_failed)
			return -1;
		if (r->defaults.user != NULL)
			iso->user = hd_xstrdup(r->defaults.user);
		if (r->defaults.group != NULL)
			iso->group = hd_xstrdup(r->defaults.group);
		s_user = r->user_setting;
		s_group = r->group_setting;
	}
	if (resolve_ids(r, s_user, s_group, iso) == -1) {
		r->defaults_failed |= top;
		return -1;
	}
	return 0;
}

static void
isolation_release(struct hd_isolation *iso)
{
	free(iso->user);
	free(iso->group);
	free(iso->groups);
	memset(iso, 0, sizeof *iso);
}

int
hd_config_check_programs(const struct hd_config *config, size_t *next,
    char *error, size_t error_size)
{
	const struct hd_task_config	*t;
	struct stat			 st;

	for (; *next < config->ntasks; (*next)++) {
		t = &config->tasks[*next];
		if (t->argv != NULL) {
			if (stat(t->argv[0], &st) == 0 &&
			    S_ISREG(st.st_mode) && access(t->argv[0], X_OK) == 0)
				continue;
			snprintf(error, error_size, "%s:%d: tasks.%s.exec: "
			    "\"%s\" is not an executable file", TASK_FILE(config,
			    t), t->handler_line, t->setting, t->argv[0]);
		} else {
			/*
			 * dlopen(3) searches the library path for a name
			 * without a slash, so only a path can be checked.
			 */
			if (t->module_path == NULL ||
			    strchr(t->module_path, '/') == NULL)
				continue;
			if (stat(t->module_path, &st) == 0 &&
			    S_ISREG(st.st_mode) &&
			    access(t->module_path, R_OK) == 0)
				continue;
			snprintf(error, error_size, "%s:%d: tasks.%s.module."
			    "path: \"%s\" is not a readable file",
			    TASK_FILE(config, t), t->handler_line, t->setting,
			    t->module_path);
		}
		(*next)++;
		escape_controls(error, error_size);
		return -1;
	}
	return 0;
}

int
hd_config_check_root(const struct hd_config *config, uid_t euid,
    char *error, size_t error_size)
{
	const struct hd_task_config	*t;
	size_t				 i;

	for (i = 0; i < config->ntasks; i++) {
		t = &config->tasks[i];
		if (euid != 0 && t->isolation.set_ids &&
		    (t->isolation.uid != euid ||
		    t->isolation.gid != getegid())) {
			snprintf(error, error_size, "%s:%d: tasks.%s: "
			    "running the handler as user \"%s\" and group "
			    "\"%s\" needs heraldd to start as root",
			    TASK_FILE(config, t), t->line, t->setting,
			    t->isolation.user != NULL ? t->isolation.user :
			    "(unchanged)", t->isolation.group != NULL ?
			    t->isolation.group : "(the user's)");
			escape_controls(error, error_size);
			return -1;
		}
		if (euid != 0 || config->allow_root_handlers)
			continue;
		if (t->argv == NULL) {
			snprintf(error, error_size, "%s:%d: tasks.%s: a "
			    "module handler runs inside a worker, which runs "
			    "as root like heraldd; run heraldd as another "
			    "user, or set allow_root_handlers = true",
			    TASK_FILE(config, t), t->line, t->setting);
			escape_controls(error, error_size);
			return -1;
		}
		if (!t->isolation.set_ids || t->isolation.uid == 0) {
			snprintf(error, error_size, "%s:%d: tasks.%s: the "
			    "handler would run as root; set user (and group) "
			    "for the task or at the top level, or set "
			    "allow_root_handlers = true",
			    TASK_FILE(config, t), t->line, t->setting);
			escape_controls(error, error_size);
			return -1;
		}
	}
	return 0;
}

static void
free_vector(char **v)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Return whether line contains, before an '=' outside a string, a herald
 * name that libconfig cannot read as a setting name, such as "mail.v2" or
 * "2fa".  Store that name in word.
 */
static bool
line_has_bad_setting_name(const char *line, char *word, size_t size)
{
	const char	*p, *start;
	bool		 quoted = false;
	size_t		 len;

	for (p = line; *p != '\0' && *p != '\n'; p++) {
		if (quoted) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				quoted = false;
			continue;
		}
		if (*p == '"')
			quoted = true;
		if (*p == '#' || (p[0] == '/' && (p[1] == '/' || p[1] == '*')))
			break;
		if (*p != '=')
			continue;
		start = p;
		while (start > line && isspace((unsigned char)start[-1]))
			start--;
		len = 0;
		while (start > line && (isalnum((unsigned char)start[-1]) ||
		    strchr("_.:-", start[-1]) != NULL)) {
			start--;
			len++;
		}
		if (len == 0 || (strcspn(start, ".:") >= len &&
		    !isdigit((unsigned char)start[0])))
			continue;
		snprintf(word, size, "%.*s", (int)len, start);
		return true;
	}
	return false;
}

/* Return the number of the line of text that p points into. */
static int
line_of(const char *text, const char *p)
{
	int	line = 1;

	for (; text < p; text++)
		if (*text == '\n')
			line++;
	return line;
}

/*
 * Write to hint the line of a mistake that libconfig reports only past
 * it: a string left open at the end of the file, named by the first line
 * that a string runs past, or a bracket closed by one of another kind or
 * never closed.  Write "" when text has neither.
 */
static void
unclosed_hint(const char *text, char *hint, size_t size)
{
	static const char	 pairs[] = "{}[]()";
	const char		*p, *string = NULL, *open[64], *match;
	int			 depth = 0, string_line = 0, line = 1;

	hint[0] = '\0';
	for (p = text; *p != '\0'; p++) {
		if (*p == '\n')
			line++;
		if (string != NULL) {
			if (*p == '\\' && p[1] != '\0' && p[1] != '\n')
				p++;
			else if (*p == '"')
				string = NULL;
			else if (*p == '\n' && string_line == 0)
				string_line = line_of(text, string);
			continue;
		}
		if (*p == '"')
			string = p;
		else if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			p += strcspn(p, "\n") - 1;
		else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");

			if (end == NULL)
				break;
			line += line_of(p, end) - 1;
			p = end + 1;
		} else if (strchr("{[(", *p) != NULL) {
			if (depth == (int)(sizeof open / sizeof open[0]))
				return;
			open[depth++] = p;
		} else if (strchr("}])", *p) != NULL && depth > 0) {
			match = strchr(pairs, *open[depth - 1]);
			if (match[1] != *p) {
				snprintf(hint, size, " (the '%c' on line %d is "
				    "closed by '%c' on line %d)",
				    *open[depth - 1],
				    line_of(text, open[depth - 1]), *p, line);
				return;
			}
			depth--;
		}
	}
	if (string != NULL && string_line > 0)
		snprintf(hint, size, " (the string that starts on line %d "
		    "goes on past the end of that line: is its closing "
		    "quote missing?)", string_line);
	else if (depth > 0)
		snprintf(hint, size, " (the '%c' on line %d is never closed)",
		    *open[depth - 1], line_of(text, open[depth - 1]));
}

/*
 * Store in name the file that line reads with @include "NAME".  Return
 * false for another line, or a name with a backslash escape.
 */
static bool
line_include_name(const char *line, char *name, size_t size)
{
	const char	*p, *end;

	p = line + strspn(line, " \t");
	if (strncmp(p, "@include", 8) != 0)
		return false;
	p += 8;
	p += strspn(p, " \t");
	if (*p++ != '"' || (end = strchr(p, '"')) == NULL)
		return false;
	if (memchr(p, '\\', (size_t)(end - p)) != NULL ||
	    (size_t)(end - p) >= size)
		return false;
	memcpy(name, p, (size_t)(end - p));
	name[end - p] = '\0';
	return true;
}

/*
 * Write libconfig's parse error that an included file could not be read,
 * with the file's name and the reason.  libconfig 1.5 reports neither, so
 * the file is opened again here to learn why.
 */
static void
parse_fail_include(const char *file, int at, const char *include,
    char *error, size_t error_size)
{
	FILE	*fp;

	if ((fp = fopen(include, "r")) != NULL) {
		fclose(fp);
		snprintf(error, error_size, "%s:%d: cannot open include file "
		    "\"%s\"", file, at, include);
		return;
	}
	snprintf(error, error_size, "%s:%d: cannot open include file \"%s\": "
	    "%s", file, at, include, strerror(errno));
}

/* Return whether c may be part of a setting name in libconfig 1.5. */
static bool
is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

/*
 * Find the setting that libconfig 1.5 reports as a duplicate on line at
 * of text, without its name, and store the name in name.  libconfig
 * fails right after it reads the repeated name, so that name is the
 * first one on the line where a copy of text cut just after it fails
 * with the same error on the same line.  Return false when no cut does.
 */
static bool
find_duplicate_name(const char *text, int at, char *name, size_t size)
{
	config_t	 cfg;
	const char	*line = text, *p, *start;
	char		*cut, saved;
	bool		 found = false;
	int		 n;

	for (n = 1; n < at; n++) {
		if ((line = strchr(line, '\n')) == NULL)
			return false;
		line++;
	}
	cut = hd_xstrdup(text);
	for (p = line; !found && *p != '\0' && *p != '\n';) {
		if (!is_name_char(*p)) {
			p++;
			continue;
		}
		for (start = p; is_name_char(*p); p++)
			;
		/* A name starts at a letter or '*': "fa" of "2fa". */
		while (start < p && !isalpha((unsigned char)*start) &&
		    *start != '*')
			start++;
		if (start == p)
			continue;

		saved = cut[p - text];
		cut[p - text] = '\0';
		config_init(&cfg);
		found = config_read_string(&cfg, cut) == CONFIG_FALSE &&
		    config_error_file(&cfg) == NULL &&
		    config_error_line(&cfg) == at &&
		    strcmp(config_error_text(&cfg),
		    "duplicate setting name") == 0;
		config_destroy(&cfg);
		cut[p - text] = saved;
		if (found)
			snprintf(name, size, "%.*s", (int)(p - start), start);
	}
	free(cut);
	return found;
}

/*
 * Write libconfig's parse error of a duplicate setting on line at of
 * file, with the setting's name, which libconfig 1.5 does not report.
 * text is the file's text, or NULL for an included file, which is read
 * here.  Return false when the name is not found.
 */
static bool
parse_fail_duplicate(const char *file, int at, const char *text,
    char *error, size_t error_size)
{
	char	*included = NULL, name[128], read_error[HD_CONFIG_ERROR_MAX];
	size_t	 len;
	bool	 found;

	/*
	 * NOTE: an included file is searched alone, so a setting that
	 * repeats one of the including file keeps libconfig's message.
	 */
	if (text == NULL && (text = included = read_text(file, &len,
	    read_error, sizeof read_error)) == NULL)
		return false;
	found = find_duplicate_name(text, at, name, sizeof name);
	free(included);
	if (!found)
		return false;
	snprintf(error, error_size, "%s:%d: duplicate setting name \"%s\" (a "
	    "group may contain each name only once)", file, at, name);
	return true;
}

/*
 * Write libconfig's parse error, with a hint when the line contains a
 * herald name where a setting name is expected, the file's name when an
 * included file could not be read, and the name of a duplicate setting.
 */
static void
parse_fail(const config_t *cfg, const char *path, const char *text,
    char *error, size_t error_size)
{
	const char	*file = config_error_file(cfg);
	char		*line = NULL, word[72], include[PATH_MAX];
	char		 unclosed[160] = "";
	size_t		 size = 0;
	FILE		*fp;
	int		 n = 0, at = config_error_line(cfg);
	bool		 hint = false, included = false, in_text = file == NULL;

	if (in_text) {
		/* The error is in text itself, not in an included file. */
		file = path;
		fp = at > 0 ? fmemopen((void *)text, strlen(text), "r") : NULL;
	} else
		fp = at > 0 ? fopen(file, "r") : NULL;
	if (fp != NULL) {
		while (getline(&line, &size, fp) != -1)
			if (++n == at) {
				hint = line_has_bad_setting_name(line, word,
				    sizeof word);
				included = line_include_name(line, include,
				    sizeof include);
				break;
			}
		free(line);
		fclose(fp);
	}
	if (included && strcmp(config_error_text(cfg),
	    "cannot open include file") == 0) {
		parse_fail_include(file, at, include, error, error_size);
		return;
	}
	if (strcmp(config_error_text(cfg), "duplicate setting name") == 0 &&
	    parse_fail_duplicate(file, at, in_text ? text : NULL, error,
	    error_size))
		return;
	if (!hint) {
		if (in_text && strcmp(config_error_text(cfg),
		    "syntax error") == 0)
			unclosed_hint(text, unclosed, sizeof unclosed);
		snprintf(error, error_size, "%s:%d: %s%s", file, at,
		    config_error_text(cfg), unclosed);
		return;
	}
	snprintf(error, error_size, "%s:%d: %s (a setting name may contain "
	    "only letters, digits, '_' and '-'; write the herald name with "
	    "name = \"%s\" inside the group, or type = \"%s\" for an event)",
	    file, at, config_error_text(cfg), word, word);
}

/*
 * Read the whole file at path into a new NUL-terminated string, so that
 * heraldd can hand its children the very text it checked.
 */
static char *
read_text(const char *path, size_t *len, char *error, size_t error_size)
{
	struct stat	 st;
	char		*text = NULL;
	size_t		 n = 0, cap = 0, got;
	FILE		*fp;
	int		 fd, flags;

	/*
	 * O_NONBLOCK keeps open() from waiting for a writer of a FIFO.  The
	 * reads below block again, so a pipe with a writer is read whole.
	 */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		snprintf(error, error_size, "%s: could not read configuration "
		    "file: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || (flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1) {
		snprintf(error, error_size, "%s: could not read configuration "
		    "file: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(error, error_size, "%s: could not read configuration "
		    "file: it is a directory", path);
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		snprintf(error, error_size, "%s: could not read configuration "
		    "file: it is not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(error, error_size, "%s: could not read configuration "
		    "file: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	do {
		/*
		 * Room for HD_CONFIG_TEXT_MAX bytes, one more to see that a
		 * file is longer, and the NUL.
		 */
		if (n + 1 >= cap) {
			if (n > HD_CONFIG_TEXT_MAX) {
				snprintf(error, error_size, "%s: could not "
				    "read configuration file: it is larger "
				    "than %d MiB", path,
				    HD_CONFIG_TEXT_MAX >> 20);
				goto fail;
			}
			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > HD_CONFIG_TEXT_MAX + 2)
				cap = HD_CONFIG_TEXT_MAX + 2;
			text = hd_xrealloc(text, cap, 1);
		}
		got = fread(text + n, 1, cap - n - 1, fp);
		n += got;
	} while (got > 0);
	if (ferror(fp)) {
		snprintf(error, error_size, "%s: could not read configuration "
		    "file: %s", path, strerror(errno));
		goto fail;
	}
	if (n == 0 && S_ISFIFO(st.st_mode)) {
		snprintf(error, error_size, "%s: could not read configuration "
		    "file: it is a FIFO or pipe and nothing was written "
		    "to it", path);
		goto fail;
	}
	fclose(fp);
	text[n] = '\0';
	*len = n;
	return text;

fail:
	fclose(fp);
	free(text);
	return NULL;
}

/* libconfig 1.5 stops at ten levels of @include. */
#define CONFIG_INCLUDE_DEPTH	10

static uint64_t
fingerprint_mix(uint64_t h, const void *data, size_t len)
{
	const unsigned char	*p = data;

	/* FNV-1a, 64 bits. */
	while (len-- > 0) {
		h ^= *p++;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t
fingerprint_file(uint64_t h, const char *path, int depth)
{
	struct stat	 st;
	char		 error[HD_CONFIG_ERROR_MAX], name[PATH_MAX], *text,
			*line, *end;
	size_t		 len;
	int		 missing;

	h = fingerprint_mix(h, path, strlen(path) + 1);
	if (stat(path, &st) == -1) {
		missing = errno;
		return fingerprint_mix(h, &missing, sizeof missing);
	}
	h = fingerprint_mix(h, &st.st_dev, sizeof st.st_dev);
	h = fingerprint_mix(h, &st.st_ino, sizeof st.st_ino);
	h = fingerprint_mix(h, &st.st_size, sizeof st.st_size);
	h = fingerprint_mix(h, &st.st_mtim, sizeof st.st_mtim);
	/* A FIFO's text would be gone once read. */
	if (!S_ISREG(st.st_mode) || depth >= CONFIG_INCLUDE_DEPTH ||
	    (text = read_text(path, &len, error, sizeof error)) == NULL)
		return h;
	for (line = text; line != NULL; line = (end = strchr(line, '\n')) !=
	    NULL ? end + 1 : NULL)
		if (line_include_name(line, name, sizeof name))
			h = fingerprint_file(h, name, depth + 1);
	free(text);
	return h;
}

uint64_t
hd_config_fingerprint(const char *path)
{
	return fingerprint_file(UINT64_C(0xcbf29ce484222325), path, 0);
}

static struct hd_config *config_parse(const char *, const char *, size_t,
		    char *, size_t, FILE *);

struct hd_config *
hd_config_load(const char *path, char *error, size_t error_size)
{
	return hd_config_load_each(path, error, error_size, NULL);
}

struct hd_config *
hd_config_load_each(const char *path, char *error, size_t error_size,
    FILE *more)
{
	struct hd_config	*config;
	char			*text;
	size_t			 len;

	if ((text = read_text(path, &len, error, error_size)) == NULL)
		return NULL;
	config = config_parse(path, text, len, error, error_size, more);
	free(text);
	return config;
}

struct hd_config *
hd_config_parse(const char *path, const char *text, size_t len, char *error,
    size_t error_size)
{
	return config_parse(path, text, len, error, error_size, NULL);
}

static struct hd_config *
config_parse(const char *path, const char *text, size_t len, char *error,
    size_t error_size, FILE *more)
{
	struct config_reader	 r = { .path = path, .error = error,
				     .error_size = error_size, .more = more };
	struct hd_config	*config;
	const char		*nul;
	char			*parse_text = NULL;
	config_t		 cfg;

	config = hd_xcalloc(1, sizeof *config);
	config->path = hd_xstrdup(path);
	config->text = hd_xmalloc(len + 1);
	memcpy(config->text, text, len);
	config->text[len] = '\0';
	config->text_len = len;
	config->log_level = HD_LOG_INFO;
	config->grace_period_ms = HD_DEFAULT_GRACE_PERIOD_MS;
	config->lease_ms = HD_DEFAULT_LEASE_MS;
	config->payload_max = HERALD_PAYLOAD_MAX;
	config->keep_counters_ms = HD_DEFAULT_KEEP_COUNTERS_MS;
	config->keep_hourly_ms = HD_DEFAULT_KEEP_HOURLY_MS;
	config->keep_dead_ms = HD_DEFAULT_KEEP_DEAD_MS;
	config->keep_dead_rows = HD_DEFAULT_KEEP_DEAD_ROWS;
	config->confirm_over = HD_DEFAULT_CONFIRM_OVER;
	config->keep_processes_ms = HD_DEFAULT_KEEP_PROCESSES_MS;
	config->restart_failures = HD_DEFAULT_RESTART_FAILURES;
	config->restart_window_ms = HD_DEFAULT_RESTART_WINDOW_MS;
	config->restart_cool_down_ms = HD_DEFAULT_RESTART_COOL_DOWN_MS;

	config_init(&cfg);
	if ((nul = memchr(text, '\0', len)) != NULL) {
		snprintf(error, error_size, "%s:%d: syntax error: the file "
		    "contains a NUL byte", path, line_of(text, nul));
		goto fail;
	}
	/*
	 * libconfig 1.5 ends a # or // comment only at a newline, so a last
	 * line that is a comment without one would be a syntax error.
	 */
	if (len > 0 && text[len - 1] != '\n') {
		parse_text = hd_xmalloc(len + 2);
		memcpy(parse_text, text, len);
		parse_text[len] = '\n';
		parse_text[len + 1] = '\0';
	}
	if (config_read_string(&cfg, parse_text != NULL ? parse_text :
	    config->text) == CONFIG_FALSE) {
		parse_fail(&cfg, path, config->text, error, error_size);
		goto fail;
	}
	if (read_top(&r, &cfg, config) == -1)
		goto fail;

	free(parse_text);
	isolation_release(&r.defaults);
	config_destroy(&cfg);
	return config;

fail:
	free(parse_text);
	isolation_release(&r.defaults);
	config_destroy(&cfg);
	hd_config_free(config);
	escape_controls(error, error_size);
	return NULL;
}

/*
 * Fail unless conninfo (the value of setting name, NULL when unset)
 * parses as a libpq connection string, so that a typo is a configuration
 * error and not an unreachable database.
 */
static int
check_conninfo(struct config_reader *r, const config_setting_t *root,
    const char *name, const char *conninfo)
{
	char	reason[160];

	if (conninfo == NULL)
		return 0;
	if (strncmp(conninfo, "postgres://", 11) != 0 &&
	    strncmp(conninfo, "postgresql://", 13) != 0 &&
	    strchr(conninfo, '=') == NULL) {
		/* A bare database name, one word as psql takes it. */
		if (strpbrk(conninfo, " \t\r\n") == NULL)
			return 0;
		return config_fail(r, config_setting_get_member(root, name),
		    "invalid connection string: neither key=value pairs, a "
		    "URI nor a database name; write a name with spaces as "
		    "dbname='NAME'");
	}
	if (!hd_conninfo_parses(conninfo, reason, sizeof reason))
		return config_fail(r, config_setting_get_member(root, name),
		    "invalid connection string: %s (see \"Connection "
		    "Strings\" in the PostgreSQL manual)", reason[0] != '\0' ?
		    reason : "libpq cannot parse it");
	return 0;
}

static int
read_top(struct config_reader *r, config_t *cfg, struct hd_config *config)
{
	static const char *const known[] = {
		"job_db", "app_db", "log_level", "grace_period", "lease",
		"payload_max", "queues", "tasks", "events", "retention",
		"restart_limit", "allow_root_handlers", "user", "group",
		"limits", "confirm_over", "periodic", NULL
	};
	const config_setting_t	*root, *s;
	char			*level = NULL;
	int			 payload_max = (int)config->payload_max;
	int			 confirm_over = (int)config->confirm_over;

	/*
	 * Each setting is read even after an error, so that every error
	 * of the file is reported (see struct config_reader).  Only a
	 * section that later ones refer to stops them when it is missing.
	 */
	root = config_root_setting(cfg);
	(void)check_known(r, root, known);
	if (get_string(r, root, "job_db", 1, &config->job_db) == 0)
		(void)check_conninfo(r, root, "job_db", config->job_db);
	if (get_string(r, root, "app_db", 0, &config->app_db) == 0)
		(void)check_conninfo(r, root, "app_db", config->app_db);

	if (get_string(r, root, "log_level", 0, &level) == 0 &&
	    level != NULL &&
	    hd_log_level_parse(level, &config->log_level) == -1)
		config_fail(r, config_setting_get_member(root, "log_level"),
		    "must be \"error\", \"warn\", \"info\" or \"debug\"");
	free(level);

	(void)get_duration(r, root, "grace_period", 0,
	    &config->grace_period_ms);
	(void)get_duration(r, root, "lease", 1000, &config->lease_ms);
	if (get_int(r, root, "payload_max", 2, 256 * 1024 * 1024,
	    &payload_max) == 0)
		config->payload_max = (size_t)payload_max;
	if (get_int(r, root, "confirm_over", 0, INT_MAX, &confirm_over) == 0)
		config->confirm_over = confirm_over;

	(void)get_bool(r, root, "allow_root_handlers",
	    &config->allow_root_handlers);
	(void)read_isolation(r, root, &r->defaults);
	r->user_setting = config_setting_get_member(root, "user");
	r->group_setting = config_setting_get_member(root, "group");

	if ((s = config_setting_get_member(root, "retention")) != NULL)
		(void)read_retention(r, s, config);
	if ((s = config_setting_get_member(root, "restart_limit")) != NULL)
		(void)read_restart_limit(r, s, config);

	/* Tasks name queues, and events and periodic entries name tasks. */
	if ((s = config_setting_get_member(root, "queues")) == NULL)
		return config_fail(r, root, "missing setting \"queues\"");
	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group of queues, "
		    "such as { mail = { workers = 2; }; }");
	read_queues(r, s, config);
	if ((s = config_setting_get_member(root, "tasks")) == NULL)
		return config_fail(r, root, "missing setting \"tasks\"");
	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group of tasks");
	read_tasks(r, s, config);
	if ((s = config_setting_get_member(root, "events")) != NULL)
		(void)read_events(r, s, config);
	if ((s = config_setting_get_member(root, "periodic")) != NULL)
		(void)read_periodic(r, s, config);
	return r->nerrors > 0 ? -1 : 0;
}

static int
read_retention(struct config_reader *r, const config_setting_t *s,
    struct hd_config *config)
{
	static const char *const known[] = {
		"counters", "hourly_counters", "dead", "dead_rows", "processes",
		NULL
	};
	int	dead_rows = (int)config->keep_dead_rows;

	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, "
		    "such as { counters = \"1d\"; dead = \"30d\"; }");
	if (check_known(r, s, known) == -1 ||
	    get_duration(r, s, "counters", 0,
	    &config->keep_counters_ms) == -1 ||
	    get_duration(r, s, "hourly_counters", 0,
	    &config->keep_hourly_ms) == -1 ||
	    get_duration(r, s, "dead", 0, &config->keep_dead_ms) == -1 ||
	    get_int(r, s, "dead_rows", 0, INT_MAX, &dead_rows) == -1 ||
	    get_duration(r, s, "processes", HD_MIN_KEEP_PROCESSES_MS,
	    &config->keep_processes_ms) == -1)
		return -1;
	config->keep_dead_rows = dead_rows;
	return 0;
}

static int
read_restart_limit(struct config_reader *r, const config_setting_t *s,
    struct hd_config *config)
{
	static const char *const known[] = {
		"failures", "window", "cool_down", NULL
	};
	int64_t	cool_down = config->restart_cool_down_ms;

	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, "
		    "such as { failures = 5; window = \"1m\"; }");
	if (check_known(r, s, known) == -1 ||
	    get_int(r, s, "failures", 1, 1000000,
	    &config->restart_failures) == -1 ||
	    get_duration(r, s, "window", 1000,
	    &config->restart_window_ms) == -1 ||
	    get_duration(r, s, "cool_down", 0, &cool_down) == -1)
		return -1;
	/*
	 * A cool-down under 1s would restart a failing child about as
	 * often as no limit would.
	 */
	if (cool_down != 0 && cool_down < HD_RESTART_COOL_DOWN_MIN_MS)
		return config_fail(r, config_setting_get_member(s,
		    "cool_down"), "must be 0, which leaves a failed child "
		    "to a reload, or at least %ds",
		    HD_RESTART_COOL_DOWN_MIN_MS / 1000);
	config->restart_cool_down_ms = cool_down;
	return 0;
}

static int
read_queue(struct config_reader *r, const config_setting_t *queues, int i,
    struct hd_config *config, struct hd_queue_config *q)
{
	static const char *const known[] = {
		"name", "workers", "concurrency", "poll_interval", "max_jobs",
		"max_rss", "limit", "rate", NULL
	};
	const config_setting_t	*s = config_setting_get_elem(queues, i);
	int			 max_jobs = 0;

	q->setting = hd_xstrdup(config_setting_name(s));
	q->name = hd_xstrdup(q->setting);
	q->workers = 1;
	q->concurrency = 1;
	q->poll_interval_ms = HD_DEFAULT_POLL_INTERVAL_MS;

	if (get_name(r, s, "name", "queue", &q->name) == -1 ||
	    check_unique(r, queues, i, "queue", "name", q->name,
	    queue_name_of, config) == -1)
		return -1;
	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, "
		    "such as { workers = 1; }");
	if (check_known(r, s, known) == -1 ||
	    get_int(r, s, "workers", 0, QUEUE_WORKERS_MAX,
	    &q->workers) == -1 ||
	    get_int(r, s, "concurrency", 1, QUEUE_CONCURRENCY_MAX,
	    &q->concurrency) == -1 ||
	    get_duration(r, s, "poll_interval", 10,
	    &q->poll_interval_ms) == -1)
		return -1;
	if (get_int(r, s, "max_jobs", 0, INT32_MAX, &max_jobs) == -1 ||
	    get_size(r, s, "max_rss", &q->max_rss) == -1)
		return -1;
	q->max_jobs = max_jobs;
	if (get_int(r, s, "limit", 1, INT32_MAX,
	    &q->global_limit) == -1 ||
	    get_float(r, s, "rate", 0.001, 1000000.0, &q->rate) == -1)
		return -1;
	return 0;
}

/* Read every queue of the group queues, each after a failed one too. */
static void
read_queues(struct config_reader *r, const config_setting_t *queues,
    struct hd_config *config)
{
	int	i, n;

	n = config_setting_length(queues);
	config->queues = hd_xcalloc((size_t)n, sizeof *config->queues);
	for (i = 0; i < n; i++)
		(void)read_queue(r, queues, i, config,
		    &config->queues[config->nqueues++]);
}

static int
read_retry(struct config_reader *r, const config_setting_t *s,
    struct hd_retry_policy *retry)
{
	static const char *const known[] = {
		"max_attempts", "base_delay", "factor", "max_delay", "jitter",
		NULL
	};

	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, "
		    "such as { max_attempts = 5; }");
	if (check_known(r, s, known) == -1 ||
	    get_int(r, s, "max_attempts", 1, HERALD_ATTEMPTS_MAX,
	    &retry->max_attempts) == -1 ||
	    get_duration(r, s, "base_delay", 0, &retry->base_delay_ms) == -1 ||
	    get_float(r, s, "factor", 1.0, 100.0, &retry->factor) == -1 ||
	    get_duration(r, s, "max_delay", 0, &retry->max_delay_ms) == -1 ||
	    get_float(r, s, "jitter", 0.0, 1.0, &retry->jitter) == -1)
		return -1;
	if (retry->max_delay_ms < retry->base_delay_ms)
		return config_fail(r, s, "max_delay is shorter than base_delay");
	return 0;
}

static int
read_module(struct config_reader *r, const config_setting_t *s,
    struct hd_task_config *t)
{
	static const char *const known[] = { "path", "symbol", NULL };

	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, such as "
		    "{ path = \"/usr/lib/app/jobs.so\"; symbol = \"run\"; }");
	if (check_known(r, s, known) == -1 ||
	    get_string(r, s, "path", 1, &t->module_path) == -1 ||
	    get_string(r, s, "symbol", 1, &t->module_symbol) == -1)
		return -1;
	if (t->module_path[0] == '\0')
		return config_fail(r, config_setting_get_member(s, "path"),
		    "must not be empty");
	if (t->module_symbol[0] == '\0')
		return config_fail(r, config_setting_get_member(s, "symbol"),
		    "must not be empty");
	return 0;
}

static int
read_task(struct config_reader *r, const config_setting_t *s,
    struct hd_config *config, struct hd_task_config *t)
{
	static const char *const known[] = {
		"name", "queue", "exec", "module", "timeout", "retry", "env",
		"user", "group", "limits", NULL
	};
	const config_setting_t	*exec, *module, *retry, *env;

	if (get_name(r, s, "name", "task", &t->name) == -1)
		return -1;
	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, "
		    "such as { queue = \"default\"; exec = [ \"/bin/true\" ]; }");
	if (check_known(r, s, known) == -1 ||
	    get_string(r, s, "queue", 1, &t->queue) == -1 ||
	    get_duration(r, s, "timeout", 1, &t->timeout_ms) == -1)
		return -1;
	if (hd_config_queue(config, t->queue) == NULL)
		return config_fail(r, config_setting_get_member(s, "queue"),
		    "queue \"%s\" is not defined in queues", t->queue);

	exec = config_setting_get_member(s, "exec");
	module = config_setting_get_member(s, "module");
	t->line = (int)config_setting_source_line(s);
	if (config_setting_source_file(s) != NULL)
		t->file = hd_xstrdup(config_setting_source_file(s));
	t->handler_line = (int)config_setting_source_line(exec != NULL ?
	    exec : module != NULL ? module : s);
	if (exec == NULL && module == NULL)
		return config_fail(r, s, "missing handler: set \"exec\" "
		    "or \"module\"");
	if (exec != NULL && module != NULL)
		return config_fail(r, module, "a task has one handler: "
		    "set \"exec\" or \"module\", not both");
	if (exec != NULL) {
		if (get_string_vector(r, exec, &t->argv, &t->argc) == -1)
			return -1;
		if (t->argc == 0)
			return config_fail(r, exec, "must name a program");
		if (t->argv[0][0] != '/')
			return config_fail(r, exec, "program \"%s\" must be "
			    "an absolute path", t->argv[0]);
	} else if (read_module(r, module, t) == -1)
		return -1;

	retry = config_setting_get_member(s, "retry");
	if (retry != NULL && read_retry(r, retry, &t->retry) == -1)
		return -1;
	env = config_setting_get_member(s, "env");
	if (env != NULL && read_env(r, env, t) == -1)
		return -1;
	return read_isolation(r, s, &t->isolation);
}

/* Read every task of the group tasks, each after a failed one too. */
static void
read_tasks(struct config_reader *r, const config_setting_t *tasks,
    struct hd_config *config)
{
	const config_setting_t	*s;
	struct hd_task_config	*t;
	int			 i, n;

	n = config_setting_length(tasks);
	config->tasks = hd_xcalloc((size_t)n, sizeof *config->tasks);

	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(tasks, i);
		t = &config->tasks[config->ntasks++];
		t->setting = hd_xstrdup(config_setting_name(s));
		t->name = hd_xstrdup(t->setting);
		t->timeout_ms = HD_DEFAULT_TIMEOUT_MS;
		hd_retry_policy_init(&t->retry);
		if (read_task(r, s, config, t) == 0)
			(void)check_unique(r, tasks, i, "task", "name",
			    t->name, task_name_of, config);
	}
}

static int
read_event(struct config_reader *r, const config_setting_t *events, int i,
    struct hd_config *config, struct hd_event_route *e)
{
	static const char *const known[] = { "type", "tasks", NULL };
	const config_setting_t	*s = config_setting_get_elem(events, i);
	const config_setting_t	*list = s;
	size_t			 j;

	e->setting = hd_xstrdup(config_setting_name(s));
	e->type = hd_xstrdup(e->setting);
	e->group = config_setting_is_group(s);
	if (e->group) {
		if (check_known(r, s, known) == -1)
			return -1;
		list = config_setting_get_member(s, "tasks");
		if (list == NULL)
			return config_fail(r, s, "missing setting \"tasks\"");
	}
	if (get_name(r, s, "type", "event type", &e->type) == -1 ||
	    check_unique(r, events, i, "event type", "type", e->type,
	    event_name_of, config) == -1 ||
	    get_string_vector(r, list, &e->tasks, &e->ntasks) == -1)
		return -1;
	for (j = 0; j < e->ntasks; j++) {
		if (hd_config_task(config, e->tasks[j]) == NULL)
			return config_fail(r,
			    config_setting_get_elem(list, (int)j),
			    "task \"%s\" is not defined in tasks",
			    e->tasks[j]);
	}
	return 0;
}

/*
 * Read every event of the group events, each after a failed one too.  An
 * event is a list of tasks, or a group with a type and tasks.
 */
static int
read_events(struct config_reader *r, const config_setting_t *events,
    struct hd_config *config)
{
	int	i, n;

	if (!config_setting_is_group(events))
		return config_fail(r, events, "must be a group, such as "
		    "{ UserRegistered = [ \"send_welcome_email\" ]; }");
	n = config_setting_length(events);
	config->events = hd_xcalloc((size_t)n, sizeof *config->events);
	for (i = 0; i < n; i++)
		(void)read_event(r, events, i, config,
		    &config->events[config->nevents++]);
	return 0;
}

/*
 * Read one periodic entry, such as { schedule = "0 3 * * *"; timezone =
 * "Europe/Berlin"; task = "report"; payload = "{\"full\": true}"; }.
 */
static int
read_periodic_entry(struct config_reader *r, const config_setting_t *s,
    struct hd_config *config, struct hd_periodic_config *p)
{
	static const char *const known[] = {
		"name", "schedule", "timezone", "task", "payload", "priority",
		"catch_up", NULL
	};
	struct herald_error	 herror;
	char			 error[256], *catch_up = NULL;

	if (get_name(r, s, "name", "periodic entry", &p->name) == -1)
		return -1;
	if (!config_setting_is_group(s))
		return config_fail(r, s, "must be a group, such as "
		    "{ schedule = \"@daily\"; task = \"report\"; }");
	if (check_known(r, s, known) == -1 ||
	    get_string(r, s, "schedule", 1, &p->schedule) == -1 ||
	    get_string(r, s, "timezone", 0, &p->timezone) == -1 ||
	    get_string(r, s, "task", 1, &p->task) == -1 ||
	    get_string(r, s, "payload", 0, &p->payload) == -1 ||
	    get_int(r, s, "priority", HERALD_PRIORITY_MIN,
	    HERALD_PRIORITY_MAX, &p->priority) == -1 ||
	    get_string(r, s, "catch_up", 0, &catch_up) == -1)
		goto fail;
	if (hd_cron_parse(p->schedule, &p->cron, error, sizeof error) == -1) {
		config_fail(r, config_setting_get_member(s, "schedule"),
		    "invalid schedule: %s", error);
		goto fail;
	}
	if (p->timezone == NULL)
		p->timezone = hd_xstrdup("UTC");
	else if (!hd_cron_zone_valid(p->timezone)) {
		config_fail(r, config_setting_get_member(s, "timezone"),
		    "unrecognized time zone \"%s\"; use a name of the tz "
		    "database, such as \"Europe/Berlin\"", p->timezone);
		goto fail;
	}
	if (hd_cron_next(&p->cron, p->timezone, (int64_t)time(NULL)) == -1) {
		config_fail(r, config_setting_get_member(s, "schedule"),
		    "schedule \"%s\" matches no date in the next %d years, "
		    "such as 30 February", p->schedule, HD_CRON_SEARCH_YEARS);
		goto fail;
	}
	if (hd_config_task(config, p->task) == NULL) {
		config_fail(r, config_setting_get_member(s, "task"),
		    "task \"%s\" is not defined in tasks", p->task);
		goto fail;
	}
	if (p->payload == NULL)
		p->payload = hd_xstrdup("{}");
	else if (herald_check_payload(p->payload, config->payload_max,
	    &herror) == -1) {
		config_fail(r, config_setting_get_member(s, "payload"), "%s",
		    herror.message);
		goto fail;
	}
	p->catch_up_latest = catch_up == NULL ||
	    strcmp(catch_up, "latest") == 0;
	if (catch_up != NULL && !p->catch_up_latest &&
	    strcmp(catch_up, "none") != 0) {
		config_fail(r, config_setting_get_member(s, "catch_up"),
		    "must be \"latest\" or \"none\"");
		goto fail;
	}
	free(catch_up);
	return 0;

fail:
	free(catch_up);
	return -1;
}

static int
read_periodic(struct config_reader *r, const config_setting_t *periodic,
    struct hd_config *config)
{
	const config_setting_t		*s;
	struct hd_periodic_config	*p;
	int				 i, n;

	if (!config_setting_is_group(periodic))
		return config_fail(r, periodic, "must be a group, such as "
		    "{ nightly = { schedule = \"0 3 * * *\"; "
		    "task = \"report\"; }; }");
	n = config_setting_length(periodic);
	config->periodic = hd_xcalloc((size_t)n, sizeof *config->periodic);

	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(periodic, i);
		p = &config->periodic[config->nperiodic++];
		p->setting = hd_xstrdup(config_setting_name(s));
		p->name = hd_xstrdup(p->setting);
		if (read_periodic_entry(r, s, config, p) == 0)
			(void)check_unique(r, periodic, i, "periodic entry",
			    "name", p->name, periodic_name_of, config);
	}
	return 0;
}

void
hd_config_free(struct hd_config *config)
{
	size_t	i;

	if (config == NULL)
		return;
	for (i = 0; i < config->nqueues; i++) {
		free(config->queues[i].name);
		free(config->queues[i].setting);
	}
	free(config->queues);
	for (i = 0; i < config->ntasks; i++) {
		free(config->tasks[i].name);
		free(config->tasks[i].setting);
		free(config->tasks[i].file);
		free(config->tasks[i].queue);
		free_vector(config->tasks[i].argv);
		free(config->tasks[i].module_path);
		free(config->tasks[i].module_symbol);
		free_vector(config->tasks[i].env);
		isolation_release(&config->tasks[i].isolation);
	}
	free(config->tasks);
	for (i = 0; i < config->nevents; i++) {
		free(config->events[i].type);
		free(config->events[i].setting);
		free_vector(config->events[i].tasks);
	}
	free(config->events);
	for (i = 0; i < config->nperiodic; i++) {
		free(config->periodic[i].name);
		free(config->periodic[i].setting);
		free(config->periodic[i].schedule);
		free(config->periodic[i].timezone);
		free(config->periodic[i].task);
		free(config->periodic[i].payload);
	}
	free(config->periodic);
	free(config->job_db);
	free(config->app_db);
	free(config->path);
	free(config->text);
	free(config);
}

const struct hd_queue_config *
hd_config_queue(const struct hd_config *config, const char *name)
{
	size_t	i;

	for (i = 0; i < config->nqueues; i++)
		if (strcmp(config->queues[i].name, name) == 0)
			return &config->queues[i];
	return NULL;
}

const struct hd_task_config *
hd_config_task(const struct hd_config *config, const char *name)
{
	size_t	i;

	for (i = 0; i < config->ntasks; i++)
		if (strcmp(config->tasks[i].name, name) == 0)
			return &config->tasks[i];
	return NULL;
}

int64_t
hd_config_retry_delay_ms(const struct hd_config *config, const char *task,
    int attempt)
{
	const struct hd_task_config	*t = hd_config_task(config, task);
	struct hd_retry_policy		 policy;

	if (t != NULL)
		policy = t->retry;
	else
		hd_retry_policy_init(&policy);
	return hd_backoff_delay_ms(&policy, attempt, hd_backoff_random());
}
