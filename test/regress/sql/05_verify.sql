--
-- 05_verify: approved once, invalid_otp with attempts_left, max_attempts,
-- otp_expired, otp_superseded, otp_not_found, API key rules, suspension.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('verify', 'sandbox', 100) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';

-- Nothing sent yet.
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', '123456')) AS nothing_sent;

-- The seed's flow: approved once, with the send's request_id; then otp_not_found.
SELECT justauth_send_otp(:'cid', :'key', '919876543210') AS r \gset
SELECT jt.code(:'r') AS code, (:'r'::jsonb)->>'request_id' AS rid \gset
SELECT justauth_verify_otp(:'cid', '919876543210', :'code') AS v \gset
SELECT jt.show(:'v') AS verified, (:'v'::jsonb)->>'request_id' = :'rid' AS same_request_id;
SELECT status, attempts, verified_at IS NOT NULL AS verified_at_set
  FROM justauth.sessions WHERE session_id = :'rid';
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', :'code')) AS second_time;
-- A verdict that changes nothing (a used code) neither locks nor writes: the
-- transaction gets no transaction id, so its commit waits for no WAL flush.
BEGIN;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', :'code')) AS used_again,
       pg_current_xact_id_if_assigned() IS NULL AS no_xid;
COMMIT;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', jt.wrong(:'code'))) AS wrong_after_use;

-- Wrong guesses count down; after max_attempts (5) even the right code fails.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543211')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', jt.wrong(:'code'))) AS wrong_1;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', jt.wrong(jt.wrong(:'code')))) AS wrong_2;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', jt.wrong(jt.wrong(jt.wrong(:'code'))))) AS wrong_3;
BEGIN;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', jt.wrong(:'code'))) AS wrong_4,
       pg_current_xact_id_if_assigned() IS NOT NULL AS counted_with_xid;
COMMIT;
SELECT attempts, last_attempt_at IS NOT NULL AS attempt_time FROM justauth.sessions
 WHERE client_id = :'cid' AND number = '919876543211';
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', jt.wrong(:'code'))) AS wrong_5;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', :'code')) AS right_after_max;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', jt.wrong(:'code'))) AS wrong_after_max;
SELECT status, attempts FROM justauth.sessions WHERE client_id = :'cid' AND number = '919876543211';
-- A new code resets the count.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543211')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', jt.wrong(:'code'))) AS new_code_wrong_1;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', :'code')) AS new_code_right;

-- max_attempts is a client setting.
UPDATE justauth.clients SET max_attempts = 2 WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543212')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543212', jt.wrong(:'code'))) AS wrong_1_of_2;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543212', jt.wrong(:'code'))) AS wrong_2_of_2;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543212', :'code')) AS right_after_max;
UPDATE justauth.clients SET max_attempts = 5 WHERE client_id = :'cid';

-- Malformed codes are invalid_request and do not use up a guess.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543213')) AS code \gset
SELECT o, jt.show(justauth_verify_otp(:'cid', '919876543213', o)) AS reply
  FROM unnest(ARRAY['abcdef', '12 345', '12a456', '५८२९३१', '５８２９３１', '-12345', '1e5',
					'123456'' OR ''1''=''1', '']) o;
SELECT attempts FROM justauth.sessions WHERE client_id = :'cid' AND number = '919876543213';
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'code')) AS still_approvable;

-- Expiry: TTL 1 s.
UPDATE justauth.clients SET code_ttl_seconds = 1 WHERE client_id = :'cid';
SELECT justauth_send_otp(:'cid', :'key', '919876543214') AS r \gset
SELECT jt.show(:'r') AS one_second_code;
SELECT jt.code(:'r') AS code \gset
SELECT pg_sleep(1.1);
SELECT jt.show(justauth_verify_otp(:'cid', '919876543214', :'code')) AS expired;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543214', jt.wrong(:'code'))) AS expired_wrong;
UPDATE justauth.clients SET code_ttl_seconds = 120 WHERE client_id = :'cid';
-- A new send after expiry works.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543214')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543214', :'code')) AS fresh_after_expiry;

-- A resend supersedes the pending code (10-digit codes: never equal by chance).
UPDATE justauth.clients SET code_length = 10 WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543215')) AS old_code \gset
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543215')) AS new_code \gset
SELECT :'old_code' <> :'new_code' AS codes_differ;
SELECT status, count(*) FROM justauth.sessions
 WHERE client_id = :'cid' AND number = '919876543215' GROUP BY status ORDER BY status;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543215', :'old_code')) AS old_code_after_resend;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543215', :'new_code')) AS new_code;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543215', :'old_code')) AS old_code_after_use;
-- A third send supersedes the second; the first stays superseded.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543216')) AS c1 \gset
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543216')) AS c2 \gset
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543216')) AS c3 \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543216', :'c1')) AS first;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543216', :'c2')) AS second;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543216', :'c3')) AS third;
-- A superseded code is a wrong guess for the current code: it counts.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543217')) AS c1 \gset
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543217')) AS c2 \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543217', :'c1')) AS superseded;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543217', jt.wrong(:'c2'))) AS wrong_current;
UPDATE justauth.clients SET code_length = 6 WHERE client_id = :'cid';

-- Another client's session is not visible.
SELECT * FROM jt.client('verify-other', 'sandbox', 10) \gset other_
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543218')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'other_cid', '919876543218', :'code')) AS other_client;
SELECT jt.show(justauth_verify_otp('cl_AAAAAAAAAAAAAAAAAAAAAA', '919876543218', :'code')) AS unknown_client;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543219', :'code')) AS other_number;

-- API key on verify: optional, but must be right when given.
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code', :'other_key')) AS wrong_key;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code', :'key' || 'x')) AS bad_key;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code', :'key')) AS right_key;
-- verify_requires_api_key makes it mandatory.
UPDATE justauth.clients SET verify_requires_api_key = true WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543218')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code')) AS missing_key;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code', :'other_key')) AS wrong_key;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code', :'key')) AS right_key;
UPDATE justauth.clients SET verify_requires_api_key = false WHERE client_id = :'cid';
-- After rotation the old key is wrong on verify too.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543218')) AS code \gset
SELECT justauth_rotate_api_key(:'cid') AS newkey \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code', :'key')) AS old_key;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543218', :'code', :'newkey')) AS new_key;
\set key :newkey

-- A suspended client gets client_suspended on send and verify.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543220')) AS code \gset
SELECT justauth.justauth_set_client_status(:'cid', 'suspended');
SELECT jt.show(justauth_verify_otp(:'cid', '919876543220', :'code')) AS verify_suspended;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543221')) AS send_suspended;
SELECT justauth.justauth_set_client_status(:'cid', 'active');
SELECT jt.show(justauth_verify_otp(:'cid', '919876543220', :'code')) AS verify_reactivated;

-- Verifying never moves money.
SELECT jt.wallet(:'cid');
SELECT count(*) AS sessions FROM justauth.sessions WHERE client_id = :'cid';

-- The code of a superseded session is reported as superseded even when that
-- session has also expired meanwhile (a newer code was sent).
UPDATE justauth.clients SET code_ttl_seconds = 1, code_length = 10 WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543230')) AS c1 \gset
SELECT pg_sleep(1.1);
UPDATE justauth.clients SET code_ttl_seconds = 120 WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543230')) AS c2 \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543230', :'c1')) AS expired_superseded_code;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543230', :'c2')) AS current_code;
