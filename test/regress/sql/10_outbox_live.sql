--
-- 10_outbox_live: live sends (delivery_not_configured without a token, the
-- outbox row with one), refund_session, WhatsApp status webhooks.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('live', 'live', 10) \gset

-- No access token configured: delivery_not_configured, nothing charged or recorded.
SELECT current_setting('justauth.whatsapp_access_token') = '' AS no_token;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210')) AS not_configured;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210', 'live-key-1')) AS not_configured_with_key;
SELECT jt.wallet(:'cid');
SELECT (SELECT count(*) FROM justauth.sessions WHERE client_id = :'cid') AS sessions,
	   (SELECT count(*) FROM justauth.outbox WHERE client_id = :'cid') AS outbox,
	   (SELECT count(*) FROM justauth.idempotency_keys WHERE client_id = :'cid') AS keys;
-- Sandbox clients do not need it.
SELECT * FROM jt.client('live-sandbox', 'sandbox', 1) \gset sb_
SELECT jt.show(justauth_send_otp(:'sb_cid', :'sb_key', '919876543210')) AS sandbox_unaffected;

-- Configure a token (superuser-only, reloadable setting).
ALTER SYSTEM SET justauth.whatsapp_access_token = 'regress-token';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT current_setting('justauth.whatsapp_access_token') = 'regress-token' AS token_set;
-- It cannot be SET per session.
SET justauth.whatsapp_access_token = 'other';

-- Live send: "OTP sent", no code in the reply; an outbox row in the same transaction.
BEGIN;
SELECT justauth_send_otp(:'cid', :'key', '+91 98765-43210', 'live-key-1') AS r \gset
SELECT jt.show(:'r') AS live_send;
SELECT o.to_number, o.status, o.attempts, o.code ~ '^[0-9]{6}$' AS code_present,
	   o.session_id = ((:'r'::jsonb)->>'request_id')::uuid AS same_session,
	   o.expires_at = s.expires_at AS expires_with_session,
	   o.next_attempt_at <= clock_timestamp() AS due_now,
	   o.provider_message_id IS NULL AS no_provider_id,
	   s.mode, s.status AS session_status
  FROM justauth.outbox o JOIN justauth.sessions s USING (session_id)
 WHERE o.client_id = :'cid';
SELECT position(o.code IN :'r') = 0 AS reply_has_no_code
  FROM justauth.outbox o WHERE o.client_id = :'cid';
-- The code the worker will send verifies (as the user would type it).
SELECT code AS outbox_code FROM justauth.outbox WHERE client_id = :'cid' \gset
COMMIT;
SELECT jt.wallet(:'cid');
SELECT count(*) AS outbox_rows FROM justauth.outbox WHERE client_id = :'cid';
-- Replay with the key: identical reply, no second row, no second debit.
SELECT justauth_send_otp(:'cid', :'key', '919876543210', 'live-key-1') = :'r'::jsonb AS replay_identical;
SELECT count(*) AS outbox_rows FROM justauth.outbox WHERE client_id = :'cid';
SELECT jt.wallet(:'cid');
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', :'outbox_code')) AS verify_outbox_code;

-- A rolled-back send leaves nothing behind.
BEGIN;
SELECT (justauth_send_otp(:'cid', :'key', '919876543211'))->>'success' AS sent;
ROLLBACK;
SELECT jt.wallet(:'cid');
SELECT count(*) AS outbox_rows FROM justauth.outbox WHERE client_id = :'cid';

-- Refused live sends queue nothing.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210')) AS cooldown;
SELECT jt.show(justauth_send_otp(:'cid', :'key', 'abc')) AS bad_number;
SELECT count(*) AS outbox_rows FROM justauth.outbox WHERE client_id = :'cid';

-- A resend supersedes: two rows, old code refused as superseded.
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
BEGIN;
SELECT (justauth_send_otp(:'cid', :'key', '919876543212'))->>'message' AS first;
SELECT code AS c1 FROM justauth.outbox WHERE client_id = :'cid' AND to_number = '919876543212' \gset
SELECT (justauth_send_otp(:'cid', :'key', '919876543212'))->>'message' AS second;
SELECT o.code AS c2 FROM justauth.outbox o JOIN justauth.numbers n ON o.session_id = n.current_session_id
 WHERE n.client_id = :'cid' AND n.number = '919876543212' \gset
COMMIT;
SELECT count(*) AS rows_for_number FROM justauth.outbox WHERE client_id = :'cid' AND to_number = '919876543212';
SELECT CASE WHEN :'c1' = :'c2' THEN 'same code by chance'
			ELSE (justauth_verify_otp(:'cid', '919876543212', :'c1'))->>'error' END AS old_code;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543212', :'c2')) AS new_code;

