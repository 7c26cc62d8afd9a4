--
-- 13_purge: justauth_purge removes old sessions, settled outbox rows, number
-- state and old idempotency keys; never ledger rows; refuses < 1 hour.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('purge', 'sandbox', 100) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
SELECT count(*) FILTER (WHERE (justauth_send_otp(:'cid', :'key', '9195' || lpad(i::text, 8, '0'), 'purge-' || i))->>'success' = 'true') AS sent
  FROM generate_series(1, 6) i;
-- Too short a horizon is refused.
SELECT * FROM justauth_purge('59 minutes');
SELECT * FROM justauth.justauth_purge('0 seconds');
SELECT * FROM justauth.justauth_purge('-1 day');
SELECT * FROM justauth_purge(NULL);

-- Nothing is old yet.
SELECT * FROM justauth_purge('1 hour');

SELECT * FROM jt.client('purge-live', 'live', 10) \gset live_
-- Live outbox rows are made by hand (no delivery configured here): one settled,
-- one in flight (not yet expired, so the worker leaves it queued).
INSERT INTO justauth.sessions (session_id, client_id, number, code_hash, max_attempts, mode, expires_at, created_at)
VALUES ('00000000-0000-4000-8000-000000000001', :'live_cid', '919500000101', '\x00', 5, 'live', now() - interval '2 days', now() - interval '2 days'),
	   ('00000000-0000-4000-8000-000000000002', :'live_cid', '919500000102', '\x00', 5, 'live', now() + interval '1 hour', now() - interval '2 days');
INSERT INTO justauth.outbox (session_id, client_id, to_number, code, status, expires_at, created_at)
VALUES ('00000000-0000-4000-8000-000000000001', :'live_cid', '919500000101', NULL, 'delivered', now() - interval '2 days', now() - interval '2 days'),
	   ('00000000-0000-4000-8000-000000000002', :'live_cid', '919500000102', '123456', 'queued', now() + interval '1 hour', now() - interval '2 days');

-- Age half of the sandbox client's rows by two days.
UPDATE justauth.sessions SET created_at = created_at - interval '2 days', expires_at = expires_at - interval '2 days'
 WHERE client_id = :'cid' AND number <= '919500000003';
UPDATE justauth.numbers SET last_sent_at = last_sent_at - interval '2 days', first_sent_at = first_sent_at - interval '2 days',
	   recent_sends = '{}'
 WHERE client_id = :'cid' AND number <= '919500000003';
UPDATE justauth.idempotency_keys SET created_at = created_at - interval '2 days'
 WHERE client_id = :'cid' AND idempotency_key IN ('purge-1', 'purge-2', 'purge-3');
SELECT count(*) AS ledger_rows_before FROM justauth.ledger WHERE client_id IN (:'cid', :'live_cid') \gset
SELECT :ledger_rows_before AS ledger_rows_before;

-- A 3-day horizon keeps everything; a 1-day one removes the aged rows.
SELECT * FROM justauth_purge('3 days');
SELECT * FROM justauth_purge('1 day');
SELECT (SELECT count(*) FROM justauth.sessions WHERE client_id = :'cid') AS sandbox_sessions,
	   (SELECT count(*) FROM justauth.numbers WHERE client_id = :'cid') AS sandbox_numbers,
	   (SELECT count(*) FROM justauth.idempotency_keys WHERE client_id = :'cid') AS sandbox_keys,
	   (SELECT count(*) FROM justauth.sessions WHERE client_id = :'live_cid') AS live_sessions,
	   (SELECT string_agg(status, ',' ORDER BY status) FROM justauth.outbox WHERE client_id = :'live_cid') AS outbox_left;
-- The ledger is untouched, and still adds up.
SELECT count(*) = :ledger_rows_before AS ledger_untouched FROM justauth.ledger WHERE client_id IN (:'cid', :'live_cid');
SELECT jt.wallet(:'cid');
-- Purged numbers can be sent to again; kept ones still work.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919500000001')) AS purged_number;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919500000006', 'purge-6')) AS kept_key_replay_shape;
SELECT jt.wallet(:'cid');
-- Also through schema justauth, and granted to the admin only.
SELECT count(*) FROM justauth.justauth_purge('1 day');
SET ROLE justauth_admin;
SELECT count(*) FROM justauth_purge('1 day');
RESET ROLE;

-- Purging never cuts a code's lifetime or a limit window short: a client with
-- a one-day TTL and one send per number per day, two hours later.
SELECT * FROM jt.client('purge-long', 'sandbox', 10) \gset long_
UPDATE justauth.clients SET resend_cooldown_seconds = 0, max_sends_per_window = 1,
	   send_window_seconds = 86400, code_ttl_seconds = 86400
 WHERE client_id = :'long_cid';
SELECT jt.code(justauth_send_otp(:'long_cid', :'long_key', '919500000201')) AS lc \gset
UPDATE justauth.sessions SET created_at = created_at - interval '2 hours', expires_at = expires_at - interval '2 hours'
 WHERE client_id = :'long_cid';
UPDATE justauth.numbers SET last_sent_at = last_sent_at - interval '2 hours', first_sent_at = first_sent_at - interval '2 hours',
	   recent_sends = ARRAY(SELECT t - interval '2 hours' FROM unnest(recent_sends) t)
 WHERE client_id = :'long_cid';
SELECT jt.show(justauth_send_otp(:'long_cid', :'long_key', '919500000201')) AS in_window_before_purge;
SELECT count(*) FROM justauth_purge('1 hour');
SELECT jt.show(justauth_send_otp(:'long_cid', :'long_key', '919500000201')) AS in_window_after_purge;
SELECT jt.show(justauth_verify_otp(:'long_cid', '919500000201', :'lc')) AS code_still_valid;
SELECT jt.wallet(:'long_cid');
