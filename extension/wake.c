/*-------------------------------------------------------------------------
 *
 * wake.c
 *		Delivery set-up from _PG_init (settings, shared state, background
 *		worker), the wake-on-commit of the worker, and the counters it
 *		publishes.
 *
 * The shared state holds only the worker's pid and PGPROC number (whose
 * latch sending backends set) and atomic counters: nothing that points
 * into one process's memory, so a restarted worker or backend can never
 * trip over a previous process's pointers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "justauth.h"
#include "delivery.h"

JaDeliveryShared *ja_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static bool xact_callback_registered = false;
static bool wake_at_commit = false;

/*
 * Reserve our shared state (PG15 requires it from shmem_request_hook).
 */
static void
ja_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(JaDeliveryShared)));
}

/*
 * Create or attach to the shared state; the postmaster initializes it once.
 */
static void
ja_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ja_shared = ShmemInitStruct("justauth delivery",
								sizeof(JaDeliveryShared), &found);
	if (!found)
	{
		int			i;

		pg_atomic_init_u32(&ja_shared->worker_pid, 0);
		pg_atomic_init_u32(&ja_shared->worker_procno, 0);
		pg_atomic_init_u32(&ja_shared->wake_pending, 0);
		pg_atomic_init_u32(&ja_shared->state, JA_WS_STOPPED);
		pg_atomic_init_u64(&ja_shared->started_at, 0);
		pg_atomic_init_u64(&ja_shared->paused_until, 0);
		pg_atomic_init_u64(&ja_shared->sent, 0);
		pg_atomic_init_u64(&ja_shared->failed, 0);
		pg_atomic_init_u64(&ja_shared->expired, 0);
		pg_atomic_init_u64(&ja_shared->retried, 0);
		pg_atomic_init_u64(&ja_shared->requeued, 0);
		pg_atomic_init_u64(&ja_shared->reclaimed, 0);
		pg_atomic_init_u64(&ja_shared->requests, 0);
		pg_atomic_init_u64(&ja_shared->last_error_at, 0);
		pg_atomic_init_u32(&ja_shared->last_error_kind, JA_EK_NONE);
		pg_atomic_init_u32(&ja_shared->last_error_code, 0);
		pg_atomic_init_u32(&ja_shared->last_error_http, 0);
		for (i = 0; i < JA_RATE_SLOTS; i++)
		{
			pg_atomic_init_u64(&ja_shared->rate[i].second, 0);
			pg_atomic_init_u32(&ja_shared->rate[i].count, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * justauth_delivery_init defines the delivery settings in every process
 * that loads the library; when preloaded it also reserves the shared state
 * and registers the worker.  The SQL functions work without preloading,
 * but then nothing delivers live messages (justauth_delivery_configured
 * says so).
 */
void
justauth_delivery_init(void)
{
	ja_define_delivery_settings();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ja_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ja_shmem_startup;

	ja_register_worker();
}

/*
 * justauth_delivery_configured tells a live send whether its message can be
 * delivered: a token or a token file is set, the worker exists (library
 * preloaded) and it serves this database.  Otherwise the send is refused
 * instead of queueing a message nobody will ever send.  Only the worker
 * reads the token file: a bad one pauses delivery and the messages wait in
 * the queue, as with a token WhatsApp refuses.  Needs a transaction
 * (catalog lookup).
 */
bool
justauth_delivery_configured(void)
{
	char	   *dbname;
	bool		same;

	if (!ja_token_configured())
		return false;
	if (ja_shared == NULL)
		return false;
	dbname = get_database_name(MyDatabaseId);
	same = dbname != NULL && ja_database != NULL && strcmp(dbname, ja_database) == 0;
	if (dbname)
		pfree(dbname);
	return same;
}

/*
 * Set the worker's latch.  A stale PGPROC number (worker just exited) only
 * causes a spurious wake-up of whoever uses that slot now, which latches
 * tolerate.  Only the first commit after the worker last looked at the
 * queue sets it (wake_pending): at thousands of sends a second the worker,
 * busy sending or waiting for its rate limit, is not woken for each one;
 * its next look at the queue sees them all.
 */
static void
ja_wake_worker(void)
{
	uint32		procno;

	if (ja_shared == NULL)
		return;
	if (pg_atomic_read_u32(&ja_shared->wake_pending) != 0 ||
		pg_atomic_exchange_u32(&ja_shared->wake_pending, 1) != 0)
		return;
	procno = pg_atomic_read_u32(&ja_shared->worker_procno);
	if (procno != 0 && procno - 1 < ProcGlobal->allProcCount)
		SetLatch(&GetPGProcByNumber(procno - 1)->procLatch);
}

/*
 * Wake the worker only once the new outbox rows are visible, i.e. after
 * commit; an aborted transaction wakes nobody.
 */
static void
ja_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				ja_wake_worker();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared send is picked up by the safety poll */
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * justauth_delivery_wake_on_commit asks for one wake-up of the worker when
 * the current transaction commits, however many messages it queued.
 */
void
justauth_delivery_wake_on_commit(void)
{
	if (ja_shared == NULL)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(ja_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * ja_note_error publishes the last error for justauth.worker_status.
 */
void
ja_note_error(JaErrorKind kind, int code, int http_status)
{
	if (ja_shared == NULL)
		return;
	pg_atomic_write_u32(&ja_shared->last_error_kind, (uint32) kind);
	pg_atomic_write_u32(&ja_shared->last_error_code, (uint32) code);
	pg_atomic_write_u32(&ja_shared->last_error_http, (uint32) http_status);
	pg_atomic_write_u64(&ja_shared->last_error_at, (uint64) GetCurrentTimestamp());
}

/*
 * ja_count_request counts one request in the slot of the current second.
 * Only the worker writes the slots, so resetting a slot needs no lock;
 * readers may see a slot mid-reset, which only blurs the displayed rate.
 */
void
ja_count_request(void)
{
	uint64		second = (uint64) (GetCurrentTimestamp() / USECS_PER_SEC);
	JaRateSlot *slot;

	if (ja_shared == NULL)
		return;
	slot = &ja_shared->rate[second % JA_RATE_SLOTS];
	if (pg_atomic_read_u64(&slot->second) != second)
	{
		pg_atomic_write_u32(&slot->count, 0);
		pg_atomic_write_u64(&slot->second, second);
	}
	pg_atomic_fetch_add_u32(&slot->count, 1);
	pg_atomic_fetch_add_u64(&ja_shared->requests, 1);
}

/*
 * ja_current_rate: requests per second over the last five complete seconds.
 */
double
ja_current_rate(void)
{
	uint64		now = (uint64) (GetCurrentTimestamp() / USECS_PER_SEC);
	uint64		total = 0;
	int			i;

	if (ja_shared == NULL)
		return 0;
	for (i = 0; i < JA_RATE_SLOTS; i++)
	{
		uint64		s = pg_atomic_read_u64(&ja_shared->rate[i].second);

		if (s < now && s + 5 >= now)
			total += pg_atomic_read_u32(&ja_shared->rate[i].count);
	}
	return total / 5.0;
}
