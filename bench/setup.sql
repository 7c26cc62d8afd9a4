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
/* Codes live 10 minutes on both sides, so no verify pool expires mid-run. */
UPDATE justauth.clients SET code_ttl_seconds = 600 WHERE client_id IN (SELECT ours_id FROM bench.clients);
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
