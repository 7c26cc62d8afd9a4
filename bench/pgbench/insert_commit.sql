-- reference: one single-row INSERT, committed (synchronous_commit on)
\set v random(1, 1000000)
INSERT INTO bench.ins (v) VALUES (:v);
