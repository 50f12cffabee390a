/*
 * config.h: herald.conf, read with libconfig.
 *
 * hd_config_load() reads and checks a whole file; it either returns a
 * complete configuration or fails with a message that names the file, the
 * line and the setting.  Every string and array in struct hd_config is
 * owned by it and freed by hd_config_free().  Arrays are in file order.
 */

#ifndef HD_CONFIG_H
#define HD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backoff.h"
#include "cron.h"
#include "log.h"

#define HD_CONFIG_ERROR_MAX	512

/*
 * Each queue, task, event route and periodic entry has the herald name
 * of its name setting (type for an event), else the setting's own name.
 * setting is the setting's own name, for messages and herald config: a
 * setting name cannot contain every herald name, such as "mail.v2".
 */
struct hd_queue_config {
	char		*name;
	char		*setting;
	int		 workers;	/* worker processes, 0 .. 256 */
	int		 concurrency;	/* jobs at once per worker, 1 .. 1024 */
	int64_t		 poll_interval_ms; /* fallback when no NOTIFY comes */
	int64_t		 max_jobs;	/* jobs before a worker is replaced; 0: none */
	int64_t		 max_rss;	/* bytes of RSS before it is; 0: none */
	/* Jobs of the queue running at once on every host; 0: no limit. */
	int		 global_limit;
	double		 rate;		/* jobs claimed per second; 0: no limit */
};

/*
 * A periodic job: the active janitor enqueues task with payload at each
 * slot of schedule (cron.h) in timezone.
 */
struct hd_periodic_config {
	char		*name;
	char		*setting;
	char		*schedule;	/* as written, such as "0 3 * * *" */
	struct hd_cron	 cron;
	char		*timezone;	/* a tz database name; "UTC" default */
	char		*task;		/* names an entry of tasks */
	char		*payload;	/* JSON text, "{}" by default */
	int		 priority;
	/* After downtime: run the newest missed slot, or skip it. */
	bool		 catch_up_latest;
};

/* Entries of a task's env list at most. */
#define HD_TASK_ENV_MAX		32

/*
 * Confinement of an exec handler's process before execve(): the user
 * and groups it runs as, and its resource limits (0: inherited).
 */
struct hd_isolation {
	char		*user;		/* names as configured, or NULL */
	char		*group;
	bool		 set_ids;	/* change to uid, gid and groups */
	uid_t		 uid;
	gid_t		 gid;
	gid_t		*groups;	/* supplementary groups */
	size_t		 ngroups;
	int64_t		 address_space;	/* RLIMIT_AS, bytes */
	int64_t		 open_files;	/* RLIMIT_NOFILE */
	int64_t		 cpu_time_s;	/* RLIMIT_CPU, seconds */
};

struct hd_task_config {
	char		*name;
	char		*setting;
	char		*file;		/* an included file of the setting */
	int		 line;		/* of the setting, for messages */
	int		 handler_line;	/* of its exec or module */
	char		*queue;		/* names an entry of queues */
	char		**argv;		/* exec handler, NULL-terminated */
	size_t		 argc;
	char		*module_path;	/* module handler */
	char		*module_symbol;
	int64_t		 timeout_ms;
	struct hd_retry_policy retry;
	/*
	 * Variables the handler gets besides PATH, LANG and HERALD_*: "NAME"
	 * passes heraldd's value on, "NAME=value" sets one.
	 */
	char		**env;		/* NULL-terminated */
	size_t		 nenv;
	struct hd_isolation isolation;	/* the top level's, unless set */
};

struct hd_event_route {
	char		*type;
	char		*setting;
	bool		 group;		/* written as { type; tasks; } */
	char		**tasks;	/* each names an entry of tasks */
	size_t		 ntasks;
};

struct hd_config {
	char		*path;
	char		*text;		/* the file as read, NUL-terminated */
	size_t		 text_len;
	char		*job_db;	/* libpq conninfo */
	char		*app_db;	/* NULL when there is no outbox */
	enum hd_log_level log_level;
	int64_t		 grace_period_ms; /* drain time on SIGTERM */
	int64_t		 lease_ms;	/* lease a claim takes and renews */
	size_t		 payload_max;	/* bytes */

	/* What the janitor keeps; 0 keeps forever. */
	int64_t		 keep_counters_ms; /* per-minute counters */
	int64_t		 keep_hourly_ms; /* per-hour counters */
	int64_t		 keep_dead_ms;
	int64_t		 keep_dead_rows; /* newest dead jobs kept; 0: all */
	int64_t		 keep_processes_ms; /* registrations without heartbeat */

	/*
	 * Row count above which a bulk action of the herald command requests
	 * a confirmation, or --yes when not on a terminal.
	 */
	int64_t		 confirm_over;

	/*
	 * A child that fails restart_failures times within
	 * restart_window_ms is marked failed and not restarted until
	 * restart_cool_down_ms have passed or a reload comes.  With a
	 * cool-down of 0 only a reload restarts it.
	 */
	int		 restart_failures;
	int64_t		 restart_window_ms;
	int64_t		 restart_cool_down_ms;

