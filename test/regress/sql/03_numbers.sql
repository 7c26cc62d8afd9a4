--
-- 03_numbers: normalization to E.164 digits, Indian mobile rules, other
-- countries, allowed country codes, garbage.
--
\set VERBOSITY sqlstate

-- The seed's formats all normalize to 919876543210.
SELECT n, justauth.justauth_normalize_number(n) AS normalized
  FROM unnest(ARRAY['919876543210', '+91 98765-43210', '9876543210', '0091 98765 43210',
					'+919876543210', '+91-98765-43210', '91 98765 43210', '009198765 43210']) n;
SELECT justauth.justauth_normalize_number('9876543210', '91') AS explicit_default_cc;

-- Indian mobiles start with 6-9 after 91 and have exactly 10 digits.
SELECT n, justauth.justauth_normalize_number(n) AS normalized
  FROM unnest(ARRAY['916000000000', '917000000000', '918999999999', '919999999999',
					'6123456789', '7123456789', '8123456789']) n;
SELECT n, justauth.justauth_normalize_number(n) IS NULL AS refused
  FROM unnest(ARRAY['911234567890', '912345678901', '913456789012', '914567890123',
					'915876543210', '910876543210', '1876543210', '5876543210', '0876543210',
					'91987654321', '9198765432101', '+91 98765-4321']) n;

-- Other countries: country code + national number, 8 to 15 digits in all.
SELECT n, justauth.justauth_normalize_number(n) AS normalized
  FROM unnest(ARRAY['+44 7911 123456', '447911123456', '+1 415 555 2671', '0044 7911 123456',
					'+49 1512 3456789', '+33612345678']) n;
SELECT n, justauth.justauth_normalize_number(n) IS NULL AS refused
  FROM unnest(ARRAY['+4412345', '+1234567', '+1234567890123456', '0012345678901234567']) n;

-- Garbage.
SELECT n, justauth.justauth_normalize_number(n) IS NULL AS refused
  FROM unnest(ARRAY['', ' ', '+', '++919876543210', 'abc', '98765abcde', '9876543210x',
					'one two three', '919876543210; DROP TABLE justauth.clients; --',
					''' OR ''1''=''1', '919876543210'' --', '91987654321O',
					'९८७६५४३२१०', '+९१ ९८७६५४३२१०', '９１９８７６５４３２１０', '٩١٩٨٧٦٥٤٣٢١٠',
					'1e11', repeat('9', 300)]) n
 ORDER BY 1;
SELECT justauth.justauth_normalize_number(NULL) IS NULL AS strict_null;

-- The same rules on send: equal numbers share one session (cooldown applies across formats).
SELECT * FROM jt.client('numbers', 'sandbox', 100) \gset
SELECT jt.show(justauth_send_otp(:'cid', :'key', '+91 98765-43210')) AS first_send;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919876543210')) AS same_number_plain;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '9876543210')) AS same_number_bare;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '0091 98765 43210')) AS same_number_0091;
SELECT number, sends FROM justauth.numbers WHERE client_id = :'cid';
SELECT number FROM justauth.sessions WHERE client_id = :'cid';

-- Invalid numbers on send: invalid_number, no debit, no session.
SELECT n, jt.show(justauth_send_otp(:'cid', :'key', n)) AS reply
  FROM unnest(ARRAY['abc', '12345', '9198765432101', '915876543210', '5876543210', '९८७६५४३२१०',
					'919876543210; DROP TABLE justauth.ledger; --', ''' OR ''1''=''1',
					'+1234567890123456']) n;

-- Other countries are refused unless allowed for the client.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '+44 7911 123456')) AS uk_default;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '+1 415 555 2671')) AS us_default;
UPDATE justauth.clients SET allowed_country_codes = '{91,44}' WHERE client_id = :'cid';
SELECT jt.show(justauth_send_otp(:'cid', :'key', '+44 7911 123456')) AS uk_allowed;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '+1 415 555 2671')) AS us_still_refused;
-- 91 no longer allowed: Indian numbers are refused.
UPDATE justauth.clients SET allowed_country_codes = '{44}' WHERE client_id = :'cid';
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919812345678')) AS india_not_allowed;
UPDATE justauth.clients SET allowed_country_codes = '{91,44,1}' WHERE client_id = :'cid';
SELECT jt.show(justauth_send_otp(:'cid', :'key', '+1 415 555 2671')) AS us_allowed;
-- Nothing allowed: everything refused.
UPDATE justauth.clients SET allowed_country_codes = '{}' WHERE client_id = :'cid';
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919812345670')) AS nothing_allowed;
SELECT number FROM justauth.sessions WHERE client_id = :'cid' ORDER BY number;

-- Verify normalizes the number the same way.
SELECT * FROM jt.client('numbers-verify', 'sandbox', 10) \gset
SELECT jt.code(justauth_send_otp(:'cid', :'key', '919876543210')) AS code \gset
SELECT jt.show(justauth_verify_otp(:'cid', '+91 98765-43210', :'code')) AS verify_other_format;
SELECT jt.show(justauth_verify_otp(:'cid', 'abc', :'code')) AS verify_bad_number;
SELECT jt.show(justauth_verify_otp(:'cid', '+44 7911 123456', :'code')) AS verify_not_allowed;

SELECT jt.wallet(:'cid');
