/*
 * cmd_enqueue.c: herald enqueue, which adds one job, or with --from many
 * jobs from a file of JSON lines, all of them or none.
 *
 * Every input is checked here, before the connection opens, so a bad
 * value changes nothing and its message names the value.  The database
 * checks names and ranges again in herald.enqueue().
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "db.h"
#include "util.h"

static const char usage[] =
    "herald enqueue TASK [--queue QUEUE] [--payload JSON | --payload -]\n"
    "           [--at TIME | --in DURATION] [--priority N] "
    "[--max-attempts N]\n"
    "           [--unique KEY [--unique-for DURATION] "
    "[--unique-states STATES]]\n"
    "       herald enqueue --from FILE|-";

/* The command line as given, before any of it is checked. */
struct enqueue_args {
	const char	*task;
	const char	*queue;
	const char	*payload;	/* "-": standard input */
	const char	*at;
	const char	*in;
	const char	*priority;
	const char	*max_attempts;
	const char	*from;		/* JSON lines; "-": standard input */
	const char	*unique;
	const char	*unique_for;
	const char	*unique_states;
};

static void
print_help(void)
{
	printf("herald enqueue adds a job and prints its id.\n\n"
	    "Usage: %s\n\n"
	    "Options:\n"
	    "  -q, --queue=QUEUE      queue of the job (default: the task's "
	    "queue in the\n"
	    "                         configuration, else \"default\")\n"
	    "  -p, --payload=JSON     payload, a JSON object or array; \"-\" "
	    "reads it from\n"
	    "                         standard input (default: {})\n"
	    "      --at=TIME          run at TIME, such as "
	    "\"2026-12-04T18:00:00Z\" or\n"
	    "                         \"2026-12-04 18:00:00+01:00\" (UTC "
	    "without an offset)\n"
	    "      --in=DURATION      run after DURATION, such as \"250ms\", "
	    "\"30s\", \"5m\", \"1h\"\n"
	    "                         (at most 366 days; --at runs later "
	    "jobs)\n"
	    "      --priority=N       priority from %d to %d, lower runs "
	    "first\n"
	    "                         (default: 0)\n"
	    "      --max-attempts=N   attempts from 1 to %d before the job "
	    "is dead\n"
	    "                         (default: the task's retry policy, "
	    "else %d)\n"
	    "  -f, --from=FILE        enqueue one job per line of FILE (\"-\": "
	    "standard\n"
	    "                         input), each a JSON object with the "
	    "keys task,\n"
	    "                         queue, payload, priority, run_at (a "
	    "time as for\n"
	    "                         --at), max_attempts, and unique, "
	    "unique_for and\n"
	    "                         unique_states (as the options below); a "
	    "bad line\n"
	    "                         enqueues nothing\n"
	    "  -u, --unique=KEY       enqueue nothing when a job with KEY is "
	    "queued or\n"
	    "                         running, and print that job's id "
	    "instead\n"
	    "      --unique-for=DURATION\n"
	    "                         with --unique: also for DURATION after "
	    "that job was\n"
	    "                         enqueued, even when it ended\n"
	    "      --unique-states=STATES\n"
	    "                         with --unique: the states that hold "
	    "the key,\n"
	    "                         \"queued\", \"running\" or "
	    "\"queued,running\" (default)\n"
	    "  -h, --help             print this help and exit\n\n"
	    "With a configuration, TASK must be one of its tasks.\n",
	    usage, HERALD_PRIORITY_MIN, HERALD_PRIORITY_MAX,
	    HERALD_ATTEMPTS_MAX, HERALD_DEFAULT_MAX_ATTEMPTS);
}

