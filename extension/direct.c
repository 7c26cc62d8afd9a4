/*-------------------------------------------------------------------------
 *
 * direct.c
 *		Primary-key reads (and FOR UPDATE locks), updates and inserts of
 *		single rows without the executor.
 *
 * Every send and verify starts with a few lookups of one row by its
 * primary key: the client, the number's state, the current session.  As
 * SPI statements each of them paid for a whole executor start-up (opening
 * and locking the relation and its indexes, building the plan state and
 * its expressions, snapshots, tuple descriptors), several times the cost
 * of the index probe.  These functions do the probe themselves, the way
 * pg_cron reads its job table and logical replication finds rows to apply
 * to, with the same snapshot, lock and visibility rules a statement run
 * through SPI would have.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/dependency.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "justauth.h"

static bool callback_registered = false;
static void cache_indexes(JaTable *t, Relation rel);

static JaTable *tables[16];
static int	ntables = 0;

/*
 * relcache_callback forgets the layout of a table that was invalidated
 * (ALTER TABLE, DROP EXTENSION, ...), or of all of them.
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < ntables; i++)
		if (!OidIsValid(relid) || tables[i]->relid == relid)
			tables[i]->relid = InvalidOid;
}

/*
 * direct_insert_possible tells whether ja_insert_row can write a row of the
 * table without the executor: every column it does not fill is nullable
 * without a default, or the identity column; its CHECK constraints are
 * those the caller evaluates (t->checks); no trigger fires on INSERT but
 * the one whose work the caller does (t->trigger); no rules, row security,
 * partitions, deferred uniqueness or exclusion constraints.  Otherwise the
 * caller writes through SQL.
 */
static bool
direct_insert_possible(JaTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *indexes;
	ListCell   *lc;
	bool		ok = true;
	int			a;
	int			i;

	t->identity_att = InvalidAttrNumber;
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL ||
		rel->rd_rel->relrowsecurity)
		return false;
	for (a = 1; a <= desc->natts; a++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, a - 1);
		bool		filled = false;

		if (attr->attisdropped)
			continue;
		for (i = 0; i < t->ncols; i++)
			filled |= (t->att[i] == a);
		if (filled)
			continue;
		if (attr->attidentity && t->identity_att == InvalidAttrNumber)
		{
			t->identity_att = a;
			t->identity_seq = getIdentitySequence(RelationGetRelid(rel), a, false);
		}
		else if (attr->atthasdef || attr->attnotnull || attr->attgenerated)
			return false;
	}
	if (desc->constr != NULL)
		for (i = 0; i < desc->constr->num_check; i++)
		{
			bool		known = false;
			int			k;

			for (k = 0; t->checks != NULL && t->checks[k] != NULL; k++)
				known |= strcmp(t->checks[k], desc->constr->check[i].ccname) == 0;
			if (!known)
				return false;
		}
	if (rel->trigdesc != NULL)
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *trig = &rel->trigdesc->triggers[i];

			if (TRIGGER_FOR_INSERT(trig->tgtype) &&
				(t->trigger == NULL || strcmp(trig->tgname, t->trigger) != 0))
				return false;
		}
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		if (!index->rd_index->indimmediate || index->rd_index->indisexclusion)
			ok = false;
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return ok;
}

/*
 * ja_table_open opens justauth.<t->name>, finding its layout when it is not
 * known yet: the primary key, its equality operators and the attribute
 * numbers of the columns read.
 */
