/*-------------------------------------------------------------------------
 *
 * wallet.c
 *		Prepaid wallets: deposits, the per-send debit and refunds.
 *
 * A wallet is split into sub-balances (rows of justauth.wallet_shards).  A
 * send debits one sub-balance it can lock without waiting (FOR UPDATE SKIP
 * LOCKED), so concurrent sends of one busy client spread over several rows
 * instead of queueing on one; only when every funded sub-balance is busy
 * does it wait.  A wallet starts with JA_WALLET_SHARDS sub-balances, so that
 * the many quiet clients read few rows per send; a send that had to wait
 * moves half of its sub-balance to an empty or new one (up to
 * JA_WALLET_MAX_SHARDS), so a busy client's wallet grows to about as many
 * sub-balances as it has concurrent sends.  A deposit locks the whole wallet
 * and levels the sub-balances.  Each sub-balance has CHECK (balance >= 0),
 * and every credit that enters or leaves the wallet comes with exactly one
 * ledger row in the same transaction (moves between sub-balances are not
 * entries), so balance = sum(ledger) always.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "justauth.h"

PG_FUNCTION_INFO_V1(justauth_deposit);
PG_FUNCTION_INFO_V1(justauth_refund_session);

#define MAX_DEPOSIT INT64CONST(1000000000000)	/* 10^12 credits */

static SPIPlanPtr debit_nowait_plan = NULL;
static SPIPlanPtr debit_wait_plan = NULL;
static SPIPlanPtr lock_wallet_plan = NULL;
static SPIPlanPtr find_deposit_plan = NULL;
static SPIPlanPtr set_shard_plan = NULL;
static SPIPlanPtr record_deposit_plan = NULL;
static SPIPlanPtr find_debit_plan = NULL;
static SPIPlanPtr record_refund_plan = NULL;
static SPIPlanPtr credit_shard_plan = NULL;
static SPIPlanPtr fail_session_plan = NULL;
static SPIPlanPtr session_status_plan = NULL;
static SPIPlanPtr refund_shard_nowait_plan = NULL;
static SPIPlanPtr refund_shard_wait_plan = NULL;
static SPIPlanPtr empty_shard_plan = NULL;
static SPIPlanPtr new_shard_plan = NULL;
static SPIPlanPtr move_half_plan = NULL;

/*
 * The debit as one statement; LOCK is FOR UPDATE, with or without SKIP
 * LOCKED.  Sessions try the sub-balances in the order of shard XOR start
 * (start = pid % JA_WALLET_MAX_SHARDS): a different order per session for a
 * wallet of any size.
 */
#define DEBIT_SQL(LOCK) \
	"UPDATE justauth.wallet_shards w SET balance = w.balance - 1" \
	"  FROM (SELECT shard FROM justauth.wallet_shards" \
	"         WHERE client_id = $1 AND balance > 0" \
	"         ORDER BY shard # $2" \
	"         LIMIT 1 " LOCK ") pick" \
	" WHERE w.client_id = $1 AND w.shard = pick.shard" \
	" RETURNING w.shard"

static const char *const shard_columns[] = {"shard", "balance"};
static JaTable shards_table = {"wallet_shards", lengthof(shard_columns), shard_columns};

/* A sub-balance as the debit's snapshot sees it. */
typedef struct ShardSeen
{
	ItemPointerData tid;
	int			order;			/* shard ^ start: this session's order */
	int16		shard;
	int64		balance;
} ShardSeen;

/*
 * kill_dead_entries walks the client's index entries again and marks those
 * pointing at dead[] (row versions dead to every transaction, as the heap
 * fetch found) so that later scans skip them: what index_getnext_slot does
 * through kill_prior_tuple, which read_wallet cannot do during its own walk
 * because it reads the rows only after it.  Unmarked, the entries a busy
 * wallet's non-HOT updates leave behind were visited by every send until
 * vacuum (once 100 entries on 91 heap pages for 34 sub-balances).
 */
static void
kill_dead_entries(Relation rel, Relation index, ScanKey key, Snapshot snapshot,
				  const ItemPointerData *dead, int ndead)
{
	IndexScanDesc scan;
	ItemPointer tid;
	int			i;

	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, key, 1, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		/* taken by the next index_getnext_tid, or by index_endscan */
		for (i = 0; i < ndead; i++)
			if (ItemPointerEquals(tid, (ItemPointer) &dead[i]))
				scan->kill_prior_tuple = !scan->xactStartedInRecovery;
	}
	index_endscan(scan);
}

