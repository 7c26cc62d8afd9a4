-- peer: send to a random new number for one of 100 clients
\set c random(1, 100)
\set n random(6000000000, 7999999999)
SELECT peer.send_otp(b.peer_id, b.peer_key, '91' || :n) FROM bench.clients b WHERE b.i = :c;