	/* Whether heraldd started as root may run handlers as root. */
	bool		 allow_root_handlers;

	struct hd_queue_config *queues;
	size_t		 nqueues;
	struct hd_task_config *tasks;
	size_t		 ntasks;
	struct hd_event_route *events;
	size_t		 nevents;
	struct hd_periodic_config *periodic;
	size_t		 nperiodic;
};

/* Defaults of the settings that have one. */
#define HD_DEFAULT_GRACE_PERIOD_MS	30000
#define HD_DEFAULT_LEASE_MS		60000
#define HD_DEFAULT_TIMEOUT_MS		(15 * 60 * 1000)
#define HD_DEFAULT_POLL_INTERVAL_MS	5000
#define HD_DEFAULT_KEEP_COUNTERS_MS	(24LL * 3600 * 1000)
#define HD_DEFAULT_KEEP_HOURLY_MS	(30LL * 24 * 3600 * 1000)
#define HD_DEFAULT_KEEP_DEAD_MS		(30LL * 24 * 3600 * 1000)
#define HD_DEFAULT_KEEP_DEAD_ROWS	1000000
#define HD_DEFAULT_CONFIRM_OVER		100
#define HD_DEFAULT_KEEP_PROCESSES_MS	60000
/*
 * Processes beat every 10 s.  A registration kept for less than three
 * beats could be pruned while its process lives, when one beat is late.
 */
#define HD_MIN_KEEP_PROCESSES_MS	30000
#define HD_DEFAULT_RESTART_FAILURES	5
#define HD_DEFAULT_RESTART_WINDOW_MS	60000
#define HD_DEFAULT_RESTART_COOL_DOWN_MS	(5 * 60 * 1000)
/* The shortest cool-down other than 0. */
#define HD_RESTART_COOL_DOWN_MIN_MS	1000
/* The largest configuration file read. */
#define HD_CONFIG_TEXT_MAX		(16 << 20)

/*
 * Read path.  On failure return NULL and write a message such as
 * "/etc/herald.conf:12: tasks.mail.timeout: invalid duration \"5 parsecs\""
 * into error.
 */
struct hd_config *hd_config_load(const char *path, char *error,
	    size_t error_size);
/*
 * Read path as hd_config_load() does, and write every error after the
 * first to more, one per line.  The settings after one in error are
 * still read, each queue, task, event type and periodic entry up to its
 * first error.
 */
struct hd_config *hd_config_load_each(const char *path, char *error,
	    size_t error_size, FILE *more);
/*
 * Check text, the len bytes of the file at path, as hd_config_load()
 * does.  path only names the file in messages.
 */
struct hd_config *hd_config_parse(const char *path, const char *text,
	    size_t len, char *error, size_t error_size);
void	hd_config_free(struct hd_config *config);
/*
 * Return a number that changes when the file at path, or a file that it
 * or its included files read with @include, is replaced, written or
 * removed: a hash of their device, inode, size and modification time.
 */
uint64_t hd_config_fingerprint(const char *path);

/*
 * Return the path of the configuration file: explicit if not NULL, else
 * $HERALD_CONFIG, else the built-in default under sysconfdir.
 */
const char *hd_config_default_path(const char *explicit_path);

/*
 * Check the handlers' users against heraldd's effective user id euid.
 * With euid 0, every exec task needs
 * a user other than root and no task may have a module handler (it runs
 * inside a worker, with heraldd's user), unless allow_root_handlers is
 * set.  Any other euid can run handlers only as itself, with its own
 * group.  Return 0, or -1 with
 * a message naming the file, the task and the setting in error.
 */
int	hd_config_check_root(const struct hd_config *config, uid_t euid,
	    char *error, size_t error_size);

/*
 * Find the next task, from task index *next on, whose exec program is not
 * an executable file or whose module path is not a readable file on this
 * host.  Return -1 with a message naming the file, the task and the
 * program or module in error and *next past that task, or 0 when there is
 * none.  heraldd warns about each one but starts: the other queues keep
 * working while a handler is being installed.
 */
int	hd_config_check_programs(const struct hd_config *config, size_t *next,
	    char *error, size_t error_size);

const struct hd_queue_config *hd_config_queue(const struct hd_config *config,
	    const char *name);
const struct hd_task_config *hd_config_task(const struct hd_config *config,
	    const char *name);

/*
 * Return the delay, jitter included, after failed or lost attempt
 * `attempt` of a job of task, by the task's retry policy or the default
 * one when the configuration has no such task.
 */
int64_t	hd_config_retry_delay_ms(const struct hd_config *config,
	    const char *task, int attempt);

/* The maximum duration that hd_parse_duration_ms() accepts: 366 days. */
#define HD_DURATION_MAX_MS	(366LL * 24 * 3600 * 1000)

/*
 * Parse a duration: a number followed by "ms", "s", "m", "h" or "d", or a
 * bare number of seconds.  Return 0, -1 when text is not a duration or is
 * negative, or -2 when it is longer than HD_DURATION_MAX_MS.
 */
int	hd_parse_duration_ms(const char *text, int64_t *ms);

#endif /* HD_CONFIG_H */
