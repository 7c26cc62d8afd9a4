--
-- 14_audit: the audit views show effective statuses, balances, running
-- statements, deliveries and conversion per prefix, without secrets.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('audit', 'sandbox', 20) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0, code_length = 10 WHERE client_id = :'cid';

-- approved
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919400000001')) AS c \gset
SELECT (justauth_verify_otp(:'cid', '919400000001', :'c'))->>'status' AS approved;
-- superseded + pending
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919400000002')) AS c \gset
SELECT (justauth_send_otp(:'cid', :'key', '919400000002'))->>'success' AS resent;
-- max_attempts
UPDATE justauth.clients SET max_attempts = 1 WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919400000003')) AS c \gset
SELECT (justauth_verify_otp(:'cid', '919400000003', jt.wrong(:'c')))->>'attempts_left' AS attempts_left;
UPDATE justauth.clients SET max_attempts = 5 WHERE client_id = :'cid';
-- expired
UPDATE justauth.clients SET code_ttl_seconds = 1 WHERE client_id = :'cid';
SELECT (justauth_send_otp(:'cid', :'key', '919400000004'))->>'success' AS sent;
SELECT pg_sleep(1.1);
UPDATE justauth.clients SET code_ttl_seconds = 120 WHERE client_id = :'cid';
-- test number
SELECT justauth.justauth_add_test_number(:'cid', '919400000005', '1234567890');
SELECT (justauth_send_otp(:'cid', :'key', '919400000005'))->>'success' AS sent;

SELECT number, status, attempts, max_attempts, is_test, mode, verified_at IS NOT NULL AS verified_at,
	   expires_at > created_at AS expiry_after_creation
  FROM justauth.session_audit WHERE client_id = :'cid' ORDER BY number, created_at;

SELECT name, mode, status, balance, ledger_sum, funded_at IS NOT NULL AS funded
  FROM justauth.wallets WHERE client_id = :'cid';
SELECT kind, amount, running_balance, balance_after, reference IS NOT NULL AS has_reference,
	   request_id IS NOT NULL AS has_request
  FROM justauth.wallet_statement WHERE client_id = :'cid' ORDER BY entry_id;
SELECT number_prefix, sends, verified, conversion
  FROM justauth.conversion_by_prefix WHERE client_id = :'cid' ORDER BY 1;
SELECT name, mode, status, api_key_hint = right(:'key', 4) AS hint, code_length, code_ttl_seconds,
	   max_attempts, resend_cooldown_seconds, allowed_country_codes
  FROM justauth.client_settings WHERE client_id = :'cid';

-- Every wallet's balance equals its ledger sum, across everything the suite did.
SELECT count(*) > 50 AS many_wallets, count(*) FILTER (WHERE balance <> ledger_sum) AS inconsistent,
	   count(*) FILTER (WHERE balance < 0) AS negative
  FROM justauth.wallets;
SELECT count(*) AS negative_shards FROM justauth.wallet_shards WHERE balance < 0;
-- Every debit belongs to a session, and at most one debit and one refund per session.
SELECT count(*) AS sessions_with_two_debits FROM (
	SELECT session_id FROM justauth.ledger WHERE kind = 'debit' GROUP BY session_id HAVING count(*) > 1) x;
SELECT count(*) AS uncharged_sessions
  FROM justauth.sessions s
 WHERE NOT s.is_test AND s.code_hash <> '\x00'
   AND NOT EXISTS (SELECT 1 FROM justauth.ledger l WHERE l.session_id = s.session_id AND l.kind = 'debit');
SELECT count(*) AS charged_test_sessions
  FROM justauth.ledger l JOIN justauth.sessions s USING (session_id) WHERE s.is_test;
-- No plaintext code outside queued/sending outbox rows.
SELECT count(*) AS settled_rows_with_code FROM justauth.outbox WHERE code IS NOT NULL AND status NOT IN ('queued', 'sending');
