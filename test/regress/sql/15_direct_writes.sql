--
-- 15_direct_writes: send and verify read and write their rows without SQL
-- statements (extension/direct.c).  What they write must be what the SQL
-- would write, in the same transaction as earlier changes, and a trigger
-- or CHECK constraint a DBA adds must still fire (those tables go back to
-- SQL).
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('direct', 'sandbox', 10) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';

-- Everything in one transaction: each step sees the ones before it.
BEGIN;
SELECT justauth_send_otp(:'cid', :'key', '919811100001') AS r1 \gset
SELECT justauth_send_otp(:'cid', :'key', '919811100001') AS r2 \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919811100001', jt.code(:'r1'))) AS old_code;
SELECT jt.show(justauth_verify_otp(:'cid', '919811100001', jt.wrong(jt.code(:'r2')))) AS wrong;
SELECT jt.show(justauth_verify_otp(:'cid', '919811100001', jt.code(:'r2'))) AS right_code;
SELECT jt.show(justauth_verify_otp(:'cid', '919811100001', jt.code(:'r2'))) AS used;
COMMIT;

-- The rows are complete: session defaults, number counters, the debit's balance_after.
SELECT s.status, s.attempts, s.max_attempts, s.is_test, s.mode, s.verified_at IS NOT NULL AS verified,
	   s.last_attempt_at IS NOT NULL AS attempted, s.expires_at - s.created_at AS ttl
  FROM justauth.sessions s WHERE s.client_id = :'cid' ORDER BY s.created_at;
SELECT n.current_session_id = ((:'r2')::jsonb->>'request_id')::uuid AS current_is_r2, n.sends,
	   cardinality(n.recent_sends) AS recent, n.first_sent_at <= n.last_sent_at AS times
  FROM justauth.numbers n WHERE n.client_id = :'cid';
SELECT l.kind, l.amount, l.balance_after, l.shard IS NOT NULL AS has_shard, l.reference, l.reason
  FROM justauth.ledger l WHERE l.client_id = :'cid' ORDER BY l.entry_id;
SELECT jt.wallet(:'cid');
-- Index entries were made: lookups through every index of the written tables find the rows.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS by_number FROM justauth.sessions WHERE client_id = :'cid' AND number = '919811100001';
SELECT count(*) AS by_time FROM justauth.sessions WHERE client_id = :'cid' AND created_at > now() - interval '1 hour';
SELECT count(*) AS by_session FROM justauth.ledger
 WHERE session_id = ((:'r2')::jsonb->>'request_id')::uuid AND kind = 'debit';
SELECT count(*) AS by_client FROM justauth.ledger WHERE client_id = :'cid';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- REPEATABLE READ works as well.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919811100002')) AS rr_send;
COMMIT;

-- A trigger added by a DBA fires for every row a send or verify writes.
CREATE TABLE jt.audit (tab text, op text, n bigint GENERATED ALWAYS AS IDENTITY);
CREATE FUNCTION jt.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO jt.audit (tab, op) VALUES (TG_TABLE_NAME, TG_OP);
	RETURN NULL;
END
$$;
CREATE TRIGGER audit_sessions AFTER INSERT OR UPDATE ON justauth.sessions
	FOR EACH ROW EXECUTE FUNCTION jt.audit_row();
CREATE TRIGGER audit_numbers AFTER INSERT OR UPDATE ON justauth.numbers
	FOR EACH ROW EXECUTE FUNCTION jt.audit_row();
CREATE TRIGGER audit_ledger AFTER INSERT ON justauth.ledger
	FOR EACH ROW EXECUTE FUNCTION jt.audit_row();
CREATE TRIGGER audit_shards AFTER UPDATE ON justauth.wallet_shards
	FOR EACH ROW EXECUTE FUNCTION jt.audit_row();
SELECT justauth_send_otp(:'cid', :'key', '919811100003') AS r3 \gset
SELECT jt.show(justauth_verify_otp(:'cid', '919811100003', jt.wrong(jt.code(:'r3')))) AS audited_wrong;
SELECT jt.show(justauth_verify_otp(:'cid', '919811100003', jt.code(:'r3'))) AS audited_right;
SELECT tab, op, count(*) FROM jt.audit GROUP BY tab, op ORDER BY tab, op;
DROP TRIGGER audit_sessions ON justauth.sessions;
DROP TRIGGER audit_numbers ON justauth.numbers;
DROP TRIGGER audit_ledger ON justauth.ledger;
DROP TRIGGER audit_shards ON justauth.wallet_shards;
TRUNCATE jt.audit;
-- Without the triggers the direct path is back; the audit table stays empty.
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919811100004')) AS direct_again;
SELECT count(*) AS audited FROM jt.audit;

-- A CHECK added by a DBA is enforced, on the session insert and on the debit.
ALTER TABLE justauth.sessions ADD CONSTRAINT dba_short_ttl CHECK (expires_at - created_at < interval '1 minute') NOT VALID;
SELECT justauth_send_otp(:'cid', :'key', '919811100005');
ALTER TABLE justauth.sessions DROP CONSTRAINT dba_short_ttl;
SELECT jt.wallet(:'cid');
ALTER TABLE justauth.wallet_shards ADD CONSTRAINT dba_keep_one CHECK (balance >= 1000000) NOT VALID;
SELECT justauth_send_otp(:'cid', :'key', '919811100006');
ALTER TABLE justauth.wallet_shards DROP CONSTRAINT dba_keep_one;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919811100006')) AS after_drop;
SELECT jt.wallet(:'cid');

