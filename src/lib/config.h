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

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "log.h"

#define HD_CONFIG_ERROR_MAX	512

struct hd_queue_config {
	char		*name;
	int		 workers;	/* worker processes, 0 .. 256 */
	int		 concurrency;	/* jobs at once per worker, 1 .. 1024 */
	int64_t		 poll_interval_ms; /* fallback when no NOTIFY comes */
	int64_t		 max_jobs;	/* jobs before a worker is replaced; 0: none */
	int64_t		 max_rss;	/* bytes of RSS before it is; 0: none */
};

struct hd_task_config {
	char		*name;
	char		*queue;		/* names an entry of queues */
	char		**argv;		/* exec handler, NULL-terminated */
	size_t		 argc;
	char		*module_path;	/* module handler */
	char		*module_symbol;
	int64_t		 timeout_ms;
	struct hd_retry_policy retry;
};

struct hd_event_route {
	char		*type;
	char		**tasks;	/* each names an entry of tasks */
	size_t		 ntasks;
};

struct hd_config {
	char		*path;
	char		*job_db;	/* libpq conninfo */
	char		*app_db;	/* NULL when there is no outbox */
	enum hd_log_level log_level;
	int64_t		 grace_period_ms; /* drain time on SIGTERM */
	int64_t		 lease_ms;	/* lease a claim takes and renews */
	size_t		 payload_max;	/* bytes */

	/* What the janitor keeps; 0 keeps forever. */
	int64_t		 keep_counters_ms;
	int64_t		 keep_dead_ms;
	int64_t		 keep_processes_ms; /* registrations without heartbeat */

	/*
	 * A child that fails restart_failures times within
	 * restart_window_ms is marked failed and not restarted until a
	 * reload.
	 */
	int		 restart_failures;
	int64_t		 restart_window_ms;

	struct hd_queue_config *queues;
	size_t		 nqueues;
	struct hd_task_config *tasks;
	size_t		 ntasks;
	struct hd_event_route *events;
	size_t		 nevents;
};

/* Defaults of the settings that have one. */
#define HD_DEFAULT_GRACE_PERIOD_MS	30000
#define HD_DEFAULT_LEASE_MS		60000
#define HD_DEFAULT_TIMEOUT_MS		(15 * 60 * 1000)
#define HD_DEFAULT_POLL_INTERVAL_MS	5000
#define HD_DEFAULT_KEEP_COUNTERS_MS	(7LL * 24 * 3600 * 1000)
#define HD_DEFAULT_KEEP_DEAD_MS		(30LL * 24 * 3600 * 1000)
#define HD_DEFAULT_KEEP_PROCESSES_MS	60000
#define HD_DEFAULT_RESTART_FAILURES	5
#define HD_DEFAULT_RESTART_WINDOW_MS	60000

/*
 * Read path.  On failure return NULL and write a message such as
 * "/etc/herald.conf:12: tasks.mail.timeout: invalid duration \"5 parsecs\""
 * into error.
 */
struct hd_config *hd_config_load(const char *path, char *error,
	    size_t error_size);
void	hd_config_free(struct hd_config *config);

/*
 * Return the path of the configuration file: explicit if not NULL, else
 * $HERALD_CONFIG, else the built-in default under sysconfdir.
 */
const char *hd_config_default_path(const char *explicit_path);

const struct hd_queue_config *hd_config_queue(const struct hd_config *config,
	    const char *name);
const struct hd_task_config *hd_config_task(const struct hd_config *config,
	    const char *name);

/*
 * Parse a duration: a number followed by "ms", "s", "m", "h" or "d", or a
 * bare number of seconds.  Return 0, or -1 when text is not a duration or is
 * negative.
 */
int	hd_parse_duration_ms(const char *text, int64_t *ms);

#endif /* HD_CONFIG_H */
