/*
 * bench/pool.sql: a fresh verify pool for one side (psql -v who=ours|peer
 * -v pool=N), made right before the verify case: one pending code per
 * number 91 8000000000 + j, sent through that side's own send function;
 * the codes are read back from its outbox, where a delivery job reads them.
 */
\if :{?who}
\else
\quit
\endif
DROP TABLE IF EXISTS bench.:who\_codes;
SELECT :'who' = 'ours' AS ours \gset
\if :ours
SELECT count(*) FILTER (WHERE (justauth_send_otp(b.ours_id, b.ours_key, '91' || (8000000000 + j)::text)->>'success')::boolean) AS ours_pool
  FROM generate_series(1, :pool) j JOIN bench.clients b ON b.i = 1 + j % 100;
CREATE TABLE bench.ours_codes AS
SELECT (substr(o.to_number, 3)::bigint - 8000000000)::integer AS i, o.client_id, o.to_number AS number,
	   o.code, lpad(((o.code::integer + 1) % 1000000)::text, 6, '0') AS wrong
  FROM justauth.outbox o WHERE o.to_number LIKE '918%' AND o.code IS NOT NULL;
ALTER TABLE bench.ours_codes ADD PRIMARY KEY (i);
ANALYZE bench.ours_codes;
\else
SELECT count(*) FILTER (WHERE (peer.send_otp(b.peer_id, b.peer_key, '91' || (8000000000 + j)::text)->>'success')::boolean) AS peer_pool
  FROM generate_series(1, :pool) j JOIN bench.clients b ON b.i = 1 + j % 100;
CREATE TABLE bench.peer_codes AS
SELECT (substr(o.to_number, 3)::bigint - 8000000000)::integer AS i, c.peer_id AS client_id, o.to_number AS number,
	   o.code, lpad(((o.code::integer + 1) % 1000000)::text, 6, '0') AS wrong
  FROM peer.outbox o JOIN peer.otps p USING (otp_id) JOIN bench.clients c ON c.peer_id = p.client_id
 WHERE o.to_number LIKE '918%';
ALTER TABLE bench.peer_codes ADD PRIMARY KEY (i);
ANALYZE bench.peer_codes;
\endif
