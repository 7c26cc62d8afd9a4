/*
 * bench/pool.sql: a fresh pool of pending codes for one side, made right
 * before the case that judges them:
 *   psql -v who=ours|peer -v pool=N -v tab=NAME -v base=B
 * sends one code to each number 91 (B + j), j = 1..N, through that side's
 * own send function (clients 1..100 in turn), and reads the codes back from
 * that side's outbox, where a delivery job reads them, into bench.NAME.
 */
DROP TABLE IF EXISTS bench.:tab;
SELECT :'who' = 'ours' AS ours \gset
\if :ours
SELECT count(*) FILTER (WHERE (justauth_send_otp(b.ours_id, b.ours_key, '91' || (:base + j)::text)->>'success')::boolean) AS ours_pool
  FROM generate_series(1, :pool) j JOIN bench.clients b ON b.i = 1 + j % 100;
CREATE TABLE bench.:tab AS
SELECT (o.to_number::bigint - 910000000000 - :base)::integer AS i, o.client_id, o.to_number AS number,
	   o.code, lpad(((o.code::integer + 1) % 1000000)::text, 6, '0') AS wrong
  FROM justauth.outbox o
 WHERE o.to_number::bigint - 910000000000 BETWEEN :base + 1 AND :base + :pool AND o.code IS NOT NULL;
\else
SELECT count(*) FILTER (WHERE (peer.send_otp(b.peer_id, b.peer_key, '91' || (:base + j)::text)->>'success')::boolean) AS peer_pool
  FROM generate_series(1, :pool) j JOIN bench.clients b ON b.i = 1 + j % 100;
CREATE TABLE bench.:tab AS
SELECT (o.to_number::bigint - 910000000000 - :base)::integer AS i, p.client_id, o.to_number AS number,
	   o.code, lpad(((o.code::integer + 1) % 1000000)::text, 6, '0') AS wrong
  FROM peer.outbox o JOIN peer.otps p USING (otp_id)
 WHERE o.to_number::bigint - 910000000000 BETWEEN :base + 1 AND :base + :pool;
\endif
ALTER TABLE bench.:tab ADD PRIMARY KEY (i);
ANALYZE bench.:tab;
-- All those debits were versions of a few wallet rows in one transaction,
-- which no prune could remove before commit: clean them up now rather than
-- in the sends of the next case.
\if :ours
VACUUM justauth.wallet_shards;
\else
VACUUM peer.clients;
\endif