Relation
ja_table_open(JaTable *t, LOCKMODE lockmode)
{
	Relation	rel;
	Relation	index;
	Oid			relid = t->relid;
	int			i;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (!OidIsValid(relid))
		relid = get_relname_relid(t->name, get_namespace_oid("justauth", false));
	if (!OidIsValid(relid))
		elog(ERROR, "table justauth.%s is missing", t->name);
	rel = table_open(relid, lockmode);
	if (OidIsValid(t->relid))
		return rel;

	if (!t->registered)
	{
		if (ntables >= lengthof(tables))
			elog(ERROR, "too many direct tables");
		tables[ntables++] = t;
		t->registered = true;
	}
	if (t->ncols > JA_DIRECT_MAX_COLS)
		elog(ERROR, "too many columns for justauth.%s", t->name);
	for (i = 0; i < t->ncols; i++)
		if ((t->att[i] = attnameAttNum(rel, t->cols[i], false)) <= 0)
			elog(ERROR, "column justauth.%s.%s is missing", t->name, t->cols[i]);
	t->pkey = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(t->pkey))
		elog(ERROR, "table justauth.%s has no primary key", t->name);
	index = index_open(t->pkey, lockmode);
	t->nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	if (t->nkeys > JA_DIRECT_MAX_KEYS)
		elog(ERROR, "primary key of justauth.%s has too many columns", t->name);
	for (i = 0; i < t->nkeys; i++)
	{
		Oid			opfamily = index->rd_opfamily[i];
		Oid			type = index->rd_opcintype[i];
		Oid			eq = get_opfamily_member(opfamily, type, type, BTEqualStrategyNumber);

		if (!OidIsValid(eq))
			elog(ERROR, "no equality operator for the primary key of justauth.%s", t->name);
		t->key_proc[i] = get_opcode(eq);
		t->key_collation[i] = index->rd_indcollation[i];
	}
	index_close(index, lockmode);
	t->insert_ok = direct_insert_possible(t, rel);
	cache_indexes(t, rel);
	t->relid = relid;
	return rel;
}

/*
 * ja_push_statement_snapshot pushes the snapshot SPI_execute_plan gives a
 * non-read-only statement (fresh under READ COMMITTED, seeing this
 * transaction's earlier changes) and returns it; PopActiveSnapshot() ends
 * its use.
 */
Snapshot
ja_push_statement_snapshot(void)
{
	PushActiveSnapshot(GetTransactionSnapshot());
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
	return GetActiveSnapshot();
}

/*
 * ja_row_fetch finds the row of justauth.<t->name> whose primary key is
 * keys (one datum per key column, in index order) and copies the columns
 * t->cols into values/nulls, in the current memory context.  Returns false
 * when there is no such row.
 *
 * The row is read with the snapshot a statement run now by SPI would get
 * (fresh under READ COMMITTED, and seeing this transaction's earlier
 * changes).  tid, if not NULL, receives the row's location.  With lock it
 * is locked as by SELECT ... FOR UPDATE: a row a
 * concurrent transaction is changing is waited for, and under READ
 * COMMITTED its newest version is locked and returned (a deleted row is not
 * found); under REPEATABLE READ or SERIALIZABLE a concurrent change is a
 * serialization failure.
 *
 * A locked row is about to be written, so the table and its index are
 * opened with the writer's RowExclusiveLock rather than FOR UPDATE's
 * RowShareLock: the write then finds its lock already held instead of
 * taking a second one, and more of a send's relation locks fit in the
 * backend's 16 fast-path slots instead of the shared lock table.
 */