/*
 * read_wallet reads the client's sub-balances as snapshot sees them and
 * returns how many are funded, in this session's order (shard ^ start), in
 * seen (room for JA_WALLET_MAX_SHARDS); *total receives their sum.  A busy
 * wallet has dozens of sub-balances, several to a heap page, and reading
 * them in the index's shard order changed page at almost every row.  So
 * the index is walked for row addresses first, and the rows are read in
 * page order, each page pinned once.  (Under long contention the rows
 * spread out: an update that cannot stay on its page moves the row to an
 * almost empty one, fillfactor 10, and then there is a page per row.)
 * Both sorts are insertion sorts: the lists hold a few dozen entries.
 * Entries whose row versions are dead to everyone are then marked in the
 * index (kill_dead_entries), as a plain index scan marks them.
 */
static int
read_wallet(Relation rel, Relation index, const char *client_id, int start,
			Snapshot snapshot, TupleTableSlot *slot, ShardSeen *seen, int64 *total)
{
	AttrNumber	shard_att = shards_table.att[0];
	AttrNumber	balance_att = shards_table.att[1];
	ScanKeyData key;
	IndexScanDesc scan;
	IndexFetchTableData *fetch;
	ItemPointer tid;
	ItemPointerData *tids;
	int			ntids = 0;
	int			maxtids = JA_WALLET_MAX_SHARDS;
	int			ndead = 0;
	int			nseen = 0;
	int			i;
	int			j;

	*total = 0;
	tids = palloc(maxtids * sizeof(ItemPointerData));
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   shards_table.key_collation[0], shards_table.key_proc[0],
						   CStringGetTextDatum(client_id));
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		/* entries of dead row versions too, until vacuum removes them */
		if (ntids == maxtids)
		{
			maxtids *= 2;
			tids = repalloc(tids, maxtids * sizeof(ItemPointerData));
		}
		for (j = ntids++; j > 0 && ItemPointerCompare(&tids[j - 1], tid) > 0; j--)
			tids[j] = tids[j - 1];
		tids[j] = *tid;
	}
	index_endscan(scan);

	fetch = table_index_fetch_begin(rel);
	for (i = 0; i < ntids; i++)
	{
		ItemPointerData t = tids[i];
		bool		call_again = false;
		bool		all_dead = false;
		bool		isnull;
		int16		shard;
		int64		balance;
		ShardSeen	row;

		/* an MVCC snapshot sees at most one version of a row: no call_again */
		if (!table_index_fetch_tuple(fetch, &t, snapshot, slot, &call_again, &all_dead))
		{
			if (all_dead)
				tids[ndead++] = t;	/* ndead <= i: tids[i] was read */
			continue;
		}
		shard = DatumGetInt16(slot_getattr(slot, shard_att, &isnull));
		balance = DatumGetInt64(slot_getattr(slot, balance_att, &isnull));
		if (balance <= 0)
			continue;
		*total += balance;
		if (nseen >= JA_WALLET_MAX_SHARDS)
			elog(ERROR, "client \"%s\" has more than %d wallet shards", client_id, JA_WALLET_MAX_SHARDS);
		row.tid = slot->tts_tid;
		row.order = shard ^ start;
		row.shard = shard;
		row.balance = balance;
		for (j = nseen++; j > 0 && seen[j - 1].order > row.order; j--)
			seen[j] = seen[j - 1];
		seen[j] = row;
	}
	table_index_fetch_end(fetch);
	ExecClearTuple(slot);
	if (ndead > 0)
		kill_dead_entries(rel, index, &key, snapshot, tids, ndead);
	pfree(tids);
	return nseen;
}

/*
 * debit_nowait takes one credit from a funded sub-balance it can lock
 * without waiting and returns that sub-balance; -1 when every funded one
 * is locked by a concurrent send (or none is funded), -2 when the table
 * cannot be updated directly (see ja_update_row); *nfunded receives how
 * many funded sub-balances it saw.  It does directly (see direct.c) what
 * DEBIT_SQL("FOR UPDATE SKIP LOCKED") does, at a fraction of its start-up
 * cost.  A sub-balance nobody holds (ja_row_claim) is updated in the
 * version the snapshot saw, without a lock of its own, as verify does; one
 * a running transaction holds is skipped; one that was changed since is
 * locked with SKIP LOCKED (heap_update itself cannot skip a held row), read
 * again in its newest version, and skipped if its balance dropped to zero
 * meanwhile, as FOR UPDATE's recheck would.
 */
