--
-- 08_idempotency: a repeated idempotency key returns the identical reply and
-- debits nothing more; another number with the key is idempotency_conflict;
-- refused sends do not use up the key.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('idem', 'sandbox', 100) \gset

SELECT justauth_send_otp(:'cid', :'key', '919876543210', 'order-1') AS r1 \gset
SELECT jt.show(:'r1') AS first;
-- Replay: identical reply (same code, same request_id), even inside the cooldown.
SELECT justauth_send_otp(:'cid', :'key', '919876543210', 'order-1') AS r2 \gset
SELECT :'r1'::jsonb = :'r2'::jsonb AS identical;
-- Another format of the same number is the same request.
SELECT justauth_send_otp(:'cid', :'key', '+91 98765-43210', 'order-1') = :'r1'::jsonb AS identical_other_format;
SELECT jt.wallet(:'cid');
SELECT count(*) AS sessions FROM justauth.sessions WHERE client_id = :'cid';
-- The replayed code is the live one.
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', jt.code(:'r1'))) AS verify;
-- Replaying after the verify still returns the original reply, no new session.
SELECT justauth_send_otp(:'cid', :'key', '919876543210', 'order-1') = :'r1'::jsonb AS identical_after_verify;
SELECT jt.wallet(:'cid');
-- The stored reply does not hold the code in clear.
SELECT count(*) AS keys_with_clear_code FROM justauth.idempotency_keys k
 WHERE k.client_id = :'cid' AND row_to_json(k)::text LIKE '%' || jt.code(:'r1') || '%';

-- Same key, another number: idempotency_conflict, no debit.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543211', 'order-1')) AS conflict;
SELECT jt.wallet(:'cid');

-- Without a key, or with another key, a resend is a new send (and meets the cooldown).
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210')) AS no_key_resend;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210', 'order-2')) AS new_key_resend;

-- Keys are per client.
SELECT * FROM jt.client('idem-other', 'sandbox', 10) \gset other_
SELECT justauth_send_otp(:'other_cid', :'other_key', '919876543210', 'order-1') AS r3 \gset
SELECT jt.show(:'r3') AS other_client, :'r3'::jsonb <> :'r1'::jsonb AS different_reply;

-- A refused send with a key does not use up the key.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543212')) AS prime_cooldown;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543212', 'order-3')) AS refused_with_key;
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
SELECT justauth_send_otp(:'cid', :'key', '919876543212', 'order-3') AS r4 \gset
SELECT jt.show(:'r4') AS accepted_with_same_key;
SELECT justauth_send_otp(:'cid', :'key', '919876543212', 'order-3') = :'r4'::jsonb AS replay_identical;
-- Refused for a bad number, then used for a good one: no conflict.
SELECT jt.show(justauth_send_otp(:'cid', :'key', 'not-a-number', 'order-4')) AS bad_number_with_key;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543213', 'order-4')) AS good_number_same_key;
-- Refused for an empty wallet, then accepted after a deposit.
SELECT * FROM jt.client('idem-empty', 'sandbox', 1) \gset e_
SELECT jt.show(justauth_send_otp(:'e_cid', :'e_key', '919876543214')) AS uses_last_credit;
SELECT jt.show(justauth_send_otp(:'e_cid', :'e_key', '919876543215', 'order-5')) AS empty_with_key;
SELECT justauth_deposit(:'e_cid', 1, 'refill');
SELECT justauth_send_otp(:'e_cid', :'e_key', '919876543215', 'order-5') AS r5 \gset
SELECT jt.show(:'r5') AS accepted_after_refill;
SELECT justauth_send_otp(:'e_cid', :'e_key', '919876543215', 'order-5') = :'r5'::jsonb AS replay_identical;
SELECT jt.wallet(:'e_cid');
-- Bad credentials with a key: refused, key untouched.
SELECT jt.show(justauth_send_otp(:'e_cid', 'sk_test_nope', '919876543216', 'order-6')) AS bad_key;
SELECT count(*) AS stored FROM justauth.idempotency_keys WHERE client_id = :'e_cid' AND idempotency_key = 'order-6';

-- Malformed keys.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543217', '')) AS empty_key;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543217', repeat('k', 257))) AS overlong_key;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543217', repeat('k', 256))) AS max_length_key;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543218', 'k''); DROP TABLE justauth.sessions; --')) AS quote_key;
SELECT count(*) >= 0 AS sessions_table_intact FROM justauth.sessions;

-- A replay older than 24 h is not a replay any more.
UPDATE justauth.idempotency_keys SET created_at = now() - interval '25 hours'
 WHERE client_id = :'cid' AND idempotency_key = 'order-3';
SELECT justauth_send_otp(:'cid', :'key', '919876543212', 'order-3') AS r6 \gset
SELECT jt.show(:'r6') AS after_24h, :'r6'::jsonb <> :'r4'::jsonb AS new_reply;

-- Each accepted request was debited exactly once.
SELECT jt.wallet(:'cid');
SELECT count(*) AS sessions FROM justauth.sessions WHERE client_id = :'cid';
