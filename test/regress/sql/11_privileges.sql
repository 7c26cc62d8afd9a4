--
-- 11_privileges: nothing for PUBLIC; the gateway may only send and verify;
-- the auditor reads the audit views, nothing secret; SECURITY DEFINER with a
-- pinned search_path; append-only ledger; comments everywhere.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('privileges', 'sandbox', 100) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
CREATE ROLE ja_regress_nobody;

-- Catalog view of the grants: PUBLIC (any role) can read no table and run no function.
SELECT count(*) AS relations_readable_by_anyone
  FROM pg_class c
 WHERE c.relnamespace = 'justauth'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'm')
   AND (has_table_privilege('ja_regress_nobody', c.oid, 'SELECT')
	 OR has_table_privilege('ja_regress_nobody', c.oid, 'INSERT')
	 OR has_table_privilege('ja_regress_nobody', c.oid, 'UPDATE')
	 OR has_table_privilege('ja_regress_nobody', c.oid, 'DELETE'));
SELECT p.oid::regprocedure AS executable_by_anyone
  FROM pg_proc p
 WHERE (p.pronamespace = 'justauth'::regnamespace
		OR (p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'justauth%'))
   AND has_function_privilege('ja_regress_nobody', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
SELECT has_schema_privilege('ja_regress_nobody', 'justauth', 'USAGE') AS nobody_schema_usage;

-- In practice, for a role with no grants.
SET ROLE ja_regress_nobody;
SELECT count(*) FROM justauth.clients;
SELECT count(*) FROM justauth.ledger;
SELECT count(*) FROM justauth.session_audit;
SELECT justauth_send_otp(:'cid', :'key', '919876543210');
SELECT justauth_verify_otp(:'cid', '919876543210', '123456');
SELECT * FROM justauth_create_client('intruder', 'sandbox');
SELECT justauth_deposit(:'cid', 1000000, 'free-money');
SELECT justauth_rotate_api_key(:'cid');
SELECT justauth_balance(:'cid');
SELECT * FROM justauth_purge('1 day');
RESET ROLE;

-- The gateway: send and verify (both schemas) and the webhook, nothing else.
SET ROLE justauth_gateway;
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543210')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', :'code')) AS gateway_verify;
SELECT jt.code(justauth.justauth_send_otp(:'cid', :'key', '919876543211')) AS code \gset
SELECT jt.show(justauth.justauth_verify_otp(:'cid', '919876543211', :'code')) AS gateway_verify_schema;
SELECT justauth.justauth_apply_whatsapp_statuses('{"entry": []}') AS webhook;
SHOW justauth.whatsapp_access_token;
SELECT * FROM justauth_create_client('gw', 'sandbox');
SELECT justauth_deposit(:'cid', 1000000, 'gw-money');
SELECT justauth.justauth_deposit(:'cid', 1000000, 'gw-money');
SELECT justauth_rotate_api_key(:'cid');
SELECT justauth_balance(:'cid');
SELECT justauth.justauth_add_test_number(:'cid', '919876543212', '123456');
SELECT justauth.justauth_set_client_status(:'cid', 'suspended');
SELECT justauth.refund_session(gen_random_uuid(), 'x');
SELECT * FROM justauth_purge('1 day');
SELECT count(*) FROM justauth.clients;
SELECT count(*) FROM justauth.sessions;
SELECT count(*) FROM justauth.outbox;
SELECT count(*) FROM justauth.ledger;
SELECT count(*) FROM justauth.idempotency_keys;
SELECT count(*) FROM justauth.session_audit;
SELECT count(*) FROM justauth.wallets;
UPDATE justauth.clients SET status = 'active';
RESET ROLE;
SELECT jt.wallet(:'cid');

-- The auditor: the audit views, no base tables, no API.
SET ROLE justauth_auditor;
SELECT count(*) > 0 AS sees_sessions FROM justauth.session_audit WHERE client_id = :'cid';
SELECT balance = ledger_sum AS consistent FROM justauth.wallets WHERE client_id = :'cid';
SELECT count(*) > 0 AS sees_statement FROM justauth.wallet_statement WHERE client_id = :'cid';
SELECT count(*) >= 0 AS sees_deliveries FROM justauth.deliveries;
SELECT count(*) > 0 AS sees_conversion FROM justauth.conversion_by_prefix WHERE client_id = :'cid';
SELECT code_length, max_attempts FROM justauth.client_settings WHERE client_id = :'cid';
SELECT count(*) AS error_codes FROM justauth.error_codes;
SELECT justauth_balance(:'cid') AS auditor_balance;
SELECT count(*) FROM justauth.clients;
SELECT count(*) FROM justauth.sessions;
SELECT count(*) FROM justauth.outbox;
SELECT count(*) FROM justauth.ledger;
SELECT count(*) FROM justauth.idempotency_keys;
SELECT count(*) FROM justauth.test_numbers;
SELECT count(*) FROM justauth.wallet_shards;
SELECT justauth_send_otp(:'cid', :'key', '919876543213');
SELECT justauth_verify_otp(:'cid', '919876543213', '123456');
SELECT justauth_deposit(:'cid', 1, 'auditor');
UPDATE justauth.clients SET max_attempts = 100;
RESET ROLE;