static int
debit_nowait(const char *client_id, int start, int64 *balance_after, int *nfunded)
{
	Relation	rel = ja_table_open(&shards_table, RowExclusiveLock);
	Relation	index = index_open(shards_table.pkey, RowExclusiveLock);
	AttrNumber	balance_att = shards_table.att[1];
	Snapshot	snapshot = ja_push_statement_snapshot();
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	ShardSeen	seen[JA_WALLET_MAX_SHARDS];
	int			nseen;
	int64		total;
	int			result = -1;
	int			k;

	nseen = read_wallet(rel, index, client_id, start, snapshot, slot, seen, &total);
	*nfunded = nseen;
	for (k = 0; k < nseen && result == -1; k++)
	{
		bool		isnull;
		int64		balance;
		Datum		newbalance;
		JaClaim		claim;
		static const int cols[1] = {1};

		claim = ja_row_claim(rel, &seen[k].tid);
		if (claim == JA_ROW_HELD)
			continue;			/* what SKIP LOCKED would conclude */
		/* the usual case: nobody holds it, update it without locking first */
		if (claim == JA_ROW_FREE)
		{
			newbalance = Int64GetDatum(seen[k].balance - 1);
			switch (ja_update_row_version(&shards_table, &seen[k].tid, 1, cols, &newbalance, NULL))
			{
				case JA_UPDATED:
					result = seen[k].shard;
					*balance_after = total - 1;
					continue;
				case JA_NOT_DIRECT:
					result = -2;
					continue;
				case JA_CHANGED:
					break;		/* claimed since: lock its newest version */
			}
		}
		ExecClearTuple(slot);
		slot->tts_tid = seen[k].tid;
		if (!ja_lock_row(rel, slot, snapshot, LockWaitSkip))
			continue;
		balance = DatumGetInt64(slot_getattr(slot, balance_att, &isnull));
		if (balance <= 0)
			continue;			/* emptied while we looked */
		newbalance = Int64GetDatum(balance - 1);
		if (ja_update_row(&shards_table, &slot->tts_tid, 1, cols, &newbalance, NULL))
		{
			result = seen[k].shard;
			/* the others as this snapshot saw them, ours as it is now */
			*balance_after = total - seen[k].balance + balance - 1;
		}
		else
			result = -2;
	}
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return result;
}

/*
 * grow_wallet runs after a send had to wait for a sub-balance: it moves half
 * of the credits left on the one it holds (shard) to an empty sub-balance
 * nobody holds, or to a new one while the wallet has fewer than
 * JA_WALLET_MAX_SHARDS.  The next concurrent send then finds one more it can
 * take without waiting.  Balances only move between sub-balances, so the
 * wallet total and the ledger are unchanged.  It never waits for a row a
 * concurrent send holds, except behind another send creating the same new
 * sub-balance (ON CONFLICT), which commits without waiting for us.
 */
