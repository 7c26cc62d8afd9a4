-- peer: verify mix, 60 % right code, 25 % wrong code, 15 % number never sent to.
-- Each pgbench client walks its own slice of its round's part of the pool
-- (-D base=B -D slice=S -D i=0), so every pending code is judged once.
\set k random(1, 20)
\set i :i + 1
\set r :base + :client_id * :slice + :i % :slice + 1
\if :k <= 12
SELECT peer.verify_otp(client_id, number, code) FROM bench.peer_codes WHERE i = :r;
\elif :k <= 17
SELECT peer.verify_otp(client_id, number, wrong) FROM bench.peer_codes WHERE i = :r;
\else
SELECT peer.verify_otp(client_id, '91' || (9000000000 + :r)::text, code) FROM bench.peer_codes WHERE i = :r;
\endif
