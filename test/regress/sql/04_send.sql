--
-- 04_send: reply shapes, the seed's wording, code length and TTL, one debit
-- per accepted send, wallet_not_funded / insufficient_balance.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('send', 'sandbox', 0) \gset

-- Never deposited: wallet_not_funded, nothing recorded.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210')) AS unfunded;
SELECT count(*) AS sessions FROM justauth.sessions WHERE client_id = :'cid';
SELECT jt.wallet(:'cid');

SELECT justauth_deposit(:'cid', 3, 'send-1') AS balance;
SELECT funded_at IS NOT NULL AS funded FROM justauth.clients WHERE client_id = :'cid';

-- Sandbox success: the seed's exact wording, a uuid request_id, expires_in.
SELECT justauth_send_otp(:'cid', :'key', '919876543210') AS r \gset
SELECT jt.show(:'r');
SELECT (:'r'::jsonb)->>'message_simulated' ~ '^Your verification code is [0-9]{6}\. It will expire in 2 minutes$' AS exact_wording,
	   (:'r'::jsonb)->'expires_in' = '120' AS expires_in_number,
	   (SELECT count(*) FROM jsonb_object_keys(:'r'::jsonb)) AS keys;
-- request_id is the session, which holds only a hash of the code.
SELECT s.number, s.status, s.attempts, s.max_attempts, s.is_test, s.mode,
	   s.expires_at - s.created_at = interval '120 seconds' AS ttl_120,
	   length(s.code_hash) AS hash_bytes,
	   position(convert_to(jt.code(:'r'), 'UTF8') IN s.code_hash) = 0 AS code_not_in_hash
  FROM justauth.sessions s WHERE s.session_id = ((:'r'::jsonb)->>'request_id')::uuid;
-- The code is nowhere in clear: not in sessions, numbers, idempotency keys, outbox, ledger.
SELECT count(*) AS tables_holding_code FROM (
	SELECT row_to_json(s)::text AS t FROM justauth.sessions s WHERE s.client_id = :'cid'
	UNION ALL SELECT row_to_json(n)::text FROM justauth.numbers n WHERE n.client_id = :'cid'
	UNION ALL SELECT row_to_json(o)::text FROM justauth.outbox o WHERE o.client_id = :'cid'
	UNION ALL SELECT row_to_json(l)::text FROM justauth.ledger l WHERE l.client_id = :'cid') x
 WHERE t LIKE '%' || jt.code(:'r') || '%';
-- One debit row for that session, with the balance after it.
SELECT kind, amount, balance_after, session_id = ((:'r'::jsonb)->>'request_id')::uuid AS for_session
  FROM justauth.ledger WHERE client_id = :'cid' ORDER BY entry_id;
SELECT justauth_balance(:'cid');

-- A sandbox send queues nothing.
SELECT count(*) AS outbox_rows FROM justauth.outbox WHERE client_id = :'cid';

-- Two more sends use up the wallet; the next is insufficient_balance.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543211'));
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543212'));
SELECT justauth_balance(:'cid');
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543213')) AS empty_wallet;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543214')) AS still_empty;
SELECT jt.wallet(:'cid');
SELECT count(*) AS sessions FROM justauth.sessions WHERE client_id = :'cid';
-- A deposit makes it work again.
SELECT justauth_deposit(:'cid', 1, 'send-2') AS balance;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543213'));
SELECT jt.wallet(:'cid');

