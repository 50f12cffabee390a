-- A producer reads back the id of its job without reading the inbox.
--
-- herald_producer could select the id column of herald.new_jobs, which it
-- needed for INSERT ... RETURNING id, and so list the ids of every job
-- in the inbox, its own or not.  The id comes from herald.jobs_id_seq in
-- the insert, so currval() of the sequence, which the producer may use
-- already, returns it: herald_enqueue() now returns that, and the column
-- grant goes.
REVOKE SELECT (id) ON herald.new_jobs FROM herald_producer;