static void
grow_wallet(Datum client_id, int shard)
{
	Oid			argtypes[3] = {TEXTOID, INT2OID, INT2OID};
	Datum		values[3] = {client_id, Int16GetDatum(shard), 0};
	bool		isnull;

	ja_keep_plan(&empty_shard_plan,
				 "SELECT shard FROM justauth.wallet_shards"
				 " WHERE client_id = $1 AND balance = 0 AND shard <> $2"
				 " ORDER BY shard LIMIT 1 FOR UPDATE SKIP LOCKED",
				 2, argtypes);
	if (ja_exec(empty_shard_plan, values, NULL, 1) == 0)
	{
		/* a random free number, so that concurrent growers rarely collide */
		ja_keep_plan(&new_shard_plan,
					 "INSERT INTO justauth.wallet_shards (client_id, shard)"
					 "     SELECT $1, s FROM generate_series(0, " CppAsString2(JA_WALLET_MAX_SHARDS) " - 1) s"
					 "      WHERE NOT EXISTS (SELECT FROM justauth.wallet_shards w"
					 "                         WHERE w.client_id = $1 AND w.shard = s)"
					 "      ORDER BY random() LIMIT 1"
					 " ON CONFLICT DO NOTHING RETURNING shard",
					 1, argtypes);
		if (ja_exec(new_shard_plan, values, NULL, 0) == 0)
			return;				/* at the maximum, or lost a race: fine */
	}
	values[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	ja_keep_plan(&move_half_plan,
				 "UPDATE justauth.wallet_shards w"
				 "   SET balance = w.balance + CASE WHEN w.shard = $2 THEN -m.half ELSE m.half END"
				 "  FROM (SELECT balance / 2 AS half FROM justauth.wallet_shards"
				 "         WHERE client_id = $1 AND shard = $2) m"
				 " WHERE w.client_id = $1 AND w.shard IN ($2, $3) AND m.half > 0",
				 3, argtypes);
	ja_exec(move_half_plan, values, NULL, 0);
}

/*
 * ja_wallet_debit takes one credit from the client's wallet and returns the
 * sub-balance it came from, or -1 when the wallet is empty.  Sessions try
 * the sub-balances in different orders (by pid) so they rarely collide.
 * *balance_after receives the wallet balance after the debit as the
 * debit's snapshot saw the other sub-balances, or -1 when the debit came
 * through SQL and the caller must read it.
 */
int
ja_wallet_debit(const char *client_id, int64 *balance_after)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	int			start = MyProcPid % JA_WALLET_MAX_SHARDS;
	int			nfunded = 0;
	int			shard;

	values[0] = CStringGetTextDatum(client_id);
	values[1] = Int32GetDatum(start);
	*balance_after = -1;
	shard = debit_nowait(client_id, start, balance_after, &nfunded);
	if (shard >= 0)
		return shard;
	if (shard == -2)
	{
		ja_keep_plan(&debit_nowait_plan, DEBIT_SQL("FOR UPDATE SKIP LOCKED"), 2, argtypes);
		if (ja_exec(debit_nowait_plan, values, NULL, 0) == 1)
			return DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	/*
	 * Every funded sub-balance is locked by a concurrent send (or there is
	 * none).  Wait for one; under READ COMMITTED a row whose balance dropped
	 * to zero meanwhile is rechecked and skipped.  Waiters start at their
	 * own sub-balance too, so that when there are more concurrent sends than
	 * sub-balances they queue on all of them instead of all on the first.
	 * Having waited, make room for the next one.
	 */
	ja_keep_plan(&debit_wait_plan, DEBIT_SQL("FOR UPDATE"), 2, argtypes);
	if (ja_exec(debit_wait_plan, values, NULL, 0) != 1)
		return -1;
	shard = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* growing is optional: never risk a serialization failure for it */
	if (nfunded > 0 && !IsolationUsesXactSnapshot())
		grow_wallet(values[0], shard);
	return shard;
}

/*
 * level_shards spreads credits over the sub-balances so that the lowest
 * ones are raised first ("water filling"); new[] receives the results.
 */
static void
level_shards(const int64 *old, int n, int64 credits, int64 *new)
{
	int			order[JA_WALLET_MAX_SHARDS];
	int			i,
				j,
				k;
	int64		level;
	int64		share;
	int64		extra;

	if (n <= 0)
		return;
	for (i = 0; i < n; i++)
		order[i] = i;
	/* insertion sort by balance: n is small */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && old[order[j]] < old[order[j - 1]]; j--)
		{
			int			t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}

	level = old[order[0]];
	k = 1;
	while (k < n && credits >= (old[order[k]] - level) * k)
	{
		credits -= (old[order[k]] - level) * k;
		level = old[order[k]];
		k++;
	}
	share = credits / k;
	extra = credits % k;
	for (i = 0; i < n; i++)
		new[order[i]] = old[order[i]];
	for (i = 0; i < k; i++)
		new[order[i]] = level + share + (i < extra ? 1 : 0);
}

/*
 * justauth_deposit(client_id, credits, reference) credits the wallet and
 * returns the new balance.  A reference already used for the same amount
 * returns the balance without crediting; for another amount it is an error.
 */