bool
ja_row_fetch(JaTable *t, const Datum *keys, bool lock, Datum *values, bool *nulls,
			 ItemPointer tid)
{
	LOCKMODE	lockmode = lock ? RowExclusiveLock : AccessShareLock;
	Relation	rel = ja_table_open(t, lockmode);
	Relation	index = index_open(t->pkey, lockmode);
	ScanKeyData skey[JA_DIRECT_MAX_KEYS];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	bool		found = false;
	int			i;

	for (i = 0; i < t->nkeys; i++)
		ScanKeyEntryInitialize(&skey[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
							   t->key_collation[i], t->key_proc[i], keys[i]);

	snapshot = ja_push_statement_snapshot();

	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, t->nkeys, 0);
	index_rescan(scan, skey, t->nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);

	if (found && lock)
		found = ja_lock_row(rel, slot, snapshot, LockWaitBlock);

	if (found)
	{
		slot_getallattrs(slot);
		for (i = 0; i < t->ncols; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(slot->tts_tupleDescriptor, t->att[i] - 1);

			nulls[i] = slot->tts_isnull[t->att[i] - 1];
			values[i] = nulls[i] ? (Datum) 0 :
				datumCopy(slot->tts_values[t->att[i] - 1], attr->attbyval, attr->attlen);
		}
		if (tid != NULL)
			*tid = slot->tts_tid;
	}
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * ja_lock_row locks the row version in slot FOR UPDATE, as ExecLockRows
 * does: under READ COMMITTED the newest version is locked and left in
 * slot; under REPEATABLE READ or SERIALIZABLE a concurrent change is a
 * serialization failure.  Returns false when the row is gone (deleted, or
 * changed by this very command) or, with LockWaitSkip, locked by another
 * transaction.
 */
bool
ja_lock_row(Relation rel, TupleTableSlot *slot, Snapshot snapshot, LockWaitPolicy wait)
{
	TM_FailureData tmfd;
	TM_Result	result;
	ItemPointerData tid = slot->tts_tid;

	result = table_tuple_lock(rel, &tid, snapshot, slot,
							  GetCurrentCommandId(true), LockTupleExclusive, wait,
							  IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			return true;
		case TM_WouldBlock:
		case TM_SelfModified:
			return false;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (result == TM_Deleted)
				return false;
			break;
		default:
			break;
	}
	elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	return false;					/* keep compiler quiet */
}

/*
 * ja_row_claim tells who holds the row version at tid right now: nobody,
 * and it is the newest (JA_ROW_FREE), so that updating it
 * (ja_update_row_version) will not wait: SKIP LOCKED's test without taking
 * the lock, and so without the lock's WAL record; another transaction still
 * running, which locked or changed it (JA_ROW_HELD), so that SKIP LOCKED
 * would skip it (the caller need not try the lock: under one busy client
 * most sub-balances a send looks at are held, and each failed try went
 * through the lock manager); or neither (JA_ROW_MOVED: changed by a
 * committed transaction, held by a multixact or by this transaction), for
 * ja_lock_row to sort out.  It is only a hint: a transaction that claims
 * the row after this look makes the update wait for it, as a plain UPDATE
 * would.
 */
JaClaim
ja_row_claim(Relation rel, ItemPointer tid)
{
	Buffer		buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
	Page		page;
	ItemId		lp;
	HeapTupleData tuple;
	JaClaim		claim = JA_ROW_MOVED;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	if (ItemPointerGetOffsetNumber(tid) <= PageGetMaxOffsetNumber(page) &&
		ItemIdIsNormal(lp = PageGetItemId(page, ItemPointerGetOffsetNumber(tid))))
	{
		tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tuple.t_len = ItemIdGetLength(lp);
		tuple.t_tableOid = RelationGetRelid(rel);
		tuple.t_self = *tid;
		switch (HeapTupleSatisfiesUpdate(&tuple, GetCurrentCommandId(false), buffer))
		{
			case TM_Ok:
				claim = JA_ROW_FREE;
				break;
			case TM_BeingModified:
				/* in progress, not ours: a plain xmax is a single transaction */
				if (!(tuple.t_data->t_infomask & HEAP_XMAX_IS_MULTI) &&
					!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(tuple.t_data)))
					claim = JA_ROW_HELD;
				break;
			default:
				break;
		}
	}
	UnlockReleaseBuffer(buffer);
	return claim;
}

/*
 * ja_can_update_directly: a direct update skips the executor, so it is only
 * used when the table has no CHECK constraints (the hot tables use domains)
 * and no triggers that an UPDATE of these columns would fire.  The foreign-key checks on the referencing side only act
 * when the key columns change, which the callers never do.
 */
bool
ja_can_update_directly(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	int			i;

	if (constr != NULL && constr->num_check > 0)
		return false;			/* a CHECK a DBA added: let SQL evaluate it */
	if (td == NULL)
		return true;
	for (i = 0; i < td->numtriggers; i++)
	{
		Trigger    *trig = &td->triggers[i];

		if (!TRIGGER_FOR_UPDATE(trig->tgtype))
			continue;
		if (!trig->tgisinternal || RI_FKey_trigger_type(trig->tgfoid) != RI_TRIGGER_FK)
			return false;
	}
	return true;
}

/*
 * cache_indexes keeps, per table, what making index entries needs: each
 * index's IndexInfo and its predicate ready to evaluate, instead of
 * building them for every row.  Only for plain btree indexes (the
 * extension's); with any other index (an expression index, another access
 * method) t->nindexes stays -1 and insert_index_entries builds them per row
 * as the executor does.  Rebuilt after any invalidation of the table.
 */
