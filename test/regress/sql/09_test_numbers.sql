--
-- 09_test_numbers: fixed-code test numbers send nothing and debit nothing.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('review', 'sandbox', 10) \gset

SELECT justauth.justauth_add_test_number(:'cid', '+91 90000-00001', '123456') AS normalized;
SELECT number, code FROM justauth.test_numbers WHERE client_id = :'cid';

SELECT justauth_send_otp(:'cid', :'key', '919000000001') AS r \gset
SELECT jt.show(:'r') AS test_send, jt.code(:'r') AS shown_code;
SELECT jt.wallet(:'cid');
SELECT count(*) AS outbox_rows FROM justauth.outbox WHERE client_id = :'cid';
SELECT is_test, status FROM justauth.sessions WHERE client_id = :'cid';
SELECT jt.show(justauth_verify_otp(:'cid', '919000000001', '654321')) AS wrong_fixed;
SELECT jt.show(justauth_verify_otp(:'cid', '919000000001', '123456')) AS right_fixed;
SELECT jt.show(justauth_verify_otp(:'cid', '919000000001', '123456')) AS used;

-- Changing the fixed code.
SELECT justauth.justauth_add_test_number(:'cid', '9000000001', '222222') AS same_number;
SELECT count(*) FROM justauth.test_numbers WHERE client_id = :'cid';
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919000000001')) AS shown_code;
SELECT jt.show(justauth_verify_otp(:'cid', '919000000001', '222222')) AS new_fixed;

-- Only this client's number is a test number.
SELECT * FROM jt.client('review-other', 'sandbox', 10) \gset other_
SELECT justauth_send_otp(:'other_cid', :'other_key', '919000000001') AS r \gset
SELECT jt.show(:'r') AS other_client, jt.wallet(:'other_cid');

-- A live client's test number: "OTP sent", no outbox row, no debit,
-- and it needs no WhatsApp configuration.
SELECT * FROM jt.client('review-live', 'live', 10) \gset live_
SELECT justauth.justauth_add_test_number(:'live_cid', '919000000002', '555555');
SELECT jt.show(justauth_send_otp(:'live_cid', :'live_key', '919000000002')) AS live_test_send;
SELECT count(*) AS outbox_rows FROM justauth.outbox WHERE client_id = :'live_cid';
SELECT jt.wallet(:'live_cid');
SELECT jt.show(justauth_verify_otp(:'live_cid', '919000000002', '555555')) AS live_test_verify;
-- refund_session of an uncharged test session gives nothing back.
SELECT justauth.refund_session(session_id, 'failed') AS refunded
  FROM justauth.sessions WHERE client_id = :'live_cid';
SELECT jt.wallet(:'live_cid');

-- An unfunded client can use its test numbers (no debit happens).
SELECT * FROM jt.client('review-unfunded', 'sandbox', 0) \gset u_
SELECT justauth.justauth_add_test_number(:'u_cid', '919000000003', '777777');
SELECT jt.show(justauth_send_otp(:'u_cid', :'u_key', '919000000003')) AS unfunded_test_send;

-- Bad test numbers and codes.
SELECT justauth.justauth_add_test_number(:'cid', 'abc', '123456');
SELECT justauth.justauth_add_test_number(:'cid', '919000000004', '12345');
SELECT justauth.justauth_add_test_number(:'cid', '919000000004', '12345a');
SELECT justauth.justauth_add_test_number(:'cid', '919000000004', '१२३४५६');
SELECT justauth.justauth_add_test_number('cl_doesnotexist000000000', '919000000004', '123456');
SELECT justauth.justauth_add_test_number(:'cid', '+44 7911 123456', '123456') AS foreign_number;

-- clients.test_number_count follows the table (a send looks test numbers up
-- only when it is not 0): adding, re-adding, deleting and truncating.
SELECT client_id = :'cid' AS review, test_number_count FROM justauth.clients
 WHERE client_id IN (:'cid', :'other_cid', :'live_cid') ORDER BY client_id = :'cid' DESC, client_id = :'live_cid' DESC;
SELECT justauth.justauth_add_test_number(:'other_cid', '919000000005', '121212');
SELECT justauth.justauth_add_test_number(:'other_cid', '919000000005', '343434') AS readded;
SELECT test_number_count FROM justauth.clients WHERE client_id = :'other_cid';
UPDATE justauth.test_numbers SET client_id = :'cid' WHERE client_id = :'other_cid';
SELECT client_id = :'cid' AS review, test_number_count FROM justauth.clients
 WHERE client_id IN (:'cid', :'other_cid') ORDER BY 1 DESC;
DELETE FROM justauth.test_numbers WHERE client_id = :'cid' AND number = '919000000005';
SELECT test_number_count FROM justauth.clients WHERE client_id = :'cid';
-- a deleted test number is an ordinary number again: a random code, a
-- session that is not a test one
DELETE FROM justauth.test_numbers WHERE client_id = :'cid' AND number = '919000000001';
SELECT test_number_count FROM justauth.clients WHERE client_id = :'cid';
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919000000001')) <> '222222' AS real_code;
SELECT is_test FROM justauth.sessions WHERE client_id = :'cid' ORDER BY created_at DESC LIMIT 1;
TRUNCATE justauth.test_numbers;
SELECT count(*) AS clients_still_counting FROM justauth.clients WHERE test_number_count <> 0;
