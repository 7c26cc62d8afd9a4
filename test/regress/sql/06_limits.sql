--
-- 06_limits: resend cooldown, sends per number per window, per-client sends
-- per minute.  Refused sends debit nothing.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('limits', 'sandbox', 100) \gset

-- Cooldown (default 30 s): an immediate resend is rate_limited, retry_after 1..30.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210')) AS first;
SELECT justauth_send_otp(:'cid', :'key', '919876543210') AS r \gset
SELECT jt.show(:'r') AS resend,
	   ((:'r'::jsonb)->>'retry_after')::int BETWEEN 1 AND 30 AS retry_after_in_cooldown;
-- Same number in another format: still the same number.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '+91 98765-43210')) AS resend_other_format;
-- Another number is not affected.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543211')) AS other_number;
-- The refused resends left the first code pending and were not charged.
SELECT status, count(*) FROM justauth.sessions
 WHERE client_id = :'cid' AND number = '919876543210' GROUP BY status;
SELECT jt.wallet(:'cid');

-- The cooldown is data: a longer one gives a longer retry_after.
UPDATE justauth.clients SET resend_cooldown_seconds = 3600 WHERE client_id = :'cid';
SELECT justauth_send_otp(:'cid', :'key', '919876543211') AS r \gset
SELECT jt.show(:'r') AS long_cooldown,
	   ((:'r'::jsonb)->>'retry_after')::int BETWEEN 3000 AND 3600 AS retry_after_long;
-- ... and a 1 s cooldown passes after a second.
UPDATE justauth.clients SET resend_cooldown_seconds = 1 WHERE client_id = :'cid';
SELECT i, jt.show(justauth_send_otp(:'cid', :'key', '919876543212')) AS first_and_within_1s
  FROM generate_series(1, 2) i;
SELECT pg_sleep(1.1);
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543212')) AS after_1s;

-- Window: 5 sends per number per 10 minutes, the 6th is rate_limited.
SELECT * FROM jt.client('window', 'sandbox', 100) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
SELECT i, jt.show(justauth_send_otp(:'cid', :'key', '919876543210')) AS reply
  FROM generate_series(1, 6) i;
SELECT justauth_send_otp(:'cid', :'key', '919876543210') AS r \gset
SELECT jt.show(:'r') AS seventh,
	   ((:'r'::jsonb)->>'retry_after')::int BETWEEN 1 AND 600 AS retry_after_in_window;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543211')) AS other_number;
SELECT count(*) AS sessions FROM justauth.sessions WHERE client_id = :'cid' AND number = '919876543210';
SELECT jt.wallet(:'cid');
-- Window settings are data: 2 per 1 s window.
UPDATE justauth.clients SET max_sends_per_window = 2, send_window_seconds = 1 WHERE client_id = :'cid';
SELECT i, jt.show(justauth_send_otp(:'cid', :'key', '919876543212')) AS reply
  FROM generate_series(1, 3) i;
SELECT pg_sleep(1.1);
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543212')) AS window_passed;

-- Per-client cap on sends per minute (all numbers).
SELECT * FROM jt.client('per-minute', 'sandbox', 100) \gset
UPDATE justauth.clients SET max_sends_per_minute = 3 WHERE client_id = :'cid';
SELECT i, jt.show(justauth_send_otp(:'cid', :'key', '91987654330' || i)) AS reply
  FROM generate_series(1, 5) i;
SELECT justauth_send_otp(:'cid', :'key', '919876543399') AS r \gset
SELECT jt.show(:'r') AS capped, ((:'r'::jsonb)->>'retry_after')::int BETWEEN 1 AND 60 AS retry_after_in_minute;
SELECT jt.wallet(:'cid');
-- NULL means no cap.
UPDATE justauth.clients SET max_sends_per_minute = NULL WHERE client_id = :'cid';
SELECT i, jt.show(justauth_send_otp(:'cid', :'key', '91987654340' || i)) AS reply
  FROM generate_series(1, 5) i;
-- Another client is not capped by this one.
SELECT * FROM jt.client('per-minute-other', 'sandbox', 10) \gset other_
SELECT jt.show(justauth_send_otp(:'other_cid', :'other_key', '919876543301')) AS other_client;
UPDATE justauth.clients SET max_sends_per_minute = 0 WHERE client_id = :'cid';
-- The cap counts paid sends (the client's debits): test-number sends are free
-- and do not count, and a refund does not give a send back.
SELECT * FROM jt.client('per-minute-test', 'sandbox', 10) \gset t_
UPDATE justauth.clients SET max_sends_per_minute = 2 WHERE client_id = :'t_cid';
SELECT justauth.justauth_add_test_number(:'t_cid', '919000000077', '123456') AS test_number;
SELECT i, jt.show(justauth_send_otp(:'t_cid', :'t_key', '919000000077')) AS test_send
  FROM generate_series(1, 3) i;
SELECT justauth_send_otp(:'t_cid', :'t_key', '919876543501') AS r \gset
SELECT jt.show(:'r') AS paid_1;
SELECT justauth.refund_session((:'r'::jsonb->>'request_id')::uuid, 'regress: refund does not uncount') AS refunded;
SELECT jt.show(justauth_send_otp(:'t_cid', :'t_key', '919876543502')) AS paid_2;
SELECT jt.show(justauth_send_otp(:'t_cid', :'t_key', '919876543503')) AS paid_3_capped;
SELECT jt.wallet(:'t_cid');

-- Limits are per client: another client may send to a number in cooldown here.
SELECT * FROM jt.client('limits-a', 'sandbox', 10) \gset a_
SELECT * FROM jt.client('limits-b', 'sandbox', 10) \gset b_
SELECT jt.show(justauth_send_otp(:'a_cid', :'a_key', '919811111111')) AS a_first;
SELECT jt.show(justauth_send_otp(:'b_cid', :'b_key', '919811111111')) AS b_first;
SELECT jt.show(justauth_send_otp(:'a_cid', :'a_key', '919811111111')) AS a_again;

-- A refused send (bad number, bad key) does not start a cooldown.
SELECT jt.show(justauth_send_otp(:'a_cid', 'sk_test_wrong', '919822222222')) AS bad_key;
SELECT jt.show(justauth_send_otp(:'a_cid', :'a_key', '919822222222')) AS after_bad_key;
SELECT jt.wallet(:'a_cid');