static void
cache_indexes(JaTable *t, Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	MemoryContext old;
	ListCell   *lc;
	int			n = 0;

	if (t->index_cxt != NULL)
		MemoryContextDelete(t->index_cxt);
	t->index_cxt = AllocSetContextCreate(CacheMemoryContext, "justauth direct indexes",
										 ALLOCSET_SMALL_SIZES);
	t->nindexes = -1;
	old = MemoryContextSwitchTo(t->index_cxt);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		IndexInfo  *info = BuildIndexInfo(index);
		bool		plain = index->rd_rel->relam == BTREE_AM_OID && info->ii_Expressions == NIL;

		index_close(index, AccessShareLock);
		if (!plain || n >= JA_DIRECT_MAX_INDEXES)
		{
			n = -1;
			break;
		}
		t->index_oid[n] = lfirst_oid(lc);
		t->index_info[n] = info;
		t->index_pred[n] = info->ii_Predicate == NIL ? NULL : ExecInitQual(info->ii_Predicate, NULL);
		n++;
	}
	MemoryContextSwitchTo(old);
	list_free(indexes);
	t->nindexes = n;
}

/*
 * insert_index_entries adds the index entries of a new row version (in
 * slot, with its tid), as ExecInsertIndexTuples does for an INSERT or an
 * UPDATE that could not be heap-only: partial and expression indexes
 * included, uniqueness checked; update tells btree that the key did not
 * change (bottom-up deletion hint).
 */
static void
insert_index_entries(JaTable *t, Relation rel, TupleTableSlot *slot, bool update)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	if (t->nindexes >= 0)
	{
		ExprContext *econtext = CreateStandaloneExprContext();
		int			i;

		econtext->ecxt_scantuple = slot;
		for (i = 0; i < t->nindexes; i++)
		{
			IndexInfo  *info = t->index_info[i];
			Relation	index;

			if (!info->ii_ReadyForInserts ||
				(t->index_pred[i] != NULL && !ExecQual(t->index_pred[i], econtext)))
				continue;
			index = index_open(t->index_oid[i], RowExclusiveLock);
			FormIndexDatum(info, slot, NULL, values, isnull);
			index_insert(index, values, isnull, &slot->tts_tid, rel,
						 info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 update, info);
			index_close(index, NoLock);
		}
		FreeExprContext(econtext, true);
	}
	else
	{
		List	   *indexes = RelationGetIndexList(rel);
		EState	   *estate = CreateExecutorState();
		ExprContext *econtext = GetPerTupleExprContext(estate);
		ListCell   *lc;

		econtext->ecxt_scantuple = slot;
		foreach(lc, indexes)
		{
			Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
			IndexInfo  *info = BuildIndexInfo(index);

			if (info->ii_ReadyForInserts &&
				(info->ii_Predicate == NIL ||
				 ExecQual(ExecPrepareQual(info->ii_Predicate, estate), econtext)))
			{
				FormIndexDatum(info, slot, estate, values, isnull);
				index_insert(index, values, isnull, &slot->tts_tid, rel,
							 info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							 update, info);
			}
			index_close(index, NoLock);
		}
		FreeExecutorState(estate);
		list_free(indexes);
	}
}

/*
 * ja_update_row_version sets columns of the row version at tid without the
 * executor: a new row version, heap-only when no indexed column changes
 * and the page has room, else with its index entries.  The version may be
 * one this transaction locked, or one it only read under a snapshot: the
 * update then stands in for the lock, as an UPDATE's does (waiting for a
 * transaction that holds the row), and succeeds only if the version is
 * still the newest.  A version only read must still be pinned by a
 * snapshot of ours (the calling statement's is), so that it cannot be
 * pruned and its slot reused meanwhile.  Returns
 *   JA_UPDATED		done;
 *   JA_CHANGED		another transaction changed or deleted the row since
 *					(under READ COMMITTED; under REPEATABLE READ or
 *					SERIALIZABLE that is a serialization failure): read it
 *					again, locking it, and decide again;
 *   JA_NOT_DIRECT	the table has triggers or CHECKs an UPDATE would
 *					fire (see ja_can_update_directly): nothing was done, the
 *					caller uses SQL on a row it has locked.
 * The callers check what the table's constraints would (the values set
 * are constants or counters they have checked).
 */