Datum
justauth_deposit(PG_FUNCTION_ARGS)
{
	char	   *client_id;
	int64		credits;
	char	   *reference;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, INT8OID, INT8OID};
	Datum		values[4];
	int64		old[JA_WALLET_MAX_SHARDS] = {0};
	int64		new[JA_WALLET_MAX_SHARDS] = {0};
	int16		shard[JA_WALLET_MAX_SHARDS];
	int64		balance = 0;
	int			nshards;
	int			i;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client_id, credits and reference must not be NULL"),
				 errhint("Pass the payment's reference so that a retried deposit is not credited twice.")));
	client_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	credits = PG_GETARG_INT64(1);
	reference = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (credits <= 0 || credits > MAX_DEPOSIT)
		ereport(ERROR,
				(errcode(ERRCODE_JA_INVALID_AMOUNT),
				 errmsg("deposit of " INT64_FORMAT " credits is out of range", credits),
				 errhint("Deposit between 1 and " INT64_FORMAT " credits.", MAX_DEPOSIT)));
	if (strlen(reference) == 0 || pg_mbstrlen(reference) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_JA_INVALID_REFERENCE),
				 errmsg("invalid deposit reference"),
				 errhint("Use the payment's id: 1 to 200 characters, unique per client.")));

	SPI_connect();
	values[0] = CStringGetTextDatum(client_id);
	values[1] = CStringGetTextDatum(reference);

	/*
	 * Lock the whole wallet: deposits serialize with each other and sends.
	 * A send we waited for may have added a sub-balance our snapshot does
	 * not see (grow_wallet); lock again until no new one shows up, so that
	 * the balance we report counts every credit.
	 */
	ja_keep_plan(&lock_wallet_plan,
				 "SELECT shard, balance FROM justauth.wallet_shards"
				 " WHERE client_id = $1 ORDER BY shard FOR UPDATE",
				 1, argtypes);
	nshards = -1;
	for (;;)
	{
		int			n = (int) ja_exec(lock_wallet_plan, values, NULL, 0);

		if (n == nshards)
			break;
		nshards = n;
	}
	if (nshards == 0)
		ereport(ERROR,
				(errcode(ERRCODE_JA_UNKNOWN_CLIENT),
				 errmsg("client \"%s\" does not exist", client_id),
				 errhint("Create it with justauth_create_client().")));
	if (nshards > JA_WALLET_MAX_SHARDS)
		elog(ERROR, "client \"%s\" has %d wallet shards", client_id, nshards);
	for (i = 0; i < nshards; i++)
	{
		shard[i] = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		old[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		balance += old[i];
	}

	ja_keep_plan(&find_deposit_plan,
				 "SELECT amount FROM justauth.ledger"
				 " WHERE client_id = $1 AND kind = 'deposit' AND reference = $2",
				 2, argtypes);
	if (ja_exec(find_deposit_plan, values, NULL, 1) == 1)
	{
		int64		amount = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));

		if (amount != credits)
			ereport(ERROR,
					(errcode(ERRCODE_JA_REFERENCE_REUSED),
					 errmsg("deposit reference \"%s\" was already used for " INT64_FORMAT " credits",
							reference, amount),
					 errhint("Use a new reference for a new payment.")));
		SPI_finish();
		PG_RETURN_INT64(balance);
	}

	level_shards(old, nshards, credits, new);
	{
		Oid			shardtypes[3] = {TEXTOID, INT2OID, INT8OID};
		Datum		shardvals[3];

		ja_keep_plan(&set_shard_plan,
					 "UPDATE justauth.wallet_shards SET balance = $3"
					 " WHERE client_id = $1 AND shard = $2",
					 3, shardtypes);
		shardvals[0] = values[0];
		for (i = 0; i < nshards; i++)
		{
			if (new[i] == old[i])
				continue;
			shardvals[1] = Int16GetDatum(shard[i]);
			shardvals[2] = Int64GetDatum(new[i]);
			ja_exec(set_shard_plan, shardvals, NULL, 0);
		}
	}
	balance += credits;

	ja_keep_plan(&record_deposit_plan,
				 "WITH l AS (INSERT INTO justauth.ledger (client_id, kind, amount, balance_after, reference)"
				 "           VALUES ($1, 'deposit', $3, $4, $2))"
				 "UPDATE justauth.clients SET funded_at = now()"
				 " WHERE client_id = $1 AND funded_at IS NULL",
				 4, argtypes);
	values[2] = Int64GetDatum(credits);
	values[3] = Int64GetDatum(balance);
	ja_exec(record_deposit_plan, values, NULL, 0);
	SPI_finish();
	PG_RETURN_INT64(balance);
}

