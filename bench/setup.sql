/*
 * bench/setup.sql: clients for both implementations and the verify pools.
 * Run after CREATE EXTENSION justauth and peer.sql.
 *
 * bench.clients maps a small integer to the credentials of our client and
 * the peer's, so both pgbench scripts pay for the same lookup.  Client 0
 * is the "one busy client"; 1..100 are the spread-out ones.
 */
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

CREATE TABLE bench.clients (
	i integer PRIMARY KEY,
	ours_id text NOT NULL,
	ours_key text NOT NULL,
	peer_id text NOT NULL,
	peer_key text NOT NULL
);

INSERT INTO bench.clients
SELECT g, c.client_id, c.api_key, 'peer_' || g, 'pk_' || md5(random()::text)
  FROM generate_series(0, 100) g,
	   LATERAL justauth_create_client('bench ' || g, mode => 'live') c;

SELECT count(justauth_deposit(ours_id, 1000000000, 'bench-funding')) AS funded FROM bench.clients;
/*
 * Our codes live a day (the most a client may set), so that nothing a run
 * sends expires during it: cluster A's delivery worker is parked at 1
 * message/s, and 10 minutes after the SQL cases it would expire and refund
 * their whole backlog (about 900,000 messages; in one run 46 s of its CPU
 * by the end of the gateway rounds), right through the gateway cases.  The peer's codes live 10 minutes; it has
 * no worker, so nothing of it runs when they expire.
 */
UPDATE justauth.clients SET code_ttl_seconds = 86400 WHERE client_id IN (SELECT ours_id FROM bench.clients);
SELECT count(peer.create_client(peer_id, peer_key, 1000000000)) AS peer_funded FROM bench.clients;

/* Reference table for the single-row INSERT commit. */
CREATE TABLE bench.ins (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v integer NOT NULL);

VACUUM ANALYZE;

/*
 * One send before any concurrency: it creates the server key file.  (Two
 * first uses at once can read a key file that is still being written; see
 * BENCHMARKS.md, "found while benchmarking".)
 */
SELECT justauth_send_otp(ours_id, ours_key, '919999999999') ->> 'success' AS key_made
  FROM bench.clients WHERE i = 1;
