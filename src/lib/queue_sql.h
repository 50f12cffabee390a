/*
 * queue_sql.h: the SQL text of the per-queue job counts and of a finite
 * run_at, shared by the herald commands and the console.
 *
 * The macros expand to string literals, so the console can send the text
 * without blocking and the commands can run it with PQexecParams().  The
 * column order of HD_SQL_QUEUE_STATUS is fixed: its readers address the
 * columns by number.
 */

#ifndef HD_QUEUE_SQL_H
#define HD_QUEUE_SQL_H

/*
 * The run_at column col clamped to the range that the enqueue functions
 * accept, 1970 to the end of 9999.  A job written before they checked
 * it may have run_at 'infinity', and now() minus an infinite time raises
 * an error.
 */
#define HD_SQL_FINITE_RUN_AT(col)					\
    "least(greatest(" col ", timestamptz '1970-01-01 00:00:00+00'),"	\
    " timestamptz '9999-12-31 23:59:59.999999+00')"

/*
 * The state of a live job as the operator sees it.  The table stores only
 * queued and running, so a queued job due later is shown as scheduled
 * (first attempt) or retrying (after a failure).
 */
#define HD_SQL_SHOWN_STATE						\
    "CASE WHEN state = 'running' THEN 'running'"			\
    " WHEN run_at <= now() THEN 'queued'"				\
    " WHEN attempt = 0 THEN 'scheduled'"				\
    " ELSE 'retrying' END"

/*
 * The history col, a jsonb array, as text for display: the payload that
 * an edit replaced becomes its JSON text, a string, so that a number past
 * 64 bits in it does not stop jansson from reading the whole history.
 */
#define HD_SQL_HISTORY_SHOWN(col)					\
    "(SELECT coalesce(jsonb_agg(CASE WHEN e ? 'payload' THEN"		\
    " jsonb_set(e, '{payload}', to_jsonb((e->'payload')::text))"	\
    " ELSE e END ORDER BY n), '[]')::text"				\
    " FROM jsonb_array_elements(" col ") WITH ORDINALITY AS x(e, n))"

/*
 * The time col for JSON output: ISO 8601 in UTC with microseconds, as
 * "2026-12-05T18:48:17.123456Z", the same width for every time.  An
 * infinite time stays "infinity".
 */
#define HD_SQL_JSON_TIME(col)						\
    "coalesce(to_char(" col " AT TIME ZONE 'UTC',"			\
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), " col "::text)"

/*
 * The time col to the second in UTC, as "2026-12-05 18:48:17Z", which
 * is how a job's history prints its times.  An infinite time stays
 * "infinity".
 */
#define HD_SQL_UTC_SECOND(col)						\
    "coalesce(to_char(" col " AT TIME ZONE 'UTC',"			\
    " 'YYYY-MM-DD HH24:MI:SS\"Z\"'), " col "::text)"

/*
 * Status of each queue that has live jobs, dead jobs or counters, is in
 * herald.queues, has a worker on any host or is configured ($1, a
 * text[]).  The columns are name,
 * queued, scheduled, running, retrying, dead, completed and failed in the
 * last 60 seconds, the oldest ready job's wait in ms (NULL when none is
 * ready), paused, and the worker processes of every host that serve the
 * queue (those with a heartbeat in the last 30 seconds).  counter_where is SQL text that limits which counter
 * rows name a queue ("" for all of them).
 *
 * The job counts come from herald.queue_counts(), which the triggers of
 * migration 013 keep up to date.  The oldest wait comes from
 * herald.oldest_ready(), which probes the claim index.  Neither reads
 * every job, so a run costs about the same with a million jobs as with
 * none.
 *
 * The counters are per minute, so the last 60 seconds are estimated as
 * the current minute plus the share of the previous minute that still
 * lies within them.
 */
#define HD_SQL_QUEUE_STATUS(counter_where)				\
    "WITH counts AS MATERIALIZED ("					\
    "  SELECT queue, sum(queued) AS queued,"				\
    "    sum(scheduled) AS scheduled, sum(running) AS running,"	\
    "    sum(retrying) AS retrying, sum(dead) AS dead"			\
    "  FROM herald.queue_counts() GROUP BY queue"			\
    "), names AS ("							\
    "  SELECT queue FROM counts"					\
    "  UNION SELECT queue FROM herald.counters" counter_where		\
    "  UNION SELECT name FROM herald.queues"				\
    "  UNION SELECT queue FROM herald.processes"			\
    "   WHERE kind = 'worker' AND queue IS NOT NULL"			\
    "     AND heartbeat_at > now() - interval '30 seconds'"		\
    "  UNION SELECT unnest($1::text[])"					\
    "), recent AS ("							\
    "  SELECT queue, round(sum(completed * weight)) AS completed,"	\
    "    round(sum(failed * weight)) AS failed"				\
    "  FROM (SELECT queue, completed, failed,"				\
    "      CASE WHEN minute >= date_trunc('minute', now()) THEN 1"	\
    "      ELSE 1 - extract(epoch FROM now() - date_trunc('minute', now()))" \
    "        / 60 END AS weight"					\
    "    FROM herald.counters"						\
    "    WHERE minute >= date_trunc('minute', now()) - interval '1 minute'" \
    "  ) c GROUP BY queue"						\
    ")"									\
    "SELECT n.queue, coalesce(c.queued, 0)::bigint,"			\
    "  coalesce(c.scheduled, 0)::bigint,"				\
    "  coalesce(c.running, 0)::bigint, coalesce(c.retrying, 0)::bigint," \
    "  coalesce(c.dead, 0)::bigint, coalesce(r.completed, 0)::bigint,"	\
    "  coalesce(r.failed, 0)::bigint,"					\
    "  (extract(epoch FROM now() - o.oldest) * 1000)::bigint,"		\
    "  coalesce(p.paused, false),"					\
    "  (SELECT count(*) FROM herald.processes w"			\
    "   WHERE w.kind = 'worker' AND w.queue = n.queue"		\
    "     AND w.heartbeat_at > now() - interval '30 seconds')"		\
    " FROM names n"							\
    " LEFT JOIN herald.queues p ON p.name = n.queue"			\
    " LEFT JOIN counts c USING (queue)"					\
    " LEFT JOIN herald.oldest_ready() o USING (queue)"			\
    " LEFT JOIN recent r USING (queue)"					\
    " ORDER BY n.queue"

#endif /* HD_QUEUE_SQL_H */