JaUpdate
ja_update_row_version(JaTable *t, ItemPointer tid, int ncols, const int *cols,
					  const Datum *values, const bool *nulls)
{
	Relation	rel = ja_table_open(t, RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot;
	HeapTuple	oldtup;
	HeapTuple	newtup;
	Datum	   *repl_values;
	bool	   *repl_nulls;
	bool	   *repl;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	TM_Result	result;
	JaUpdate	done = JA_UPDATED;
	int			i;

	if (!ja_can_update_directly(rel))
	{
		table_close(rel, NoLock);
		return JA_NOT_DIRECT;
	}
	repl_values = palloc0(sizeof(Datum) * desc->natts);
	repl_nulls = palloc0(sizeof(bool) * desc->natts);
	repl = palloc0(sizeof(bool) * desc->natts);
	for (i = 0; i < ncols; i++)
	{
		int			a = t->att[cols[i]] - 1;

		repl[a] = true;
		repl_values[a] = values[i];
		repl_nulls[a] = nulls != NULL && nulls[i];
	}

	/* as before a statement: what this transaction wrote so far is visible */
	CommandCounterIncrement();
	slot = table_slot_create(rel, NULL);
	if (!table_tuple_fetch_row_version(rel, tid, SnapshotAny, slot))
		elog(ERROR, "row of justauth.%s vanished", t->name);
	oldtup = ExecFetchSlotHeapTuple(slot, false, NULL);
	newtup = heap_modify_tuple(oldtup, desc, repl_values, repl_nulls, repl);
	result = heap_update(rel, tid, newtup, GetCurrentCommandId(true), InvalidSnapshot,
						 true, &tmfd, &lockmode);
	switch (result)
	{
		case TM_Ok:
			if (!HeapTupleIsHeapOnly(newtup))
			{
				TupleTableSlot *newslot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);

				ExecStoreHeapTuple(newtup, newslot, false);
				insert_index_entries(t, rel, newslot, true);
				ExecDropSingleTupleTableSlot(newslot);
			}
			break;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			done = JA_CHANGED;
			break;
		default:
			/* TM_SelfModified cannot happen: we read after our own changes */
			elog(ERROR, "unexpected heap_update status %u on justauth.%s", result, t->name);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return done;
}

/*
 * ja_update_row sets columns of a row this transaction has locked (tid is
 * the locked, newest version); see ja_update_row_version.  Returns false,
 * having changed nothing, when the table has triggers or CHECKs an UPDATE
 * would fire; the caller then runs its SQL.
 */
bool
ja_update_row(JaTable *t, ItemPointer tid, int ncols, const int *cols,
			  const Datum *values, const bool *nulls)
{
	JaUpdate	done = ja_update_row_version(t, tid, ncols, cols, values, nulls);

	if (done == JA_NOT_DIRECT)
		return false;
	if (done != JA_UPDATED)
		elog(ERROR, "locked row of justauth.%s changed", t->name);
	return true;
}

/*
 * form_new_row lays the caller's values (following t->cols; nulls may be
 * NULL) out by attribute into v/n (desc->natts each) for a new row of rel:
 * columns not listed are NULL, the identity column takes its sequence's
 * next value, and a NULL in a NOT NULL column raises the error an INSERT
 * would.
 */
static void
form_new_row(JaTable *t, Relation rel, const Datum *values, const bool *nulls,
			 Datum *v, bool *n)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	memset(n, true, sizeof(bool) * desc->natts);
	for (i = 0; i < t->ncols; i++)
	{
		v[t->att[i] - 1] = values[i];
		n[t->att[i] - 1] = nulls != NULL && nulls[i];
	}
	if (t->identity_att != InvalidAttrNumber)
	{
		v[t->identity_att - 1] = Int64GetDatum(nextval_internal(t->identity_seq, true));
		n[t->identity_att - 1] = false;
	}
	for (i = 0; i < desc->natts; i++)
		if (TupleDescAttr(desc, i)->attnotnull && n[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
							NameStr(TupleDescAttr(desc, i)->attname), RelationGetRelationName(rel))));
}

/*
 * ja_insert_row inserts a row into justauth.<t->name> without the executor,
 * the way COPY and logical replication do: values/nulls follow t->cols,
 * columns not listed are NULL, the identity column takes its sequence's
 * next value.  NOT NULL is checked here; the caller guarantees the CHECK
 * constraints it named (t->checks) and the domains of the values it
 * passes, and does the work of the trigger it named.  Index entries are
 * made as an INSERT makes them, uniqueness included; tid, if not NULL,
 * receives the new row's location.  Returns false,
 * having written nothing, when the table does not allow a direct insert
 * (see direct_insert_possible); the caller then uses SQL.
 */
