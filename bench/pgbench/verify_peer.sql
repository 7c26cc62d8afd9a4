-- peer: verify mix, 60 % right code, 25 % wrong code, 15 % number never sent to.
-- Each pgbench client walks its own slice of the pool (-D pool=N -D slice=M),
-- so every code is judged once, while it is still pending.
\set k random(1, 20)
\set r 1 + (:client_id * :slice + random(0, :slice - 1)) % :pool
\if :k <= 12
SELECT peer.verify_otp(client_id, number, code) FROM bench.peer_codes WHERE i = :r;
\elif :k <= 17
SELECT peer.verify_otp(client_id, number, wrong) FROM bench.peer_codes WHERE i = :r;
\else
SELECT peer.verify_otp(client_id, '91' || (9000000000 + :r)::text, code) FROM bench.peer_codes WHERE i = :r;
\endif
