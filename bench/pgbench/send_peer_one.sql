-- peer: every send is for the same client (client 0)
\set n random(6000000000, 7999999999)
SELECT peer.send_otp(b.peer_id, b.peer_key, '91' || :n) FROM bench.clients b WHERE b.i = 0;