-- refund_session: once, with a ledger row; the session can no longer be verified.
SELECT justauth_send_otp(:'cid', :'key', '919876543213') AS r \gset
SELECT code AS code FROM justauth.outbox WHERE session_id = ((:'r'::jsonb)->>'request_id')::uuid \gset
SELECT jt.wallet(:'cid');
SELECT justauth.refund_session(((:'r'::jsonb)->>'request_id')::uuid, 'failed') AS refunded;
SELECT justauth.refund_session(((:'r'::jsonb)->>'request_id')::uuid, 'failed') AS refunded_again;
SELECT justauth.refund_session(((:'r'::jsonb)->>'request_id')::uuid, 'expired') AS other_reason;
SELECT jt.wallet(:'cid');
SELECT kind, amount, reason, shard IS NOT NULL AS has_shard
  FROM justauth.ledger WHERE session_id = ((:'r'::jsonb)->>'request_id')::uuid ORDER BY entry_id;
SELECT status FROM justauth.sessions WHERE session_id = ((:'r'::jsonb)->>'request_id')::uuid;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'code')) AS verify_refunded;
SELECT justauth.refund_session(gen_random_uuid(), 'failed') AS unknown_session;
SELECT count(*) AS entries, bool_and(running_balance = balance_after) AS balance_after_exact
  FROM justauth.wallet_statement WHERE client_id = :'cid';

-- The plaintext code may only sit in queued/sending rows.
UPDATE justauth.outbox SET status = 'sent' WHERE session_id = ((:'r'::jsonb)->>'request_id')::uuid;

-- WhatsApp status webhooks (as the gateway passes them on).
BEGIN;
SELECT justauth_send_otp(:'cid', :'key', '919876543214') AS ra \gset
SELECT justauth_send_otp(:'cid', :'key', '919876543215') AS rb \gset
UPDATE justauth.outbox SET status = 'sent', code = NULL, sent_at = now(), attempts = 1,
	   provider_message_id = CASE to_number WHEN '919876543214' THEN 'wamid.regressA' ELSE 'wamid.regressB' END
 WHERE client_id = :'cid' AND to_number IN ('919876543214', '919876543215');
SELECT justauth.justauth_apply_whatsapp_statuses(
  '{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"statuses": [
	 {"id": "wamid.regressA", "status": "delivered", "timestamp": "1700000000", "recipient_id": "919876543214"},
	 {"id": "wamid.regressB", "status": "failed", "timestamp": "1700000001", "recipient_id": "919876543215",
	  "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}}]}]}') AS applied;
-- Duplicates are ignored; read follows delivered.
SELECT justauth.justauth_apply_whatsapp_statuses(
  '{"entry": [{"changes": [{"value": {"statuses": [
	 {"id": "wamid.regressA", "status": "delivered", "timestamp": "1700000000"},
	 {"id": "wamid.regressB", "status": "failed", "timestamp": "1700000001", "errors": [{"code": 131026}]}]}}]}]}') AS applied_again;
SELECT justauth.justauth_apply_whatsapp_statuses(
  '{"entry": [{"changes": [{"value": {"statuses": [{"id": "wamid.regressA", "status": "read", "timestamp": "1700000005"}]}}]}]}') AS applied_read;
SELECT justauth.justauth_apply_whatsapp_statuses('{"entry": "garbage"}') AS garbage_applies_nothing;
-- A status for a message whose provider id was never recorded (the worker
-- stopped after Meta accepted it) is matched by biz_opaque_callback_data.
SELECT justauth_send_otp(:'cid', :'key', '919876543217') AS rc \gset
UPDATE justauth.outbox SET status = 'sending', attempts = 1
 WHERE session_id = ((:'rc'::jsonb)->>'request_id')::uuid RETURNING session_id AS mid \gset
SELECT justauth.justauth_apply_whatsapp_statuses(jsonb_build_object('entry', jsonb_build_array(jsonb_build_object(
	'changes', jsonb_build_array(jsonb_build_object('value', jsonb_build_object('statuses', jsonb_build_array(
		jsonb_build_object('id', 'wamid.regressC', 'status', 'delivered', 'timestamp', '1700000009',
						   'biz_opaque_callback_data', :'mid'::text))))))))) AS applied_by_callback_data;
SELECT status, code IS NULL AS code_erased FROM justauth.outbox WHERE session_id = :'mid';
COMMIT;
SELECT justauth.justauth_apply_whatsapp_statuses('[1, 2]');
SELECT to_number, status, error_code, refunded,
	   (SELECT o.code IS NULL FROM justauth.outbox o WHERE o.session_id = d.request_id) AS code_erased
  FROM justauth.deliveries d WHERE client_id = :'cid' AND to_number IN ('919876543214', '919876543215')
 ORDER BY to_number;
SELECT s.number, s.status FROM justauth.sessions s
 WHERE s.client_id = :'cid' AND s.number IN ('919876543214', '919876543215') ORDER BY 1;
SELECT jt.wallet(:'cid');
SELECT jt.show(justauth_verify_otp(:'cid', '919876543215', '000000')) AS verify_failed_delivery;

-- Unset the token again: live sends are refused, nothing charged.
ALTER SYSTEM RESET justauth.whatsapp_access_token;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT current_setting('justauth.whatsapp_access_token') = '' AS token_unset;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543216')) AS not_configured_again;
SELECT jt.wallet(:'cid');
