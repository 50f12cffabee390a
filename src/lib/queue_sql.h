/*
 * queue_sql.h: the SQL text of the per-queue job counts, shared by herald
 * status, herald metrics and the console.
 *
 * The macros expand to string literals, so the console can send the text
 * without blocking and the commands can run it with PQexecParams().  The
 * column order of HD_SQL_QUEUE_STATUS is fixed: its readers address the
 * columns by number.
 */

#ifndef HD_QUEUE_SQL_H
#define HD_QUEUE_SQL_H

/*
 * Counts of the live jobs in a group of herald.live_jobs rows by the state
 * that herald shows: queued (ready now), scheduled (first attempt due
 * later), running, and retrying (waiting for the backoff delay after a
 * failure).
 */
#define HD_SQL_JOB_STATE_COUNTS						\
    "    count(*) FILTER (WHERE state = 'queued' AND run_at <= now())"	\
    "      AS queued,"							\
    "    count(*) FILTER (WHERE state = 'queued' AND run_at > now()"	\
    "      AND attempt = 0) AS scheduled,"				\
    "    count(*) FILTER (WHERE state = 'running') AS running,"		\
    "    count(*) FILTER (WHERE state = 'queued' AND run_at > now()"	\
    "      AND attempt > 0) AS retrying"

/*
 * Status of each queue that has live jobs, dead jobs or counters, is in
 * herald.queues or is configured ($1, a text[]).  The columns are name,
 * queued, scheduled, running, retrying, dead, completed and failed in the
 * last 60 seconds, the oldest ready job's wait in ms (NULL when none is
 * ready) and paused.  counter_where is SQL text that limits which counter
 * rows name a queue ("" for all of them).
 *
 * The counters are per minute, so the last 60 seconds are estimated as
 * the current minute plus the share of the previous minute that still
 * lies within them.
 *
 * NOTE: the counts read every live job and every dead job's index entry,
 * so each run costs in proportion to them: about 0.12 s with a million
 * dead jobs (PostgreSQL 15 on a 2-core VM, after VACUUM).  Counters kept
 * up to date by the state-changing functions would make it constant.
 */
#define HD_SQL_QUEUE_STATUS(counter_where)				\
    "WITH dead AS ("							\
    "  SELECT queue, count(*) AS dead FROM herald.dead_jobs GROUP BY queue" \
    "), names AS ("							\
    "  SELECT queue FROM herald.jobs"					\
    "  UNION SELECT queue FROM dead"					\
    "  UNION SELECT queue FROM herald.counters" counter_where		\
    "  UNION SELECT name FROM herald.queues"				\
    "  UNION SELECT unnest($1::text[])"					\
    "), live AS ("							\
    "  SELECT queue," HD_SQL_JOB_STATE_COUNTS ","			\
    "    min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now())" \
    "      AS oldest"							\
    "  FROM herald.live_jobs GROUP BY queue"				\
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
    "SELECT n.queue, coalesce(l.queued, 0), coalesce(l.scheduled, 0),"	\
    "  coalesce(l.running, 0), coalesce(l.retrying, 0),"		\
    "  coalesce(d.dead, 0), coalesce(r.completed, 0)::bigint,"		\
    "  coalesce(r.failed, 0)::bigint,"					\
    "  (extract(epoch FROM now() - l.oldest) * 1000)::bigint,"		\
    "  coalesce(p.paused, false)"					\
    " FROM names n"							\
    " LEFT JOIN herald.queues p ON p.name = n.queue"			\
    " LEFT JOIN live l USING (queue)"					\
    " LEFT JOIN dead d USING (queue)"					\
    " LEFT JOIN recent r USING (queue)"					\
    " ORDER BY n.queue"

#endif /* HD_QUEUE_SQL_H */