-- The extension dropped and created again in this session: the cached
-- layouts of the old tables are forgotten, the new tables are used.
DROP EXTENSION justauth CASCADE;
CREATE EXTENSION justauth;
SELECT * FROM jt.client('direct-again', 'sandbox', 5) \gset
SELECT justauth_send_otp(:'cid', :'key', '919811100007') AS r7 \gset
SELECT jt.show(:'r7') AS send_after_recreate;
SELECT jt.show(justauth_verify_otp(:'cid', '919811100007', jt.code(:'r7'))) AS verify_after_recreate;
SELECT jt.wallet(:'cid');
-- An index added by a DBA gets its entries from direct writes too.
CREATE INDEX dba_sessions_expiry ON justauth.sessions (expires_at);
SELECT justauth_send_otp(:'cid', :'key', '919811100008') AS r8 \gset
SET enable_seqscan = off;
SET enable_bitmapscan = off;
CREATE TEMP TABLE r8 AS
SELECT expires_at FROM justauth.sessions WHERE session_id = ((:'r8')::jsonb->>'request_id')::uuid;
EXPLAIN (COSTS OFF) SELECT count(*) FROM justauth.sessions s WHERE s.expires_at = (SELECT expires_at FROM r8);
SELECT count(*) AS via_dba_index FROM justauth.sessions s WHERE s.expires_at = (SELECT expires_at FROM r8);
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX justauth.dba_sessions_expiry;

-- Session ids are version 7 UUIDs: the send time in milliseconds, then
-- random bits, so ids of later sends sort after earlier ones.
SELECT justauth_send_otp(:'cid', :'key', '919811100009') AS r9 \gset
SELECT substr(:'r9'::jsonb->>'request_id', 15, 1) AS uuid_version,
	   abs(('x' || substr(replace(:'r9'::jsonb->>'request_id', '-', ''), 1, 12))::bit(48)::bigint
		   - (extract(epoch FROM clock_timestamp()) * 1000)::bigint) < 60000 AS time_prefix,
	   (:'r8'::jsonb->>'request_id')::uuid < (:'r9'::jsonb->>'request_id')::uuid AS later_sorts_after;

-- A number's first send writes its row as the send leaves it.  With a
-- trigger on sessions the rest goes through SQL, which must not count the
-- send twice.
CREATE TRIGGER audit_sessions AFTER INSERT OR UPDATE ON justauth.sessions
	FOR EACH ROW EXECUTE FUNCTION jt.audit_row();
SELECT justauth_send_otp(:'cid', :'key', '919811100010') AS r10 \gset
DROP TRIGGER audit_sessions ON justauth.sessions;
SELECT justauth_send_otp(:'cid', :'key', '919811100011') AS r11 \gset
SELECT n.number, n.sends, cardinality(n.recent_sends) AS recent,
	   n.current_session_id = ((CASE n.number WHEN '919811100010' THEN :'r10' ELSE :'r11' END)::jsonb->>'request_id')::uuid AS current,
	   n.first_sent_at = n.last_sent_at AND n.last_sent_at = n.recent_sends[1] AS times
  FROM justauth.numbers n WHERE n.client_id = :'cid' AND n.number IN ('919811100010', '919811100011')
 ORDER BY n.number;

-- A first send refused after the number's row was written (the wallet is
-- empty) takes the row back: the refusal leaves nothing behind.
SELECT * FROM jt.client('direct-poor', 'sandbox', 1) \gset
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919811100012')) AS last_credit;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919811100013')) AS no_credit;
SELECT number, sends FROM justauth.numbers WHERE client_id = :'cid' ORDER BY number;
SELECT jt.wallet(:'cid');

-- A send reads its wallet's sub-balances through the primary key's entries
-- and marks those whose row versions are dead to everyone, as a plain index
-- scan would; otherwise every send visits them again until vacuum.  Here 300
-- sends in one transaction debit the same sub-balance until its heap page
-- is full, so later versions move to other pages and the first entries
-- point at versions that are dead once that transaction has committed.
-- (Nothing else may scan wallet_shards by index before the check: a plain
-- scan would mark the entries itself, and a vacuum would remove them.)
ALTER TABLE justauth.wallet_shards SET (autovacuum_enabled = false);
CREATE EXTENSION pageinspect;
CREATE FUNCTION jt.shard_entries(cid text, OUT entries bigint, OUT marked bigint) LANGUAGE sql AS $$
SELECT count(*), count(*) FILTER (WHERE i.dead)
  FROM generate_series(1, (pg_relation_size('justauth.wallet_shards_pkey') / 8192 - 1)::int) p,
	   bt_page_items('justauth.wallet_shards_pkey', p) i
 WHERE i.htid IS NOT NULL
   AND position(convert_to(cid, 'UTF8') IN decode(replace(i.data, ' ', ''), 'hex')) > 0
$$;
SELECT * FROM jt.client('direct-busy', 'sandbox', 1000) \gset
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
SELECT count(*) FILTER (WHERE (justauth_send_otp(:'cid', :'key', '9198200' || lpad(i::text, 5, '0')))->>'success' = 'true') AS sent
  FROM generate_series(1, 300) i;
SELECT entries > 4 AS stale_entries, marked AS marked_before FROM jt.shard_entries(:'cid');
-- The next sends mark them (retried a while, in case another session's
-- snapshot still sees those versions).
SELECT set_config('jt.cid', :'cid', false), set_config('jt.key', :'key', false) \gset
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		PERFORM justauth_send_otp(current_setting('jt.cid'), current_setting('jt.key'), '9198300' || lpad(i::text, 5, '0'));
		COMMIT;
		EXIT WHEN (SELECT marked FROM jt.shard_entries(current_setting('jt.cid'))) > 0;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;
SELECT marked > 0 AS marked_after, marked = entries - 4 AS all_stale_marked FROM jt.shard_entries(:'cid');
SELECT jt.wallet(:'cid');
ALTER TABLE justauth.wallet_shards RESET (autovacuum_enabled);
