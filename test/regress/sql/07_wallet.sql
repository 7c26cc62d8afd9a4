--
-- 07_wallet: deposits (idempotent per reference), argument errors, the
-- ledger (append-only, balance_after, balance = sum), refunds.
--
\set VERBOSITY sqlstate

SELECT * FROM jt.client('wallet', 'sandbox', 0) \gset

-- The new balance comes back; a repeated reference credits nothing more.
SELECT justauth_deposit(:'cid', 100, 'pay-1') AS balance;
SELECT justauth_deposit(:'cid', 100, 'pay-1') AS same_reference;
SELECT justauth_deposit(:'cid', 50, 'pay-2') AS balance;
SELECT justauth_deposit(:'cid', 100, 'pay-1') AS old_reference_again;
-- The same reference with another amount is an error, not a credit.
SELECT justauth_deposit(:'cid', 101, 'pay-1');
SELECT justauth_balance(:'cid');
-- References are per client.
SELECT * FROM jt.client('wallet-other', 'sandbox', 0) \gset other_
SELECT justauth_deposit(:'other_cid', 7, 'pay-1') AS other_client_same_reference;

-- Bad amounts, references and clients.
SELECT justauth_deposit(:'cid', 0, 'pay-3');
SELECT justauth_deposit(:'cid', -5, 'pay-4');
SELECT justauth_deposit(:'cid', -9223372036854775808, 'pay-5');
SELECT justauth_deposit(:'cid', 1, '');
SELECT justauth_deposit(:'cid', 1, repeat('r', 257));
SELECT justauth_deposit(:'cid', 1, repeat('r', 100)) AS long_reference;
SELECT justauth_deposit('cl_doesnotexist000000000', 1, 'pay-6');
SELECT justauth_deposit('', 1, 'pay-6');
SELECT justauth_deposit(NULL, 1, 'pay-7');
SELECT justauth_deposit(:'cid', NULL, 'pay-7');
SELECT justauth_deposit(:'cid', 1, NULL);
-- A reference is data, not SQL.
SELECT justauth_deposit(:'cid', 1, 'x''); DELETE FROM justauth.ledger; --') AS balance;
SELECT justauth_balance(:'cid');
-- A balance that would overflow bigint is refused, nothing credited.
SELECT justauth_deposit(:'cid', 9223372036854775807, 'pay-huge');
SELECT justauth_balance(:'cid');
SELECT justauth.justauth_balance('cl_doesnotexist000000000') IS NULL AS unknown_balance_null;
SELECT * FROM jt.client('wallet-unfunded', 'sandbox', 0) \gset unf_
SELECT justauth_balance(:'unf_cid') AS unfunded_balance;

-- The ledger: one row per deposit, balance_after, nothing for refused ones.
SELECT kind, amount, balance_after, reference, shard IS NULL AS no_shard, session_id IS NULL AS no_session
  FROM justauth.ledger WHERE client_id = :'cid' ORDER BY entry_id;
SELECT jt.wallet(:'cid');

-- Deposits spread over the wallet's shards; their sum is the balance.
SELECT count(*) > 1 AS several_shards, sum(balance) AS balance, min(balance) >= 0 AS none_negative
  FROM justauth.wallet_shards WHERE client_id = :'cid';

-- Sends debit one credit each; every ledger row matches the running balance.
UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = :'cid';
SELECT count(*) FILTER (WHERE (justauth_send_otp(:'cid', :'key', '9198' || lpad(i::text, 8, '0')))->>'success' = 'true') AS accepted
  FROM generate_series(1, 20) i;
SELECT jt.wallet(:'cid');
SELECT count(*) AS entries, bool_and(running_balance = balance_after) AS balance_after_exact
  FROM justauth.wallet_statement WHERE client_id = :'cid';
SELECT kind, amount, count(*) FROM justauth.ledger WHERE client_id = :'cid' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS debits_without_session
  FROM justauth.ledger l WHERE l.client_id = :'cid' AND l.kind = 'debit'
   AND NOT EXISTS (SELECT 1 FROM justauth.sessions s WHERE s.session_id = l.session_id);

-- A send in a transaction that already holds the wallet's sub-balances
-- (FOR UPDATE) takes one of them as its own: it does not count them as held
-- by a concurrent send, so nothing is added or moved.
CREATE TEMP TABLE shards_before AS SELECT shard, balance FROM justauth.wallet_shards WHERE client_id = :'cid';
BEGIN;
SELECT count(*) > 1 AS locked_several FROM (SELECT FROM justauth.wallet_shards WHERE client_id = :'cid' FOR UPDATE) x;
SELECT (justauth_send_otp(:'cid', :'key', '919800000099'))->>'success' AS own_locks_send;
SELECT (SELECT count(*) FROM justauth.wallet_shards WHERE client_id = :'cid') = (SELECT count(*) FROM shards_before) AS same_shards,
       count(*) FILTER (WHERE w.balance = b.balance - 1) AS debited,
       count(*) FILTER (WHERE w.balance NOT IN (b.balance, b.balance - 1)) AS moved
  FROM justauth.wallet_shards w JOIN shards_before b USING (shard) WHERE w.client_id = :'cid';
COMMIT;
DROP TABLE shards_before;

-- Drain a small wallet exactly to zero: the last send is insufficient_balance.
SELECT * FROM jt.client('drain', 'sandbox', 5) \gset
SELECT i, (justauth_send_otp(:'cid', :'key', '9197' || lpad(i::text, 8, '0')))->>'error' AS error
  FROM generate_series(1, 7) i;
SELECT jt.wallet(:'cid');
SELECT sum(balance) AS balance, min(balance) AS min_shard FROM justauth.wallet_shards WHERE client_id = :'cid';
SELECT justauth_deposit(:'cid', 1, 'drain-2') AS refilled;
SELECT jt.show(justauth_send_otp(:'cid', :'key', '919700000099')) AS after_refill;
SELECT jt.wallet(:'cid');

-- Ledger is append-only, even for the superuser.
UPDATE justauth.ledger SET amount = 1000 WHERE client_id = :'cid';
DELETE FROM justauth.ledger WHERE client_id = :'cid';
TRUNCATE justauth.ledger;
SELECT jt.wallet(:'cid');
-- The table constraints hold too: no negative shard, no zero-amount entry.
UPDATE justauth.wallet_shards SET balance = -1 WHERE client_id = :'cid';
INSERT INTO justauth.ledger (client_id, kind, amount, balance_after, session_id)
	VALUES (:'cid', 'debit', 1, 0, gen_random_uuid());