/*
 * ja_refund gives back the credit a session was charged, at most once
 * (a unique index on refund rows guards against races), and marks the
 * session failed so its code can no longer be verified.  A session whose
 * code was verified is never refunded.  Returns whether a credit was given back now.
 */
static bool
ja_refund(Datum session_id, const char *reason)
{
	Oid			argtypes[4] = {TEXTOID, INT2OID, UUIDOID, TEXTOID};
	Oid			uuidtype[1] = {UUIDOID};
	Datum		values[4];
	bool		isnull;
	bool		refunded = false;

	/*
	 * Lock the session first (sends lock it before the wallet, too).  A code
	 * the user already entered was evidently delivered: a late "failed"
	 * report must not give its credit back.
	 */
	ja_keep_plan(&session_status_plan,
				 "SELECT status FROM justauth.sessions WHERE session_id = $1 FOR UPDATE",
				 1, uuidtype);
	if (ja_exec(session_status_plan, &session_id, NULL, 1) == 1)
	{
		char	   *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (strcmp(status, "approved") == 0)
			return false;
	}

	ja_keep_plan(&find_debit_plan,
				 "SELECT client_id, shard FROM justauth.ledger"
				 " WHERE session_id = $1 AND kind = 'debit'",
				 1, uuidtype);
	if (ja_exec(find_debit_plan, &session_id, NULL, 1) == 0)
		goto fail_session;		/* never charged: test number or unknown */
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	values[0] = PointerGetDatum(PG_DETOAST_DATUM_COPY(values[0]));
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	values[2] = session_id;
	values[3] = CStringGetTextDatum(reason);

	/*
	 * Any sub-balance can take the credit back: prefer the one debited, but
	 * take whichever is free rather than wait behind a send holding it.
	 */
	ja_keep_plan(&refund_shard_nowait_plan,
				 "SELECT shard FROM justauth.wallet_shards WHERE client_id = $1"
				 " ORDER BY shard <> $2, shard LIMIT 1 FOR UPDATE SKIP LOCKED",
				 2, argtypes);
	if (ja_exec(refund_shard_nowait_plan, values, NULL, 0) == 1)
		values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	else
	{
		ja_keep_plan(&refund_shard_wait_plan,
					 "SELECT shard FROM justauth.wallet_shards WHERE client_id = $1 AND shard = $2 FOR UPDATE",
					 2, argtypes);
		ja_exec(refund_shard_wait_plan, values, NULL, 0);
	}

	ja_keep_plan(&record_refund_plan,
				 "INSERT INTO justauth.ledger (client_id, kind, amount, balance_after, shard, session_id, reason)"
				 "     VALUES ($1, 'refund', 1,"
				 "             (SELECT sum(balance) + 1 FROM justauth.wallet_shards WHERE client_id = $1),"
				 "             $2, $3, $4)"
				 " ON CONFLICT (session_id) WHERE kind = 'refund' DO NOTHING"
				 " RETURNING entry_id",
				 4, argtypes);
	if (ja_exec(record_refund_plan, values, NULL, 0) == 1)
	{
		ja_keep_plan(&credit_shard_plan,
					 "UPDATE justauth.wallet_shards SET balance = balance + 1"
					 " WHERE client_id = $1 AND shard = $2",
					 2, argtypes);
		ja_exec(credit_shard_plan, values, NULL, 0);
		refunded = true;
	}

fail_session:
	ja_keep_plan(&fail_session_plan,
				 "UPDATE justauth.sessions SET status = 'failed'"
				 " WHERE session_id = $1 AND status = 'pending'",
				 1, uuidtype);
	ja_exec(fail_session_plan, &session_id, NULL, 0);
	return refunded;
}

/*
 * justauth_refund_session(session_id, reason) is the refund path of the
 * delivery worker and the webhook: a message that failed permanently or
 * expired before delivery gives its credit back, once.
 */
Datum
justauth_refund_session(PG_FUNCTION_ARGS)
{
	Datum		session_id = PG_GETARG_DATUM(0);
	char	   *reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		refunded;

	if (strlen(reason) == 0 || strlen(reason) > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid refund reason"),
				 errhint("Say why in 1 to 100 characters, e.g. 'failed' or 'expired'.")));
	SPI_connect();
	refunded = ja_refund(session_id, reason);
	SPI_finish();
	PG_RETURN_BOOL(refunded);
}