-- The admin: manages clients and settings, reads views, not secrets.
SET ROLE justauth_admin;
SELECT count(*) FROM justauth_create_client('by-admin', 'sandbox');
SELECT justauth_deposit(:'cid', 5, 'admin-1') AS balance;
UPDATE justauth.clients SET max_attempts = 3 WHERE client_id = :'cid';
SELECT max_attempts FROM justauth.client_settings WHERE client_id = :'cid';
SELECT api_key_hash FROM justauth.clients WHERE client_id = :'cid';
UPDATE justauth.clients SET api_key_hash = '\x00' WHERE client_id = :'cid';
UPDATE justauth.clients SET mode = 'live' WHERE client_id = :'cid';
-- The WhatsApp access token is superuser-only.
SHOW justauth.whatsapp_access_token;
SELECT current_setting('justauth.whatsapp_access_token');
SELECT count(*) FROM pg_settings WHERE name = 'justauth.whatsapp_access_token';
SELECT count(*) FROM justauth.sessions;
SELECT count(*) FROM justauth.ledger;
INSERT INTO justauth.ledger (client_id, kind, amount, balance_after, reference) VALUES (:'cid', 'deposit', 5, 5, 'forged');
RESET ROLE;

-- No audit view exposes a secret column.
SELECT c.relname, a.attname
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'justauth'::regnamespace AND c.relkind = 'v' AND a.attnum > 0
   AND a.attname ~ '(code_hash|api_key_hash|^api_key$|code_sealed|^code$|secret|token)';
SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) AS columns
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'justauth'::regnamespace AND c.relkind = 'v' AND a.attnum > 0 AND NOT a.attisdropped
 GROUP BY c.relname ORDER BY c.relname;

-- SECURITY DEFINER with a pinned search_path (no public, no $user) for every API function:
-- a SET clause, or for send and verify the pin in C (12_hostile tests that one by behaviour).
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer,
	   coalesce((SELECT c FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%'),
				CASE WHEN p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
					  AND p.prosrc IN ('justauth_send_otp', 'justauth_verify_otp')
					 THEN 'pinned in C' ELSE 'NOT PINNED' END) AS search_path
  FROM pg_proc p
 WHERE (p.pronamespace = 'justauth'::regnamespace OR (p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'justauth%'))
 ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS definer_functions_with_unsafe_path
  FROM pg_proc p
 WHERE p.prosecdef
   AND (p.pronamespace = 'justauth'::regnamespace OR (p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'justauth%'))
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
					WHERE c LIKE 'search_path=%' AND c !~ '(public|\$user)')
   AND NOT (p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
			AND p.prosrc IN ('justauth_send_otp', 'justauth_verify_otp'));

-- Comments on every table, view and function of the extension.
SELECT c.relkind, c.relname AS without_comment
  FROM pg_class c
 WHERE c.relnamespace = 'justauth'::regnamespace AND c.relkind IN ('r', 'v', 'm')
   AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.oid::regprocedure AS without_comment
  FROM pg_proc p
 WHERE (p.pronamespace = 'justauth'::regnamespace OR (p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'justauth%'))
   AND obj_description(p.oid, 'pg_proc') IS NULL;

-- The ledger refuses UPDATE, DELETE and TRUNCATE (SQLSTATE JA901), even for superusers.
UPDATE justauth.ledger SET amount = amount WHERE client_id = :'cid';
DELETE FROM justauth.ledger WHERE client_id = :'cid';
TRUNCATE justauth.ledger;
SELECT jt.wallet(:'cid');

-- Codes are keyed hashes: the same fixed code in two sessions hashes differently,
-- and no hash is a plain SHA-256 of the code.
UPDATE justauth.clients SET max_attempts = 5 WHERE client_id = :'cid';
SELECT justauth.justauth_add_test_number(:'cid', '919876543299', '123456');
SELECT (justauth_send_otp(:'cid', :'key', '919876543299'))->>'success' AS s1;
SELECT (justauth_send_otp(:'cid', :'key', '919876543299'))->>'success' AS s2;
SELECT count(*) AS sessions, count(DISTINCT code_hash) AS distinct_hashes,
	   bool_or(code_hash = sha256('123456'::bytea)) AS plain_sha256,
	   bool_or(code_hash = sha256(convert_to(session_id::text || '123456', 'UTF8'))) AS unkeyed_sha256
  FROM justauth.sessions WHERE client_id = :'cid' AND number = '919876543299';
-- The server key is not in any table: no column of the extension's tables is named like one.
SELECT c.relname, a.attname
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'justauth'::regnamespace AND c.relkind = 'r' AND a.attnum > 0
   AND a.attname ~ '(server_key|hmac_key|secret|pepper)';

DROP ROLE ja_regress_nobody;
