--
-- 02_clients: justauth_create_client, justauth_rotate_api_key,
-- justauth_set_client_status.
--
\set VERBOSITY sqlstate

SELECT client_id AS cid, api_key AS key FROM justauth_create_client('Acme', mode => 'sandbox') \gset
SELECT client_id AS cid2, api_key AS key2 FROM justauth_create_client('Acme') \gset

-- Ids: cl_ + 22 URL-safe characters (132 bits); keys: sk_test_ / sk_live_ + at least 22.
SELECT :'cid' ~ '^cl_[A-Za-z0-9_-]{22}$' AS id_ok,
	   :'cid2' ~ '^cl_[A-Za-z0-9_-]{22}$' AS id2_ok,
	   :'key' ~ '^sk_test_[A-Za-z0-9_-]{22,}$' AS sandbox_key_ok,
	   :'key2' ~ '^sk_live_[A-Za-z0-9_-]{22,}$' AS default_mode_live_key_ok,
	   :'cid' <> :'cid2' AS ids_differ,
	   substr(:'key', 9) <> substr(:'key2', 9) AS keys_differ;

-- Many ids and keys: all distinct, all well formed.
CREATE TEMP TABLE many AS
	SELECT c.* FROM generate_series(1, 50) i, LATERAL justauth_create_client('bulk ' || i, 'sandbox') c;
SELECT count(*) AS clients, count(DISTINCT client_id) AS ids, count(DISTINCT api_key) AS keys,
	   bool_and(client_id ~ '^cl_[A-Za-z0-9_-]{22}$') AS ids_ok,
	   bool_and(api_key ~ '^sk_test_[A-Za-z0-9_-]{22,}$') AS keys_ok
  FROM many;
-- The random part uses the whole URL-safe alphabet (not hex only).
SELECT count(DISTINCT ch) > 40 AS wide_alphabet
  FROM many, LATERAL regexp_split_to_table(substr(client_id, 4) || substr(api_key, 9), '') ch;

-- Stored: the settings defaults, a hash and a hint, never the key.
SELECT name, mode, status, code_length, code_ttl_seconds, max_attempts, resend_cooldown_seconds,
	   max_sends_per_window, send_window_seconds, max_sends_per_minute, default_country_code,
	   allowed_country_codes, verify_requires_api_key, funded_at IS NULL AS unfunded
  FROM justauth.clients WHERE client_id = :'cid';
SELECT mode FROM justauth.clients WHERE client_id = :'cid2';
SELECT api_key_hash = sha256(convert_to(:'key', 'UTF8')) AS hash_is_sha256_of_key,
	   api_key_hint = right(:'key', 4) AS hint_is_last_four
  FROM justauth.clients WHERE client_id = :'cid';
SELECT count(*) AS rows_containing_the_key
  FROM justauth.clients c
 WHERE row_to_json(c)::text LIKE '%' || substr(:'key', 9) || '%'
	OR encode(c.api_key_hash, 'escape') LIKE '%' || substr(:'key', 9) || '%';
SELECT count(*) AS rows_containing_any_key
  FROM justauth.clients c JOIN many m USING (client_id)
 WHERE row_to_json(c)::text LIKE '%' || substr(m.api_key, 9) || '%';

-- Bad mode, bad names, NULLs.
SELECT * FROM justauth_create_client('Acme', 'production');
SELECT * FROM justauth_create_client('Acme', '');
SELECT * FROM justauth_create_client('Acme', 'SANDBOX');
SELECT * FROM justauth_create_client('', 'sandbox');
SELECT * FROM justauth_create_client(repeat('x', 201), 'sandbox');
SELECT * FROM justauth_create_client('   ', 'sandbox');
SELECT * FROM justauth_create_client(NULL, 'sandbox');
SELECT * FROM justauth_create_client('Acme', NULL);
SELECT count(*) FROM justauth_create_client(repeat('x', 200), 'sandbox');
-- Names are counted in characters (as the table's CHECK does), not bytes:
-- Indian business names in Devanagari take 3 bytes per character.
SELECT count(*) FROM justauth_create_client(repeat('é', 150), 'sandbox');
SELECT count(*) FROM justauth_create_client(repeat('भ', 100), 'sandbox');
SELECT * FROM justauth_create_client(repeat('भ', 201), 'sandbox');
-- A name is data, not SQL.
SELECT count(*) FROM justauth_create_client('Robert''); DROP TABLE justauth.clients; --', 'sandbox');
SELECT count(*) > 50 AS clients_table_intact FROM justauth.clients;
-- Also reachable in schema justauth.
SELECT count(*) FROM justauth.justauth_create_client('Schema-qualified', 'live');

-- Keys work for sends (fund first).
SELECT justauth_deposit(:'cid', 10, 'c-1');
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210'));
-- Wrong key, other client's key, unknown client.
SELECT jt.show(justauth_send_otp(:'cid', :'key2', '919876543211'));
SELECT jt.show(justauth_send_otp(:'cid', :'key' || 'x', '919876543211'));
SELECT jt.show(justauth_send_otp(:'cid', upper(:'key'), '919876543211'));
SELECT jt.show(justauth_send_otp('cl_AAAAAAAAAAAAAAAAAAAAAA', :'key', '919876543211'));

-- Rotation: the new key works, the old one stops at once.
SELECT justauth_rotate_api_key(:'cid') AS newkey \gset
SELECT :'newkey' ~ '^sk_test_[A-Za-z0-9_-]{22,}$' AS new_key_ok, :'newkey' <> :'key' AS changed;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543212'));
SELECT jt.show(justauth_send_otp(:'cid', :'newkey', '919876543212'));
SELECT api_key_hash = sha256(convert_to(:'newkey', 'UTF8')) AS hash_updated,
	   api_key_hint = right(:'newkey', 4) AS hint_updated
  FROM justauth.clients WHERE client_id = :'cid';
-- Rotating in a transaction that rolls back keeps the old key.
BEGIN;
SELECT justauth_rotate_api_key(:'cid') IS NOT NULL AS rotated;
ROLLBACK;
SELECT jt.show(justauth_send_otp(:'cid', :'newkey', '919876543213'));
-- A live client's new key stays a live key.
SELECT justauth_rotate_api_key(:'cid2') ~ '^sk_live_[A-Za-z0-9_-]{22,}$' AS live_rotated;
SELECT justauth_rotate_api_key('cl_doesnotexist000000000');
SELECT justauth.justauth_rotate_api_key('') ;
SELECT justauth_rotate_api_key(NULL) IS NULL AS strict_null;

-- Suspension.
SELECT justauth.justauth_set_client_status(:'cid', 'suspended');
SELECT status FROM justauth.clients WHERE client_id = :'cid';
SELECT jt.show(justauth_send_otp(:'cid', :'newkey', '919876543214'));
SELECT justauth.justauth_set_client_status(:'cid', 'active');
SELECT jt.show(justauth_send_otp(:'cid', :'newkey', '919876543214'));
SELECT justauth.justauth_set_client_status(:'cid', 'deleted');
SELECT justauth.justauth_set_client_status('cl_doesnotexist000000000', 'active');

-- Every accepted send above was debited once.
SELECT jt.wallet(:'cid');