/* Read exactly n digits at *p into *value and advance *p; 0 or -1. */
static int
read_digits(const char **p, int n, int *value)
{
	int	i;

	*value = 0;
	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*value = *value * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

static int
days_in_month(int year, int month)
{
	static const int	days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	bool			leap = (year % 4 == 0 && year % 100 != 0) ||
	    year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Parse a UTC offset ("Z", "+01:00", "+0100", "-05") into seconds. */
static int
parse_offset(const char *p, long *offset_s)
{
	int	sign, hours, minutes = 0;

	if (*p == '\0' || strcmp(p, "Z") == 0 || strcmp(p, "z") == 0) {
		*offset_s = 0;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (read_digits(&p, 2, &hours) == -1 || hours > 23)
		return -1;
	if (*p == ':')
		p++;
	if (*p != '\0' && (read_digits(&p, 2, &minutes) == -1 ||
	    minutes > 59))
		return -1;
	if (*p != '\0')
		return -1;
	*offset_s = sign * (hours * 3600L + minutes * 60L);
	return 0;
}

/* The range of run_at that herald_enqueue() accepts, for messages. */
#define TIME_RANGE	"1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"
/* 9999-12-31T23:59:59.999999Z in Unix microseconds. */
#define TIME_MAX_US	INT64_C(253402300799999999)

/*
 * Parse an ISO 8601 / RFC 3339 time, "YYYY-MM-DD[T ]HH:MM[:SS[.frac]]"
 * and an optional offset, or a date alone, into Unix time in
 * microseconds.  A time without an offset, and a date, are UTC.  Return
 * 0, -1 when text is no such time, or -2 when it is one outside
 * TIME_RANGE.
 */
static int
parse_time(const char *text, int64_t *us)
{
	const char	*p = text;
	struct tm	 tm = { 0 };
	int		 year, month, day, hour, minute, second = 0;
	int64_t		 fraction_us = 0, scale = 100000;
	long		 offset_s;
	time_t		 t;
	bool		 past_9999 = false;

	if (read_digits(&p, 4, &year) == -1)
		return -1;
	/* An expanded year of five digits or more is after 9999. */
	for (; *p >= '0' && *p <= '9'; p++) {
		past_9999 = true;
		year = 10000;
	}
	if (*p++ != '-' ||
	    read_digits(&p, 2, &month) == -1 || *p++ != '-' ||
	    read_digits(&p, 2, &day) == -1)
		return -1;
	/* A date alone is its midnight in UTC. */
	if (*p == '\0')
		hour = minute = 0;
	else {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -1;
		p++;
		if (read_digits(&p, 2, &hour) == -1 || *p++ != ':' ||
		    read_digits(&p, 2, &minute) == -1)
			return -1;
	}
	if (*p == ':') {
		p++;
		if (read_digits(&p, 2, &second) == -1)
			return -1;
		if (*p == '.' || *p == ',') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			for (; *p >= '0' && *p <= '9'; p++) {
				fraction_us += (*p - '0') * scale;
				scale /= 10;
			}
		}
	}
	if (parse_offset(p, &offset_s) == -1)
		return -1;

	if (month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month) || hour > 23 || minute > 59 ||
	    second > 59)
		return -1;
	if (past_9999 || year < 1970)
		return -2;

	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	t = timegm(&tm);
	*us = ((int64_t)t - offset_s) * 1000000 + fraction_us;
	/* An offset can move a time of 1970 or 9999 out of the range. */
	if (*us < 0 || *us > TIME_MAX_US)
		return -2;
	return 0;
}

/* Set options->run_at_us from --at or --in. */
static int
parse_run_at(const struct enqueue_args *args,
    struct herald_job_options *options)
{
	int64_t	ms, now_us;
	int	rc;

	if (args->at != NULL &&
	    (rc = parse_time(args->at, &options->run_at_us)) != 0) {
		if (rc == -2)
			hd_cli_error("time \"%s\" for --at is out of range: use "
			    "a time from " TIME_RANGE, args->at);
		else
			hd_cli_error("invalid time \"%s\" for --at: use ISO "
			    "8601, such as \"2026-12-04T18:00:00Z\" or "
			    "\"2026-12-04 18:00:00+01:00\"", args->at);
		return EX_DATAERR;
	}
	if (args->in != NULL) {
		switch (hd_parse_duration_ms(args->in, &ms)) {
		case 0:
			break;
		case -2:
			hd_cli_error("duration \"%s\" for --in is out of range: "
			    "the maximum is 366d", args->in);
			return EX_DATAERR;
		default:
			hd_cli_error("invalid duration \"%s\" for --in: use a "
			    "number and a unit, such as \"250ms\", \"30s\", "
			    "\"5m\" or \"1h\"", args->in);
			return EX_DATAERR;
		}
		now_us = hd_realtime_us();
		if (ms > (INT64_MAX - now_us) / 1000) {
			hd_cli_error("duration \"%s\" for --in is too long",
			    args->in);
			return EX_DATAERR;
		}
		/* 0 means now to herald_enqueue, so --in 0 stays valid. */
		options->run_at_us = now_us + ms * 1000;
	}
	return HD_EXIT_OK;
}

/*
 * Check the task and queue against the configuration, if there is one,
 * and take the task's queue and attempts as defaults.
 */
static int
apply_config(struct hd_cli *cli, const struct enqueue_args *args,
    struct herald_job_options *options)
{
	const struct hd_config		*config;
	const struct hd_task_config	*task;
	int				 status;

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
		return status;
	if (config == NULL)
		return HD_EXIT_OK;

	task = hd_config_task(config, args->task);
	if (task == NULL) {
		hd_cli_error("unknown task \"%s\" in \"%s\"", args->task,
		    config->path);
		return EX_DATAERR;
	}
	if (args->queue != NULL && strcmp(args->queue, task->queue) != 0) {
		hd_cli_error("task \"%s\" runs on queue \"%s\" in \"%s\", not "
		    "on \"%s\"", args->task, task->queue, config->path,
		    args->queue);
		return EX_DATAERR;
	}
	options->queue = task->queue;
	if (options->max_attempts == 0)
		options->max_attempts = task->retry.max_attempts;
	return HD_EXIT_OK;
}

/* The names of the unique options on the command line or in --from. */
struct unique_names {
	const char	*key;
	const char	*unique_for;
	const char	*states;
};

static const struct unique_names unique_option_names = {
	"--unique", "--unique-for", "--unique-states"
};
static const struct unique_names unique_field_names = {
	"unique", "unique_for", "unique_states"
};

/*
 * Check a unique key, with its period and states (each NULL when not
 * given), and fill options from them.  Return 0, or -1 with the reason
 * in message, naming the option or field by names.
 */
static int
parse_unique(const char *key, const char *unique_for, const char *states,
    const struct unique_names *names, struct herald_job_options *options,
    char *message, size_t size)
{
	int64_t	ms;
	int	rc;

	if (key[0] == '\0' || strlen(key) > HERALD_UNIQUE_KEY_MAX) {
		snprintf(message, size, "invalid key for %s: use 1 to %d "
		    "bytes", names->key, HERALD_UNIQUE_KEY_MAX);
		return -1;
	}
	options->unique_key = key;
	if (unique_for != NULL) {
		rc = hd_parse_duration_ms(unique_for, &ms);
		if (rc == -2) {
			snprintf(message, size, "duration \"%s\" for %s is out "
			    "of range: the maximum is 366d", unique_for,
			    names->unique_for);
			return -1;
		}
		if (rc == -1 || ms <= 0) {
			snprintf(message, size, "invalid duration \"%s\" for "
			    "%s: use a positive duration such as \"30s\", "
			    "\"5m\" or \"1h\"", unique_for, names->unique_for);
			return -1;
		}
		options->unique_for_ms = ms;
	}
	if (states == NULL || strcmp(states, "queued,running") == 0 ||
	    strcmp(states, "running,queued") == 0)
		options->unique_states = HERALD_UNIQUE_QUEUED |
		    HERALD_UNIQUE_RUNNING;
	else if (strcmp(states, "queued") == 0)
		options->unique_states = HERALD_UNIQUE_QUEUED;
	else if (strcmp(states, "running") == 0)
		options->unique_states = HERALD_UNIQUE_RUNNING;
	else {
		snprintf(message, size, "invalid states \"%s\" for %s: use "
		    "\"queued\", \"running\" or \"queued,running\"", states,
		    names->states);
		return -1;
	}
	return 0;
}

/* Check the unique key options and fill options from them. */
static int
check_unique(const struct enqueue_args *args,
    struct herald_job_options *options)
{
	char	message[512];

	if (args->unique == NULL)
		return HD_EXIT_OK;
	if (parse_unique(args->unique, args->unique_for, args->unique_states,
	    &unique_option_names, options, message, sizeof message) == -1) {
		hd_cli_error("%s", message);
		return EX_DATAERR;
	}
	return HD_EXIT_OK;
}

/* Check the names, numbers and times, and fill options from them. */
static int
check_args(const struct enqueue_args *args,
    struct herald_job_options *options)
{
	struct herald_error	error;
	long			value;
	int			status;

	if (herald_check_name("task", args->task, &error) == -1 ||
	    (args->queue != NULL &&
	    herald_check_name("queue", args->queue, &error) == -1)) {
		hd_cli_error("%s", error.message);
		return EX_DATAERR;
	}
	options->queue = args->queue;

	if (args->priority != NULL) {
		status = hd_cli_parse_int("--priority", args->priority,
		    HERALD_PRIORITY_MIN, HERALD_PRIORITY_MAX, &value);
		if (status != HD_EXIT_OK)
			return status;
		options->priority = (int)value;
	}
	if (args->max_attempts != NULL) {
		status = hd_cli_parse_int("--max-attempts", args->max_attempts,
		    1, HERALD_ATTEMPTS_MAX, &value);
		if (status != HD_EXIT_OK)
			return status;
		options->max_attempts = (int)value;
	}
	return parse_run_at(args, options);
}

/*
 * Read the payload from standard input, at most max_bytes + 1 bytes, so
 * that a payload over the limit is rejected without being read whole.
 */
static int
read_stdin(size_t max_bytes, char **payload)
{
	size_t	 cap = max_bytes + 2, len = 0;
	ssize_t	 n;
	char	*buf;

	buf = hd_xmalloc(cap);
	while (len < max_bytes + 1) {
		n = read(STDIN_FILENO, buf + len, max_bytes + 1 - len);
		if (n == 0)
			break;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			hd_cli_error("could not read payload from standard "
			    "input: %s", strerror(errno));
			free(buf);
			return HD_EXIT_FAILURE;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len > max_bytes) {
		hd_cli_error("payload on standard input is over the limit "
		    "of %zu bytes", max_bytes);
		free(buf);
		return EX_DATAERR;
	}
	if (strlen(buf) != len) {
		hd_cli_error("payload contains a NUL byte at byte %zu",
		    strlen(buf) + 1);
		free(buf);
		return EX_DATAERR;
	}
	*payload = buf;
	return HD_EXIT_OK;
}

/* Read and check the payload; *payload is malloc'ed. */
static int
load_payload(struct hd_cli *cli, const struct enqueue_args *args,
    char **payload)
{
	const struct hd_config	*config;
	struct herald_error	 error;
	size_t			 max_bytes = HERALD_PAYLOAD_MAX;
	int			 status;

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
		return status;
	if (config != NULL)
		max_bytes = config->payload_max;

	if (args->payload == NULL)
		*payload = hd_xstrdup("{}");
	else if (strcmp(args->payload, "-") == 0) {
		if ((status = read_stdin(max_bytes, payload)) != HD_EXIT_OK)
			return status;
	} else
		*payload = hd_xstrdup(args->payload);

	if (herald_check_payload(*payload, max_bytes, &error) == -1) {
		/* The library's message names the payload. */
		hd_cli_error("%s", error.message);
		free(*payload);
		*payload = NULL;
		return EX_DATAERR;
	}
	return HD_EXIT_OK;
}

static int
parse_args(int argc, char **argv, struct enqueue_args *args)
{
	enum { OPT_AT = 256, OPT_IN, OPT_PRIORITY, OPT_MAX_ATTEMPTS,
	    OPT_UNIQUE_FOR, OPT_UNIQUE_STATES };
	bool				job_options = false;
	static const struct option	options[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "payload", required_argument, NULL, 'p' },
		{ "at", required_argument, NULL, OPT_AT },
		{ "in", required_argument, NULL, OPT_IN },
		{ "priority", required_argument, NULL, OPT_PRIORITY },
		{ "max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS },
		{ "from", required_argument, NULL, 'f' },
		{ "unique", required_argument, NULL, 'u' },
		{ "unique-for", required_argument, NULL, OPT_UNIQUE_FOR },
		{ "unique-states", required_argument, NULL,
		    OPT_UNIQUE_STATES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int				c;

	while ((c = getopt_long(argc, argv, ":q:p:f:u:h", options,
	    NULL)) != -1) {
		job_options |= c != 'f';
		switch (c) {
		case 'f':
			args->from = optarg;
			break;
		case 'q':
			args->queue = optarg;
			break;
		case 'p':
			args->payload = optarg;
			break;
		case OPT_AT:
			args->at = optarg;
			break;
		case OPT_IN:
			args->in = optarg;
			break;
		case OPT_PRIORITY:
			args->priority = optarg;
			break;
		case OPT_MAX_ATTEMPTS:
			args->max_attempts = optarg;
			break;
		case 'u':
			args->unique = optarg;
			break;
		case OPT_UNIQUE_FOR:
			args->unique_for = optarg;
			break;
		case OPT_UNIQUE_STATES:
			args->unique_states = optarg;
			break;
		case 'h':
			print_help();
			return -1;
		default:
			return hd_cli_bad_option("enqueue", usage, options, argv, c);
		}
	}

	if (args->from != NULL) {
		if (job_options || optind < argc)
			return hd_cli_usage_error("enqueue", usage,
			    "--from cannot be used with a task or job options");
		return HD_EXIT_OK;
	}
	if (optind >= argc)
		return hd_cli_usage_error("enqueue", usage, "no task given");
	args->task = argv[optind++];
	if (optind < argc)
		return hd_cli_usage_error("enqueue", usage,
		    "unexpected argument \"%s\"", argv[optind]);
	if (args->at != NULL && args->in != NULL)
		return hd_cli_usage_error("enqueue", usage,
		    "--at and --in cannot be used together");
	if (args->unique == NULL && (args->unique_for != NULL ||
	    args->unique_states != NULL))
		return hd_cli_usage_error("enqueue", usage,
		    "--unique-for and --unique-states need --unique");
	return HD_EXIT_OK;
}

/* Jobs per herald_enqueue_many() call of --from, all in one transaction. */
#define FROM_BATCH	1000

/* The jobs of a --from file; every string is owned by the list. */
struct from_jobs {
	struct herald_job	*jobs;
	size_t			 njobs;
	size_t			 cap;
};

static void
from_jobs_release(struct from_jobs *list)
{
	size_t	i;

	for (i = 0; i < list->njobs; i++) {
		free((char *)list->jobs[i].task);
		free((char *)list->jobs[i].payload);
		free((char *)list->jobs[i].options.queue);
		free((char *)list->jobs[i].options.unique_key);
	}
	free(list->jobs);
}

/*
 * Read an integer member of a line into *value; 0, or -1 with a message.
 * The line is read with every number as a double, so a whole number
 * arrives as one.
 */
static int
from_int(json_t *value, const char *key, long min, long max, long *out,
    char *message, size_t size)
{
	double	number = json_number_value(value);

	if (!json_is_number(value) || number < min || number > max ||
	    number != (double)(long)number) {
		snprintf(message, size, "%s must be a whole number from %ld to "
		    "%ld", key, min, max);
		return -1;
	}
	*out = (long)number;
	return 0;
}

/* Read the string member key of a line, or NULL when it is absent. */
static int
from_string(json_t *object, const char *key, const char **out,
    char *message, size_t size)
{
	json_t	*value = json_object_get(object, key);

	*out = NULL;
	if (value == NULL || json_is_null(value))
		return 0;
	if (!json_is_string(value)) {
		snprintf(message, size, "%s must be a string", key);
		return -1;
	}
	*out = json_string_value(value);
	return 0;
}

/* Check that a line names no key other than the job's. */
static int
from_check_keys(json_t *object, char *message, size_t size)
{
	static const char	*const keys[] = {
		"task", "queue", "payload", "priority", "run_at",
		"max_attempts", "unique", "unique_for", "unique_states", NULL
	};
	const char		*key;
	json_t			*value;
	int			 i;

	json_object_foreach(object, key, value) {
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (keys[i] == NULL) {
			snprintf(message, size, "unrecognized key \"%s\"; use "
			    "task, queue, payload, priority, run_at, "
			    "max_attempts, unique, unique_for or "
			    "unique_states", key);
			return -1;
		}
	}
	return 0;
}

/* Fill the options of a job from a line's priority, run_at, max_attempts. */
static int
from_options(json_t *object, struct herald_job_options *options,
    char *message, size_t size)
{
	const char	*run_at;
	json_t		*value;
	long		 number;
	int		 rc;

	if ((value = json_object_get(object, "priority")) != NULL &&
	    !json_is_null(value)) {
		if (from_int(value, "priority", HERALD_PRIORITY_MIN,
		    HERALD_PRIORITY_MAX, &number, message, size) == -1)
			return -1;
		options->priority = (int)number;
	}
	if ((value = json_object_get(object, "max_attempts")) != NULL &&
	    !json_is_null(value)) {
		if (from_int(value, "max_attempts", 1, HERALD_ATTEMPTS_MAX,
		    &number, message, size) == -1)
			return -1;
		options->max_attempts = (int)number;
	}
	if (from_string(object, "run_at", &run_at, message, size) == -1)
		return -1;
	if (run_at == NULL)
		return 0;
	rc = parse_time(run_at, &options->run_at_us);
	if (rc == -2) {
		snprintf(message, size, "time \"%s\" for run_at is out of "
		    "range: use a time from " TIME_RANGE, run_at);
		return -1;
	}
	if (rc == -1) {
		snprintf(message, size, "invalid time \"%s\" for run_at: use "
		    "ISO 8601, such as \"2026-12-04T18:00:00Z\"", run_at);
		return -1;
	}
	return 0;
}

/*
 * Fill the unique options of a job from a line's unique, unique_for and
 * unique_states.  options->unique_key points into object until the
 * caller copies it.
 */
static int
from_unique(json_t *object, struct herald_job_options *options,
    char *message, size_t size)
{
	const char	*key, *unique_for, *states;

	if (from_string(object, "unique", &key, message, size) == -1 ||
	    from_string(object, "unique_for", &unique_for, message,
	    size) == -1 ||
	    from_string(object, "unique_states", &states, message,
	    size) == -1)
		return -1;
	if (key == NULL) {
		if (unique_for != NULL || states != NULL) {
			snprintf(message, size, "unique_for and unique_states "
			    "need unique");
			return -1;
		}
		return 0;
	}
	return parse_unique(key, unique_for, states, &unique_field_names,
	    options, message, size);
}

/* Check the task and queue of a line against the configuration. */
static int
from_apply_config(const struct hd_config *config, const char *task_name,
    const char **queue, struct herald_job_options *options, char *message,
    size_t size)
{
	const struct hd_task_config	*task;

	if (config == NULL)
		return 0;
	if ((task = hd_config_task(config, task_name)) == NULL) {
		snprintf(message, size, "unknown task \"%s\" in \"%s\"",
		    task_name, config->path);
		return -1;
	}
	if (*queue != NULL && strcmp(*queue, task->queue) != 0) {
		snprintf(message, size, "task \"%s\" runs on queue \"%s\" in "
		    "\"%s\", not on \"%s\"", task_name, task->queue,
		    config->path, *queue);
		return -1;
	}
	*queue = task->queue;
	if (options->max_attempts == 0)
		options->max_attempts = task->retry.max_attempts;
	return 0;
}

/* Return the index past the JSON string that starts at line[i]. */
static size_t
json_skip_string(const char *line, size_t len, size_t i)
{
	for (i++; i < len && line[i] != '"'; i++)
		if (line[i] == '\\')
			i++;
	return i + 1;
}

/*
 * Return the index past the JSON value that starts at line[i], which
 * ends before a comma, white space or the bracket that closes the object
 * around it.
 */
static size_t
json_skip_value(const char *line, size_t len, size_t i)
{
	int	depth = 0;

	while (i < len) {
		if (line[i] == '"') {
			i = json_skip_string(line, len, i);
			continue;
		}
		if (line[i] == '{' || line[i] == '[')
			depth++;
		else if (line[i] == '}' || line[i] == ']') {
			if (depth == 0)
				break;
			depth--;
		} else if (depth == 0 && strchr(", \t\r\n", line[i]) != NULL)
			break;
		i++;
	}
	return i;
}

static size_t
json_skip_space(const char *line, size_t len, size_t i)
{
	while (i < len && strchr(" \t\r\n", line[i]) != NULL)
		i++;
	return i;
}

/* Return whether the JSON string key, quotes included, is "payload". */
static bool
json_key_is_payload(const char *key, size_t len)
{
	json_t	*value;
	bool	 is;

	if (memchr(key, '\\', len) == NULL)
		return len == 9 && memcmp(key, "\"payload\"", 9) == 0;
	value = json_loadb(key, len, JSON_DECODE_ANY, NULL);
	is = value != NULL && strcmp(json_string_value(value), "payload") == 0;
	json_decref(value);
	return is;
}

/*
 * Find the text of the payload member in line, a JSON object that jansson
 * read or stopped in only at a number out of range, and store its bounds.
 * Return 0, or -1 when it has none.
 */
static int
from_payload_span(const char *line, size_t len, size_t *start, size_t *end)
{
	size_t	i, key;

	i = json_skip_space(line, len, 0) + 1;	/* past the { */
	while ((i = json_skip_space(line, len, i)) < len && line[i] == '"') {
		key = i;
		i = json_skip_string(line, len, i);
		if (json_key_is_payload(line + key, i - key)) {
			i = json_skip_space(line, len, i) + 1;	/* the : */
			*start = json_skip_space(line, len, i);
			*end = json_skip_value(line, len, *start);
			return 0;
		}
		i = json_skip_space(line, len, i) + 1;
		i = json_skip_value(line, len, json_skip_space(line, len, i));
		i = json_skip_space(line, len, i) + 1;	/* the , */
	}
	return -1;
}

/*
 * Check the payload of a line and store its text as the line has it, so
 * that numbers reach jsonb as written.
 */
static int
from_payload(json_t *object, const char *line, size_t len,
    size_t max_bytes, char **payload, char *message, size_t size)
{
	json_t	*value = json_object_get(object, "payload");
	size_t	 start, end;

	*payload = NULL;
	if (value == NULL || json_is_null(value)) {
		*payload = hd_xstrdup("{}");
		return 0;
	}
	if (!json_is_object(value) && !json_is_array(value)) {
		snprintf(message, size, "payload must be a JSON object or "
		    "array");
		return -1;
	}
	if (from_payload_span(line, len, &start, &end) == -1) {
		snprintf(message, size, "payload could not be found");
		return -1;
	}
	if (end - start > max_bytes) {
		snprintf(message, size, "payload of %zu bytes exceeds the limit "
		    "of %zu bytes", end - start, max_bytes);
		return -1;
	}
	*payload = hd_xmalloc(end - start + 1);
	memcpy(*payload, line + start, end - start);
	(*payload)[end - start] = '\0';
	return 0;
}

/*
 * Read a line that has a number past the range of a double.  jsonb stores
 * such a number as numeric, and the payload's text is stored as the line
 * has it, so the numbers of the payload are read as 0 for the checks.
 * A number as large in another member stays an error.
 */
static json_t *
from_load_wide(const char *line, size_t len, json_error_t *json_error)
{
	json_t	*object;
	char	*copy;
	size_t	 start, end;

	if (from_payload_span(line, len, &start, &end) == -1)
		return NULL;
	copy = hd_xmalloc(len + 1);
	memcpy(copy, line, len);
	copy[len] = '\0';
	hd_json_zero_numbers(copy + start, end - start);
	object = json_loadb(copy, len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_INT_AS_REAL, json_error);
	free(copy);
	return object;
}

/*
 * Parse one line into a job.  Return 0, or -1 with the reason in message;
 * the job's strings are malloc'ed.
 */
static int
from_parse_line(const struct hd_config *config, const char *line,
    size_t len, struct herald_job *job, char *message, size_t size)
{
	struct herald_error	 error;
	json_error_t		 json_error;
	json_t			*object;
	const char		*task, *queue, *nul;
	char			*payload = NULL, key[128];
	int			 rc = -1;

	memset(job, 0, sizeof *job);
	if ((nul = memchr(line, '\0', len)) != NULL) {
		snprintf(message, size, "contains a NUL byte at byte %zu",
		    (size_t)(nul - line) + 1);
		return -1;
	}
	object = json_loadb(line, len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_INT_AS_REAL, &json_error);
	if (object == NULL &&
	    json_error_code(&json_error) == json_error_numeric_overflow)
		object = from_load_wide(line, len, &json_error);
	if (object == NULL) {
		if (json_error_code(&json_error) == json_error_null_character)
			snprintf(message, size, "\\u0000 at column %d: "
			    "PostgreSQL jsonb does not accept it",
			    json_error.column);
		else if (json_error_code(&json_error) ==
		    json_error_duplicate_key) {
			hd_json_error_token(json_error.text, key, sizeof key);
			snprintf(message, size, "duplicate key %s at column %d",
			    key, json_error.column);
		} else if (json_error_code(&json_error) ==
		    json_error_numeric_overflow) {
			hd_json_error_token(json_error.text, key, sizeof key);
			snprintf(message, size, "number %s at column %d is out "
			    "of range; only the payload may hold it", key,
			    json_error.column);
		} else if (json_error_code(&json_error) ==
		    json_error_premature_end_of_input)
			snprintf(message, size, "invalid JSON: the line ends "
			    "before the value does");
		else
			snprintf(message, size, "invalid JSON at column %d: %s",
			    json_error.column, json_error.text);
		return -1;
	}
	if (!json_is_object(object)) {
		snprintf(message, size, "a line must be a JSON object");
		goto out;
	}
	if (from_check_keys(object, message, size) == -1 ||
	    from_string(object, "task", &task, message, size) == -1 ||
	    from_string(object, "queue", &queue, message, size) == -1)
		goto out;
	if (task == NULL) {
		snprintf(message, size, "task is missing");
		goto out;
	}
	if (herald_check_name("task", task, &error) == -1 ||
	    (queue != NULL && herald_check_name("queue", queue,
	    &error) == -1)) {
		snprintf(message, size, "%s", error.message);
		goto out;
	}
	if (from_options(object, &job->options, message, size) == -1 ||
	    from_unique(object, &job->options, message, size) == -1 ||
	    from_apply_config(config, task, &queue, &job->options, message,
	    size) == -1 ||
	    from_payload(object, line, len, config != NULL ?
	    config->payload_max : HERALD_PAYLOAD_MAX, &payload, message,
	    size) == -1)
		goto out;

	job->task = hd_xstrdup(task);
	job->options.payload_max = config != NULL ? config->payload_max :
	    HERALD_PAYLOAD_MAX;
	job->options.queue = queue != NULL ? hd_xstrdup(queue) : NULL;
	if (job->options.unique_key != NULL)
		job->options.unique_key = hd_xstrdup(job->options.unique_key);
	job->payload = payload;
	rc = 0;
out:
	json_decref(object);
	return rc;
}

/* True when the len bytes of line are only white space. */
static bool
line_blank(const char *line, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
		    line[i] != '\n')
			return false;
	return true;
}

/*
 * Read the next line of in into *line, growing it up to max bytes.
 * Return its length, -1 at the end of in or on a read error, or -2 when
 * the line is longer than max, so that one huge line is not read whole.
 */
static ssize_t
from_getline(FILE *in, char **line, size_t *cap, size_t max)
{
	size_t	len = 0;
	int	c;

	while ((c = getc_unlocked(in)) != EOF) {
		if (len + 2 > *cap) {
			if (len >= max)
				return -2;
			*cap = *cap > 0 ? *cap * 2 : 4096;
			*line = hd_xrealloc(*line, *cap, 1);
		}
		(*line)[len++] = (char)c;
		if (c == '\n')
			break;
	}
	if (len == 0)
		return -1;
	(*line)[len] = '\0';
	return (ssize_t)len;
}

/* Read and check every line of in; on a bad line report it and stop. */
static int
from_read(const struct hd_config *config, FILE *in, const char *name,
    struct from_jobs *list)
{
	char	*line = NULL, message[512];
	size_t	 cap = 0, lineno = 0, payload_max, max;
	ssize_t	 len;
	int	 status = HD_EXIT_OK;

	/*
	 * A line is its payload, which may take up to six bytes a byte in
	 * escapes, and a few short fields.
	 */
	payload_max = config != NULL ? config->payload_max :
	    HERALD_PAYLOAD_MAX;
	max = 6 * payload_max + 65536;
	while ((len = from_getline(in, &line, &cap, max)) != -1) {
		lineno++;
		if (len == -2) {
			hd_cli_error("invalid job on line %zu of %s: the line "
			    "is longer than %zu bytes, more than a job with a "
			    "payload of at most %zu bytes takes", lineno,
			    name, max, payload_max);
			status = EX_DATAERR;
			break;
		}
		if (line_blank(line, (size_t)len))
			continue;
		if (list->njobs == list->cap) {
			list->cap = list->cap > 0 ? list->cap * 2 : 256;
			list->jobs = hd_xrealloc(list->jobs, list->cap,
			    sizeof *list->jobs);
		}
		if (from_parse_line(config, line, (size_t)len,
		    &list->jobs[list->njobs], message, sizeof message) == -1) {
			hd_cli_error("invalid job on line %zu of %s: %s",
			    lineno, name, message);
			status = EX_DATAERR;
			break;
		}
		list->njobs++;
	}
	if (status == HD_EXIT_OK && ferror(in)) {
		hd_cli_error("could not read %s: %s", name, strerror(errno));
		status = HD_EXIT_FAILURE;
	}
	free(line);
	return status;
}

/*
 * Return the exit status for a failed call of libherald, and name the
 * role to grant when the database denied it.
 */
static int
enqueue_status(const struct herald_error *error)
{
	if (strcmp(error->sqlstate, HD_SQLSTATE_DENIED) == 0)
		hd_cli_error("hint: this role may not enqueue: grant it "
		    "herald_producer (see security.md of herald's "
		    "documentation)");
	if (error->code == HERALD_ECONNECT)
		return EX_UNAVAILABLE;
	if (error->code == HERALD_EINVAL)
		return EX_DATAERR;
	return HD_EXIT_FAILURE;
}

/*
 * Print the ids of the njobs jobs enqueued in the open transaction, then
 * commit it.  When the ids cannot be written, roll the jobs back, so that
 * a script that gets the failure can enqueue them again without making
 * two of each.
 */
static int
enqueue_commit(struct hd_cli *cli, const int64_t *ids, size_t njobs)
{
	struct herald_error	error;
	size_t			i;

	for (i = 0; i < njobs; i++)
		printf("%" PRId64 "\n", ids[i]);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		(void)hd_db_exec(cli->conn, "ROLLBACK", &error);
		hd_cli_error("could not write to standard output; no job was "
		    "enqueued");
		return HD_EXIT_FAILURE;
	}
	if (hd_db_exec(cli->conn, "COMMIT", &error) == -1) {
		hd_cli_herald_error(njobs == 1 ? "could not enqueue job" :
		    "could not enqueue jobs", &error);
		return enqueue_status(&error);
	}
	return HD_EXIT_OK;
}

/* Enqueue the jobs in batches inside one transaction and print the ids. */
static int
from_enqueue(struct hd_cli *cli, const struct from_jobs *list)
{
	struct herald_error	 error;
	int64_t			*ids;
	size_t			 i, n;
	int			 status;

	ids = hd_xcalloc(list->njobs > 0 ? list->njobs : 1, sizeof *ids);
	if (hd_db_exec(cli->conn, "BEGIN", &error) == -1)
		goto failed;
	for (i = 0; i < list->njobs; i += n) {
		n = list->njobs - i < FROM_BATCH ? list->njobs - i : FROM_BATCH;
		if (herald_enqueue_many(cli->conn, list->jobs + i, n, ids + i,
		    &error) == -1)
			goto failed;
	}
	status = enqueue_commit(cli, ids, list->njobs);
	free(ids);
	return status;

failed:
	/* A "job N:" in the message counts from the batch's first job. */
	hd_cli_herald_error("could not enqueue jobs", &error);
	free(ids);
	return enqueue_status(&error);
}

/*
 * Open the file of --from, or take standard input for "-", and set *name
 * to how messages name it: "standard input" or the path in quotes, in
 * memory the caller frees.
 */
static int
from_open(const char *path, FILE **in, char **name)
{
	struct stat	st;
	size_t		size;

	if (strcmp(path, "-") == 0) {
		*in = stdin;
		*name = hd_xstrdup("standard input");
		return HD_EXIT_OK;
	}
	if ((*in = fopen(path, "r")) == NULL) {
		hd_cli_error("could not open \"%s\": %s", path,
		    strerror(errno));
		return EX_NOINPUT;
	}
	/* On Linux, fopen() opens a directory, and only a read fails. */
	if (fstat(fileno(*in), &st) == 0 && S_ISDIR(st.st_mode)) {
		hd_cli_error("could not open \"%s\": it is a directory, not a "
		    "file of JSON lines", path);
		fclose(*in);
		return EX_NOINPUT;
	}
	size = strlen(path) + 3;
	*name = hd_xmalloc(size);
	snprintf(*name, size, "\"%s\"", path);
	return HD_EXIT_OK;
}

/* herald enqueue --from FILE: every line a job, all of them or none. */
static int
enqueue_from(struct hd_cli *cli, const char *path)
{
	const struct hd_config	*config;
	struct from_jobs	 list = { 0 };
	char			*name;
	FILE			*in;
	int			 status;

	if ((status = hd_cli_config(cli, &config)) != HD_EXIT_OK)
		return status;
	if ((status = from_open(path, &in, &name)) != HD_EXIT_OK)
		return status;
	status = from_read(config, in, name, &list);
	if (in != stdin)
		fclose(in);
	if (status == HD_EXIT_OK && list.njobs == 0)
		hd_cli_error("note: %s has no job; nothing was enqueued", name);
	free(name);
	if (status == HD_EXIT_OK &&
	    (status = hd_cli_connect(cli, true)) == HD_EXIT_OK)
		status = from_enqueue(cli, &list);
	from_jobs_release(&list);
	return status;
}

int
hd_cmd_enqueue(struct hd_cli *cli, int argc, char **argv)
{
	struct enqueue_args		 args = { 0 };
	struct herald_job_options	 options = { 0 };
	struct herald_error		 error;
	char				*payload = NULL;
	int64_t				 id;
	int				 status;

	status = parse_args(argc, argv, &args);
	if (status != HD_EXIT_OK)
		return status == -1 ? HD_EXIT_OK : status;
	if (args.from != NULL)
		return enqueue_from(cli, args.from);
	if ((status = check_args(&args, &options)) != HD_EXIT_OK ||
	    (status = check_unique(&args, &options)) != HD_EXIT_OK ||
	    (status = apply_config(cli, &args, &options)) != HD_EXIT_OK ||
	    (status = load_payload(cli, &args, &payload)) != HD_EXIT_OK)
		return status;

	if ((status = hd_cli_connect(cli, true)) != HD_EXIT_OK)
		goto out;
	if (cli->config != NULL)
		options.payload_max = cli->config->payload_max;
	if (hd_db_exec(cli->conn, "BEGIN", &error) == -1 ||
	    herald_enqueue(cli->conn, args.task, payload, &options, &id,
	    &error) == -1) {
		hd_cli_herald_error("could not enqueue job", &error);
		status = enqueue_status(&error);
		goto out;
	}
	status = enqueue_commit(cli, &id, 1);
	/*
	 * Without a file the task's queue is unknown here; a job sent to
	 * "default" that the task's workers do not serve would wait there.
	 */
	if (status == HD_EXIT_OK && cli->config == NULL && args.queue == NULL)
		hd_cli_error("note: no configuration file was read, so job "
		    "%" PRId64 " went to queue \"%s\"; give -c FILE or --queue "
		    "for the task's queue", id, HERALD_DEFAULT_QUEUE);

out:
	free(payload);
	return status;
}
