/*
 * table_sql.h: the SQL text of the vacuum statistics of herald.jobs and
 * herald.inbox, shared by herald status and herald metrics.
 *
 * Both tables take a row per job and lose it when the job leaves them,
 * so they live on autovacuum.  The statistics come from
 * pg_stat_user_tables, the settings from current_setting() and the
 * reloptions from pg_class, which every role may read, so a
 * herald_viewer can run it too.
 */

#ifndef HD_TABLE_SQL_H
#define HD_TABLE_SQL_H

/*
 * The age from which an open transaction is named as holding back
 * vacuum.  heraldd's workers and relay open transactions of a few
 * milliseconds all the time, and the oldest of those is harmless.
 */
#define HD_VACUUM_BLOCKER_MIN_MS	10000

/* Columns of HD_SQL_TABLE_HEALTH, in order. */
enum hd_table_health_column {
	HD_TH_TABLE = 0,	/* "jobs" or "inbox" */
	HD_TH_LIVE,		/* n_live_tup */
	HD_TH_DEAD,		/* n_dead_tup */
	HD_TH_AUTOVACUUM_MS,	/* since last_autovacuum, NULL when never */
	HD_TH_VACUUM_MS,	/* since last_vacuum (a manual VACUUM) */
	HD_TH_AUTOVACUUM_OFF	/* the setting that stops autovacuum, or NULL */
};

/*
 * One row per table, jobs first, then inbox.  The counts are those of
 * PostgreSQL's cumulative statistics.  In PostgreSQL 15 a session
 * reports its counts at most once a second, and an idle session up to
 * 10 s later (pgstat.c), so they may lag the tables by that much.
 *
 * autovacuum_off names what keeps autovacuum from removing dead tuples:
 * track_counts = off (autovacuum then has no counts to act on),
 * autovacuum = off, or the table's autovacuum_enabled = false.  Only
 * the vacuums that prevent transaction ID wraparound still run then.
 */
#define HD_SQL_TABLE_HEALTH						\
    "SELECT t.name, coalesce(s.n_live_tup, 0),"			\
    "  coalesce(s.n_dead_tup, 0),"					\
    "  (extract(epoch FROM now() - s.last_autovacuum) * 1000)::bigint,"	\
    "  (extract(epoch FROM now() - s.last_vacuum) * 1000)::bigint,"	\
    "  CASE"								\
    "    WHEN NOT current_setting('track_counts')::boolean"		\
    "      THEN 'track_counts = off'"					\
    "    WHEN NOT current_setting('autovacuum')::boolean"		\
    "      THEN 'autovacuum = off'"					\
    "    WHEN EXISTS (SELECT 1"					\
    "        FROM pg_options_to_table(c.reloptions) o"			\
    "        WHERE o.option_name = 'autovacuum_enabled'"		\
    "          AND NOT o.option_value::boolean)"			\
    "      THEN 'autovacuum_enabled = false'"				\
    "  END"								\
    " FROM (VALUES (1, 'jobs'), (2, 'inbox')) AS t(n, name)"		\
    " LEFT JOIN pg_stat_user_tables s"					\
    "   ON s.schemaname = 'herald' AND s.relname = t.name"		\
    " LEFT JOIN pg_class c ON c.oid = s.relid"				\
    " ORDER BY t.n"

#endif
