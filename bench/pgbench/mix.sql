-- ours, straight into PostgreSQL: the gateway mix (bench/wrk/mix.lua),
-- per 23 transactions 10 sends, 10 right verifies, 3 wrong verifies.
-- -D base=B -D slice=S -D i=0: client c judges codes B+c*S+1 .. B+c*S+S of bench.mix_codes.
\set k random(1, 23)
\if :k <= 10
\set c random(1, 100)
\set n random(6000000000, 7999999999)
SELECT justauth_send_otp(b.ours_id, b.ours_key, '91' || :n) FROM bench.clients b WHERE b.i = :c;
\else
\set i :i + 1
\set r :base + :client_id * :slice + :i % :slice + 1
\if :k <= 20
SELECT justauth_verify_otp(client_id, number, code) FROM bench.mix_codes WHERE i = :r;
\else
SELECT justauth_verify_otp(client_id, number, wrong) FROM bench.mix_codes WHERE i = :r;
\endif
\endif