bool
ja_insert_row(JaTable *t, const Datum *values, const bool *nulls, ItemPointer tid)
{
	Relation	rel = ja_table_open(t, RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *v;
	bool	   *n;
	HeapTuple	tup;
	TupleTableSlot *slot;

	if (!t->insert_ok)
	{
		table_close(rel, NoLock);
		return false;
	}
	v = palloc0(sizeof(Datum) * desc->natts);
	n = palloc(sizeof(bool) * desc->natts);
	form_new_row(t, rel, values, nulls, v, n);

	tup = heap_form_tuple(desc, v, n);
	simple_heap_insert(rel, tup);
	if (tid != NULL)
		*tid = tup->t_self;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	ExecStoreHeapTuple(tup, slot, false);
	insert_index_entries(t, rel, slot, false);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return true;
}

/*
 * ja_insert_row_if_absent inserts a row as ja_insert_row does, unless a row
 * with the same key exists, the way INSERT ... ON CONFLICT DO NOTHING does
 * it: the unique indexes are checked first (waiting for a transaction that
 * is inserting the same key), then the row goes in speculatively and is
 * taken back if a concurrent insert of the key slipped in, and we look
 * again.  Two first writes of one key at once need no lock held to commit,
 * so a transaction may create any number of rows.  Returns JA_INSERTED
 * (tid, if not NULL, receives the row's location), JA_EXISTS (a committed
 * row has the key; under REPEATABLE READ or SERIALIZABLE one our snapshot
 * cannot see is a serialization failure), or JA_INSERT_SQL, having written
 * nothing, when the table does not allow a direct insert or has an identity
 * column (see direct_insert_possible).
 *
 * looked says the caller has just found no row with the key: the first
 * attempt then skips the check (a btree descent per unique index) and goes
 * straight to the speculative insert, whose index entries find any row that
 * appeared meanwhile, committed or not; such a clash takes the row back and
 * the next attempt checks first, as ON CONFLICT's retry does.
 */
JaInsert
ja_insert_row_if_absent(JaTable *t, const Datum *values, const bool *nulls, bool looked,
						ItemPointer tid)
{
	Relation	rel = ja_table_open(t, RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	ItemPointerData conflict;
	JaInsert	done = JA_INSERTED;

	if (!t->insert_ok || t->identity_att != InvalidAttrNumber)
	{
		table_close(rel, NoLock);
		return JA_INSERT_SQL;
	}
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	ExecClearTuple(slot);
	form_new_row(t, rel, values, nulls, slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, true);
	for (;;)
	{
		uint32		token;
		bool		clash = false;

		CHECK_FOR_INTERRUPTS();
		if (looked)
			looked = false;
		else if (!ExecCheckIndexConstraints(rri, slot, estate, &conflict, NIL))
		{
			/* as ExecCheckTIDVisible: a row our snapshot cannot see, under RR */
			if (IsolationUsesXactSnapshot())
			{
				TupleTableSlot *existing = table_slot_create(rel, NULL);
				Snapshot	snapshot = ja_push_statement_snapshot();
				bool		isnull;

				if (!table_tuple_fetch_row_version(rel, &conflict, SnapshotAny, existing))
					elog(ERROR, "conflicting row of justauth.%s vanished", t->name);
				if (!table_tuple_satisfies_snapshot(rel, existing, snapshot) &&
					!TransactionIdIsCurrentTransactionId(DatumGetTransactionId(slot_getsysattr(existing,
																							 MinTransactionIdAttributeNumber,
																							 &isnull))))
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent insert")));
				PopActiveSnapshot();
				ExecDropSingleTupleTableSlot(existing);
			}
			done = JA_EXISTS;
			break;
		}
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(rel, slot, GetCurrentCommandId(true), 0, NULL, token);
		list_free(ExecInsertIndexTuples(rri, slot, estate, false, true, &clash, NIL));
		table_tuple_complete_speculative(rel, slot, token, !clash);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		if (!clash)
		{
			if (tid != NULL)
				*tid = slot->tts_tid;
			break;
		}
	}
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return done;
}
