/*
 * bench/pool.sql: fresh verify pools, made right before the verify case so
 * that no code expires (TTL 120 s) while it runs.  psql -v pool=N.
 */
DROP TABLE IF EXISTS bench.ours_codes, bench.peer_codes;
/*
 * Verify pools: one pending code per number 91 8000000000 + j for both
 * implementations, sent through their own send functions; the codes are
 * read back from the outboxes (where the delivery worker would read them).
 */
SELECT count(*) FILTER (WHERE (justauth_send_otp(b.ours_id, b.ours_key, '91' || (8000000000 + j)::text)->>'success')::boolean) AS ours_pool
  FROM generate_series(1, :pool) j JOIN bench.clients b ON b.i = 1 + j % 100;
SELECT count(*) FILTER (WHERE (peer.send_otp(b.peer_id, b.peer_key, '91' || (8000000000 + j)::text)->>'success')::boolean) AS peer_pool
  FROM generate_series(1, :pool) j JOIN bench.clients b ON b.i = 1 + j % 100;

CREATE TABLE bench.ours_codes AS
SELECT (substr(o.to_number, 3)::bigint - 8000000000)::integer AS i, o.client_id, o.to_number AS number,
	   o.code, lpad(((o.code::integer + 1) % 1000000)::text, 6, '0') AS wrong
  FROM justauth.outbox o WHERE o.to_number LIKE '918%' AND o.created_at >= now() - interval '1 minute';
ALTER TABLE bench.ours_codes ADD PRIMARY KEY (i);

CREATE TABLE bench.peer_codes AS
SELECT (substr(o.to_number, 3)::bigint - 8000000000)::integer AS i, c.peer_id AS client_id, o.to_number AS number,
	   o.code, lpad(((o.code::integer + 1) % 1000000)::text, 6, '0') AS wrong
  FROM peer.outbox o JOIN peer.otps p USING (otp_id) JOIN bench.clients c ON c.peer_id = p.client_id
 WHERE o.to_number LIKE '918%' AND o.created_at >= now() - interval '1 minute';
ALTER TABLE bench.peer_codes ADD PRIMARY KEY (i);

ANALYZE bench.ours_codes, bench.peer_codes;
