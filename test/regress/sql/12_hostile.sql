--
-- 12_hostile: NULLs (SQLSTATE 22004), empty and overlong parameters
-- (invalid_request), SQL injection strings, unicode digits.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('hostile', 'sandbox', 100) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
\set big `printf 'x%.0s' $(seq 1 10240)`
\set bigdigits `printf '9%.0s' $(seq 1 10240)`
SELECT length(:'big') AS big_length, length(:'bigdigits') AS bigdigits_length;

-- NULL in a required argument is a programming error: SQLSTATE 22004.
SELECT justauth_send_otp(NULL, :'key', '919876543210');
SELECT justauth_send_otp(:'cid', NULL, '919876543210');
SELECT justauth_send_otp(:'cid', :'key', NULL);
SELECT justauth_verify_otp(NULL, '919876543210', '123456');
SELECT justauth_verify_otp(:'cid', NULL, '123456');
SELECT justauth_verify_otp(:'cid', '919876543210', NULL);
SELECT justauth.justauth_send_otp(NULL, NULL, NULL, NULL);
SELECT justauth.justauth_verify_otp(NULL, NULL, NULL, NULL);
-- NULL optional arguments mean "not given".
SELECT justauth_send_otp(:'cid', :'key', '919876543210', NULL) AS r \gset
SELECT jt.show(:'r') AS null_idempotency_key;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543210', jt.wrong(jt.code(:'r')), NULL)) AS null_api_key;

-- Empty parameters: invalid_request.
SELECT jt.show(justauth_send_otp('', :'key', '919876543211')) AS empty_client;
SELECT jt.show(justauth_send_otp(:'cid', '', '919876543211')) AS empty_key;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '')) AS empty_number;
SELECT jt.show(justauth_verify_otp('', '919876543211', '123456')) AS verify_empty_client;
SELECT jt.show(justauth_verify_otp(:'cid', '', '123456')) AS verify_empty_number;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', '')) AS verify_empty_otp;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', '123456', '')) AS verify_empty_key;

-- 10 kB parameters: invalid_request (never a crash, never a debit).
SELECT jt.show(justauth_send_otp(:'big', :'key', '919876543211')) AS big_client;
SELECT jt.show(justauth_send_otp(:'cid', :'big', '919876543211')) AS big_key;
SELECT jt.show(justauth_send_otp(:'cid', :'key', :'big')) AS big_number;
SELECT jt.show(justauth_send_otp(:'cid', :'key', :'bigdigits')) AS big_digit_number;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543211', :'big')) AS big_idempotency_key;
SELECT jt.show(justauth_verify_otp(:'big', '919876543211', '123456')) AS verify_big_client;
SELECT jt.show(justauth_verify_otp(:'cid', :'big', '123456')) AS verify_big_number;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', :'bigdigits')) AS verify_big_otp;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543211', '123456', :'big')) AS verify_big_key;
-- The 256-character limit is exact.
SELECT jt.show(justauth_send_otp(repeat('c', 257), :'key', '919876543211')) AS client_257;
SELECT jt.show(justauth_send_otp(repeat('c', 256), :'key', '919876543211')) AS client_256;
SELECT jt.show(justauth_send_otp(:'cid', :'key', repeat('1', 257))) AS number_257;
SELECT jt.show(justauth_send_otp(:'cid', :'key', repeat('1', 256))) AS number_256;

-- SQL injection strings are just wrong values.
SELECT replace(v, :'cid', '<cid>') AS v, jt.show(justauth_send_otp(v, :'key', '919876543212')) AS as_client
  FROM unnest(ARRAY['''', ''' OR ''1''=''1', 'x''; DROP TABLE justauth.clients; --',
					:'cid' || ''' --', '%', '_', '\', 'cl_%']) v;
SELECT replace(v, :'key', '<key>') AS v, jt.show(justauth_send_otp(:'cid', v, '919876543212')) AS as_key
  FROM unnest(ARRAY['''', ''' OR ''1''=''1', 'x''; DROP TABLE justauth.clients; --',
					:'key' || ''' --', '%', 'sk_test_%']) v;
SELECT v, jt.show(justauth_send_otp(:'cid', :'key', v)) AS as_number
  FROM unnest(ARRAY['''', '919876543212'' OR ''1''=''1', '919876543212; DROP TABLE justauth.ledger; --',
					'919876543212''--', '$1', '91987654321%']) v;