-- TTL in the message: minutes when a multiple of 60, else seconds; singular for 1.
SELECT * FROM jt.client('ttl', 'sandbox', 100) \gset
UPDATE justauth.clients SET code_ttl_seconds = 60 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000001') AS r) x;
UPDATE justauth.clients SET code_ttl_seconds = 300 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000002') AS r) x;
UPDATE justauth.clients SET code_ttl_seconds = 120 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000003') AS r) x;
UPDATE justauth.clients SET code_ttl_seconds = 90 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000004') AS r) x;
UPDATE justauth.clients SET code_ttl_seconds = 1 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000005') AS r) x;
UPDATE justauth.clients SET code_ttl_seconds = 3600 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000006') AS r) x;
UPDATE justauth.clients SET code_ttl_seconds = 45 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000007') AS r) x;
UPDATE justauth.clients SET code_ttl_seconds = 86400 WHERE client_id = :'cid';
SELECT r->'expires_in' AS expires_in, substring(r->>'message_simulated' from 'It will expire in .*$') AS says
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919800000008') AS r) x;
SELECT count(*) AS sessions, count(*) FILTER (WHERE expires_at - created_at = code_ttl_seconds * interval '1 second') AS ttl_applied
  FROM justauth.sessions s JOIN (VALUES (60, '919800000001'), (300, '919800000002'), (120, '919800000003'),
	(90, '919800000004'), (1, '919800000005'), (3600, '919800000006'), (45, '919800000007'),
	(86400, '919800000008')) v(code_ttl_seconds, number) USING (number)
 WHERE s.client_id = :'cid';

-- Code length 4..10 per client, ASCII digits only.
SELECT * FROM jt.client('length', 'sandbox', 100) \gset
UPDATE justauth.clients SET code_length = 4 WHERE client_id = :'cid';
SELECT length(jt.code(r)) AS code_length, jt.code(r) ~ '^[0-9]+$' AS digits, jt.show(r)
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919700000000') AS r) x;
UPDATE justauth.clients SET code_length = 5 WHERE client_id = :'cid';
SELECT length(jt.code(r)) AS code_length, jt.code(r) ~ '^[0-9]+$' AS digits, jt.show(r)
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919700000001') AS r) x;
UPDATE justauth.clients SET code_length = 6 WHERE client_id = :'cid';
SELECT length(jt.code(r)) AS code_length, jt.code(r) ~ '^[0-9]+$' AS digits, jt.show(r)
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919700000002') AS r) x;
UPDATE justauth.clients SET code_length = 7 WHERE client_id = :'cid';
SELECT length(jt.code(r)) AS code_length, jt.code(r) ~ '^[0-9]+$' AS digits, jt.show(r)
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919700000003') AS r) x;
UPDATE justauth.clients SET code_length = 8 WHERE client_id = :'cid';
SELECT length(jt.code(r)) AS code_length, jt.code(r) ~ '^[0-9]+$' AS digits, jt.show(r)
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919700000004') AS r) x;
UPDATE justauth.clients SET code_length = 9 WHERE client_id = :'cid';
SELECT length(jt.code(r)) AS code_length, jt.code(r) ~ '^[0-9]+$' AS digits, jt.show(r)
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919700000005') AS r) x;
UPDATE justauth.clients SET code_length = 10 WHERE client_id = :'cid';
SELECT length(jt.code(r)) AS code_length, jt.code(r) ~ '^[0-9]+$' AS digits, jt.show(r)
  FROM (SELECT justauth_send_otp(:'cid', :'key', '919700000006') AS r) x;
-- The settings are checked by the table.
UPDATE justauth.clients SET code_length = 3 WHERE client_id = :'cid';
UPDATE justauth.clients SET code_length = 11 WHERE client_id = :'cid';
UPDATE justauth.clients SET code_ttl_seconds = 0 WHERE client_id = :'cid';

-- Codes are zero-padded random digits: over 300 codes every digit shows up
-- in every position, leading zeros included (fails with chance ~1e-12).
SELECT * FROM jt.client('spread', 'sandbox', 300) \gset
CREATE TEMP TABLE codes AS
	SELECT jt.code(justauth_send_otp(:'cid', :'key', '91960' || lpad(i::text, 7, '0'))) AS code
	  FROM generate_series(1, 300) i;
SELECT count(*) AS codes, count(DISTINCT code) > 290 AS mostly_distinct,
	   bool_and(code ~ '^[0-9]{6}$') AS six_digits
  FROM codes;
SELECT pos, count(DISTINCT substr(code, pos, 1)) AS distinct_digits
  FROM codes, generate_series(1, 6) pos GROUP BY pos ORDER BY pos;
SELECT jt.wallet(:'cid');
