-- ours: every send is for the same client (client 0)
\set n random(6000000000, 7999999999)
SELECT justauth_send_otp(b.ours_id, b.ours_key, '91' || :n) FROM bench.clients b WHERE b.i = 0;