SELECT v, jt.show(justauth_verify_otp(:'cid', '919876543210', v)) AS as_otp
  FROM unnest(ARRAY['''', ''' OR ''1''=''1', '1'' OR ''1''=''1', '123456; DROP TABLE justauth.sessions; --',
					'%', '______', '.*', '[0-9]*']) v;
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'justauth'::regnamespace AND relkind = 'r') AS tables_left;

-- Unicode digits and other look-alikes in a code: invalid_request, no guess used.
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543213')) AS code \gset
SELECT translate(:'code', '0123456789', '०१२३४५६७८९') AS devanagari,
	   translate(:'code', '0123456789', '０１２３４５６７８９') AS fullwidth,
	   translate(:'code', '0123456789', '٠١٢٣٤٥٦٧٨٩') AS arabic_indic,
	   translate(:'code', '0123456789', '𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗') AS math_bold \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'devanagari')) AS devanagari;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'fullwidth')) AS fullwidth;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'arabic_indic')) AS arabic_indic;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'math_bold')) AS math_bold;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', ' ' || :'code')) AS leading_space;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'code' || E'\n')) AS trailing_newline;
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', '+' || :'code')) AS plus_sign;
SELECT attempts FROM justauth.sessions WHERE client_id = :'cid' AND number = '919876543213';
SELECT jt.show(justauth_verify_otp(:'cid', '919876543213', :'code')) AS ascii_code_still_works;

-- Unicode digits in a number: invalid_number.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '९१९८७६५४३२१०')) AS devanagari_number;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '９１９８７６５４３２１０')) AS fullwidth_number;

-- Nothing above moved money except the accepted sends.
SELECT jt.wallet(:'cid');
SELECT count(*) AS sessions FROM justauth.sessions WHERE client_id = :'cid';

-- The limit counts characters: a 200-character key of 2-byte characters is fine.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543222', repeat('é', 200))) AS key_200_chars_400_bytes;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543223', repeat('é', 257))) AS key_257_chars;

-- A caller's search_path cannot reach into send and verify, which pin theirs
-- in C: operators of a schema searched before pg_catalog would otherwise be
-- bound when our statements are planned (here in a new session, so on the
-- first send with an idempotency key and on its replay) and run as the
-- extension's owner.
\c
\set VERBOSITY sqlstate
CREATE SCHEMA hostile;
CREATE FUNCTION hostile.trap_ts(timestamptz, interval) RETURNS timestamptz
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hostile operator called'; END$$;
CREATE OPERATOR hostile.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = hostile.trap_ts);
CREATE FUNCTION hostile.trap_json(jsonb, text) RETURNS text
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hostile operator called'; END$$;
CREATE OPERATOR hostile.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = hostile.trap_json);
CREATE FUNCTION hostile.trap_int(integer, integer) RETURNS integer
	LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hostile operator called'; END$$;
CREATE OPERATOR hostile.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = hostile.trap_int);
SET search_path = hostile, pg_catalog;
-- the caller's own statements do find them
SELECT 1 + 1 AS callers_plus;
SELECT justauth.justauth_send_otp(:'cid', :'key', '919876543240', 'hostile-path') AS first_send \gset
SELECT justauth.justauth_send_otp(:'cid', :'key', '919876543240', 'hostile-path') AS replayed_send \gset
SELECT justauth.justauth_verify_otp(:'cid', '919876543240', '0000000') AS wrong_code \gset
-- the caller's path is back after each call, and after an error inside one
SHOW search_path;
SELECT 1 + 1 AS callers_plus_after;
DO $$
BEGIN
	PERFORM justauth.justauth_verify_otp(NULL, NULL, NULL);
EXCEPTION WHEN null_value_not_allowed THEN
	NULL;
END
$$;
SELECT 1 + 1 AS callers_plus_after_error;
RESET search_path;
SELECT (:'first_send'::jsonb)->'success' AS first_send,
	   (:'replayed_send'::jsonb)->>'request_id' = (:'first_send'::jsonb)->>'request_id' AS replayed,
	   jt.show(:'wrong_code'::jsonb) AS wrong_code;
SELECT attempts FROM justauth.sessions WHERE client_id = :'cid' AND number = '919876543240';
DROP SCHEMA hostile CASCADE;
