/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The delivery background worker: drains justauth.outbox to the
 *		WhatsApp Cloud API.
 *
 * Loop (like worker_spi / autoprewarm): wait on the latch (set at commit by
 * sending backends, see wake.c) or the safety poll; reload settings on
 * SIGHUP; stop on SIGTERM, even mid-batch; then per round
 *
 *	 claim a batch (short transaction) -> send it over HTTP (no transaction)
 *	 -> record the outcomes and refunds (short transaction).
 *
 * Authentication / configuration errors pause the whole worker (messages
 * stay queued, nothing is counted as failed) until the configuration is
 * reloaded or config_error_retry_ms passes, after which a single message
 * probes; rate-limit answers back the whole worker off exponentially.  An
 * unusable access token file (token_file.c) pauses it until a reload.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procsignal.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "delivery.h"

/* Wait after the worker's own SQL failed, so errors never spin. */
#define JA_ERROR_RETRY_MS 5000

static MemoryContext batch_context = NULL;
static JaTokenBucket bucket;
static bool extension_ready = false;
static bool probing = false;		/* after a config error: one message at a time */
static TimestampTz paused_until = 0;
static JaWorkerState pause_state = JA_WS_IDLE;
static int	throttle_backoff_ms = 0;
static JaWorkerState reported_state = JA_WS_STOPPED;

/* The batch being worked on (TopMemoryContext, grown as needed). */
static JaMessage *msgs = NULL;
static int	msgs_len = 0;

/*
 * ja_register_worker registers the one delivery worker.  It starts once the
 * cluster is consistent (so it can idle visibly on a standby) and is
 * restarted 5 s after any exit other than a clean unregistration.
 */
void
ja_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "justauth");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "justauth_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "justauth delivery worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "justauth delivery worker");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Publish what the worker does, in justauth.worker_status and in
 * pg_stat_activity.
 */
static void
ja_set_state(JaWorkerState state, const char *activity)
{
	pg_atomic_write_u32(&ja_shared->state, (uint32) state);
	pgstat_report_activity(state == JA_WS_SENDING ? STATE_RUNNING : STATE_IDLE,
						   activity);
}

/*
 * Say once in the server log why the worker is not sending, when that
 * reason changes.
 */
static void
ja_report_idle_reason(JaWorkerState state)
{
	if (state == reported_state)
		return;
	reported_state = state;
	switch (state)
	{
		case JA_WS_NOT_CONFIGURED:
			ereport(WARNING,
					(errmsg("justauth delivery worker is idle: WhatsApp delivery is not configured"),
					 errdetail("No access token (justauth.whatsapp_access_token or justauth.whatsapp_access_token_file) or justauth.whatsapp_phone_number_id is empty."),
					 errhint("Set both in postgresql.conf and reload; meanwhile live sends are refused with delivery_not_configured.")));
			break;
		case JA_WS_NO_EXTENSION:
			ereport(LOG,
					(errmsg("justauth delivery worker is idle: extension justauth is not installed in database \"%s\"",
							ja_database),
					 errhint("Run CREATE EXTENSION justauth there, or point justauth.database at the right database.")));
			break;
		case JA_WS_RECOVERY:
			ereport(LOG,
					(errmsg("justauth delivery worker is idle while the server is in recovery")));
			break;
		default:
			break;
	}
}

/* Clear our traces from shared memory at exit. */
static void
ja_worker_exit(int code, Datum arg)
{
	ja_http_shutdown();
	pg_atomic_write_u32(&ja_shared->worker_procno, 0);
	pg_atomic_write_u32(&ja_shared->worker_pid, 0);
	pg_atomic_write_u32(&ja_shared->state, JA_WS_STOPPED);
}

/*
 * Apply reloaded settings, (re)reading the access token file; a reload also
 * ends a configuration pause.
 */
static void
ja_apply_settings(void)
{
	(void) ja_token_load();
	ja_http_configure();
	ja_bucket_configure(&bucket, ja_max_messages_per_second);
	if (paused_until != 0 && pause_state == JA_WS_PAUSED)
	{
		ereport(LOG,
				(errmsg("justauth delivery worker resumes after a configuration reload")));
		paused_until = 0;
		pg_atomic_write_u64(&ja_shared->paused_until, 0);
	}
	reported_state = JA_WS_STOPPED;
}

/* Add the outcomes of a recorded batch to the shared counters. */
static void
ja_count_outcomes(JaMessage *batch, int n)
{
	int			i;
	int			retried = 0;
	const char *last_retry = NULL;

	for (i = 0; i < n; i++)
	{
		JaMessage  *m = &batch[i];

		switch (m->outcome)
		{
			case JA_OUT_SENT:
				pg_atomic_fetch_add_u64(&ja_shared->sent, 1);
				break;
			case JA_OUT_FAILED:
				pg_atomic_fetch_add_u64(&ja_shared->failed, 1);
				if (m->has_error_code)
					ereport(LOG,
							(errmsg("justauth: message for request %s failed permanently after %d attempt(s): WhatsApp error %d: %s",
									m->request_id, m->attempts, m->error_code, m->error_text)));
				else
					ereport(LOG,
							(errmsg("justauth: message for request %s failed permanently after %d attempt(s): %s",
									m->request_id, m->attempts, m->error_text)));
				break;
			case JA_OUT_EXPIRED:
				pg_atomic_fetch_add_u64(&ja_shared->expired, 1);
				break;
			case JA_OUT_RETRY:
				pg_atomic_fetch_add_u64(&ja_shared->retried, 1);
				retried++;
				last_retry = m->error_text;
				break;
			case JA_OUT_REQUEUE:
			case JA_OUT_PENDING:
				pg_atomic_fetch_add_u64(&ja_shared->requeued, 1);
				break;
		}
	}
	if (retried > 0)
		ereport(LOG,
				(errmsg("justauth: %d message(s) will be retried after a failed request: %s",
						retried, last_retry),
				 errhint("Check justauth.whatsapp_api_url and the network if this persists.")));
}

/* Forget the plaintext codes of a finished batch. */
static void
ja_wipe(JaMessage *batch, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		explicit_bzero(batch[i].code, sizeof(batch[i].code));
}

/*
 * One round: claim, send, record.  Returns how long to sleep (ms) before
 * the next round; 0 to go again at once.
 */
static long
ja_round(void)
{
	JaBatchResult result;
	TimestampTz now;
	int64		visibility;
	int64		reclaimed;
	int64		due;
	char		activity[64];
	JaTokenProblem token_problem;
	int			token_errno;
	int			limit;
	int			expired = 0;
	int			n;

	if (RecoveryInProgress())
	{
		ja_set_state(JA_WS_RECOVERY, "justauth: idle while in recovery");
		ja_report_idle_reason(JA_WS_RECOVERY);
		/* nothing wakes us at promotion: look again every second */
		return Min(ja_poll_interval_ms, 1000);
	}
	if (!extension_ready)
	{
		if (!ja_queue_extension_ready())
		{
			ja_set_state(JA_WS_NO_EXTENSION, "justauth: extension not installed");
			ja_report_idle_reason(JA_WS_NO_EXTENSION);
			return ja_poll_interval_ms;
		}
		extension_ready = true;
		reclaimed = ja_queue_reclaim();
		if (reclaimed > 0)
		{
			pg_atomic_fetch_add_u64(&ja_shared->reclaimed, reclaimed);
			ereport(LOG,
					(errmsg("justauth: reclaimed " INT64_FORMAT " message(s) left in flight by a previous worker or a failed round",
							reclaimed)));
		}
	}
	now = GetCurrentTimestamp();
	if (paused_until != 0 && paused_until <= now)
	{
		paused_until = 0;
		pg_atomic_write_u64(&ja_shared->paused_until, 0);
	}

	/*
	 * Not configured, no usable token, or paused: send nothing, but still
	 * expire (and refund) the codes that run out meanwhile, waking up for the
	 * next one.  A refused token file keeps the messages queued until a
	 * reload reads a good one.
	 */
	token_problem = ja_token_problem(&token_errno);
	if (token_problem != JA_TP_NONE || ja_phone_number_id[0] == '\0' ||
		paused_until != 0)
	{
		long		sleep_ms;
		int64		expiry;

		if (paused_until == 0 && token_problem != JA_TP_NONE &&
			token_problem != JA_TP_UNSET)
		{
			ja_set_state(JA_WS_PAUSED, "justauth: paused: access token configuration error");
			ja_note_error(JA_EK_TOKEN_FILE, (int) token_problem, token_errno);
			sleep_ms = ja_poll_interval_ms;
		}
		else if (paused_until == 0)
		{
			ja_set_state(JA_WS_NOT_CONFIGURED, "justauth: delivery not configured");
			ja_note_error(JA_EK_SETTINGS, 0, 0);
			ja_report_idle_reason(JA_WS_NOT_CONFIGURED);
			sleep_ms = ja_poll_interval_ms;
		}
		else
		{
			ja_set_state(pause_state, pause_state == JA_WS_PAUSED ?
						 "justauth: paused after a configuration error" :
						 "justauth: backing off after a rate limit");
			sleep_ms = Max(1, (paused_until - now) / 1000);
		}
		(void) ja_queue_claim(msgs, 0, 0, &expired);
		if (expired > 0)
			pg_atomic_fetch_add_u64(&ja_shared->expired, expired);
		expiry = ja_queue_next_ms(true);
		if (expiry >= 0)
			sleep_ms = Min(sleep_ms, Max(expiry, 10));
		return sleep_ms;
	}
	reported_state = JA_WS_STOPPED;

	limit = probing ? 1 : Min(ja_batch_size, ja_max_messages_per_second);
	/* claimed rows stay invisible for the whole batch: token wait + timeout */
	visibility = (int64) limit * 1000 / ja_max_messages_per_second +
		ja_request_timeout_ms + 5000;
	visibility = Min(Max(visibility, ja_visibility_timeout_ms), PG_INT32_MAX);

	if (limit > msgs_len)
	{
		msgs = repalloc(msgs, sizeof(JaMessage) * limit);
		msgs_len = limit;
	}
	n = ja_queue_claim(msgs, limit, (int) visibility, &expired);
	if (expired > 0)
		pg_atomic_fetch_add_u64(&ja_shared->expired, expired);
	if (n == 0)
	{
		due = ja_queue_next_ms(false);
		ja_set_state(JA_WS_IDLE, "justauth: waiting for messages");
		if (due < 0)
			return ja_poll_interval_ms;
		return Min(ja_poll_interval_ms, Max(due, 10));
	}

	snprintf(activity, sizeof(activity), "justauth: sending %d message(s)", n);
	ja_set_state(JA_WS_SENDING, activity);
	ja_http_send_batch(msgs, n, &bucket, &result);
	ja_queue_record(msgs, n);
	ja_count_outcomes(msgs, n);
	ja_wipe(msgs, n);

	now = GetCurrentTimestamp();
	if (result.config_error)
	{
		paused_until = TimestampTzPlusMilliseconds(now, ja_config_error_retry_ms);
		pause_state = JA_WS_PAUSED;
		probing = true;
		pg_atomic_write_u64(&ja_shared->paused_until, (uint64) paused_until);
		ereport(WARNING,
				(errmsg("justauth delivery paused: the WhatsApp API refused our configuration: %s",
						result.config_error_text),
				 errdetail("Messages stay queued and are not counted as failed; codes that expire meanwhile are refunded."),
				 errhint("Check justauth.whatsapp_access_token, justauth.whatsapp_phone_number_id, justauth.whatsapp_template and justauth.whatsapp_api_url, then reload the configuration. Without a reload one message is retried in %d ms.",
						 ja_config_error_retry_ms)));
		ja_set_state(JA_WS_PAUSED, "justauth: paused after a configuration error");
		return 0;
	}
	if (result.sent > 0 && probing)
	{
		probing = false;
		ereport(LOG,
				(errmsg("justauth delivery resumed: the WhatsApp API accepted a message again")));
	}
	if (result.throttled)
	{
		throttle_backoff_ms = throttle_backoff_ms == 0 ? ja_retry_base_ms :
			Min(throttle_backoff_ms * 2, ja_retry_max_ms);
		paused_until = TimestampTzPlusMilliseconds(now, throttle_backoff_ms);
		pause_state = JA_WS_THROTTLED;
		pg_atomic_write_u64(&ja_shared->paused_until, (uint64) paused_until);
		ja_bucket_drain(&bucket, now);
		ereport(LOG,
				(errmsg("justauth delivery backs off for %d ms: the WhatsApp API reported a rate limit",
						throttle_backoff_ms),
				 errhint("Lower justauth.max_messages_per_second if this repeats.")));
	}
	else if (result.sent > 0)
		throttle_backoff_ms = 0;
	return 0;
}

/*
 * justauth_worker_main is the worker's entry point.
 */
void
justauth_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);

	/*
	 * procsignal_sigusr1_handler sets our latch and flags barrier requests;
	 * CHECK_FOR_INTERRUPTS in every wait absorbs them, so DROP DATABASE
	 * elsewhere never waits for us.
	 */
	pqsignal(SIGUSR1, procsignal_sigusr1_handler);
	BackgroundWorkerUnblockSignals();

	if (ja_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("justauth delivery worker started without its shared memory")));

	pg_atomic_write_u32(&ja_shared->worker_pid, (uint32) MyProcPid);
	pg_atomic_write_u64(&ja_shared->started_at, (uint64) GetCurrentTimestamp());
	pg_atomic_write_u64(&ja_shared->paused_until, 0);
	pg_atomic_write_u32(&ja_shared->state, JA_WS_STARTING);
	before_shmem_exit(ja_worker_exit, (Datum) 0);

	BackgroundWorkerInitializeConnection(ja_database, NULL, 0);
	pgstat_report_appname("justauth delivery worker");

	/*
	 * Our SQL is schema-qualified; pin search_path anyway.  Bound lock waits
	 * so a session holding outbox rows cannot stall the worker (or its
	 * shutdown): the round fails, is logged, and is retried.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "5s", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "60s", PGC_SUSET, PGC_S_OVERRIDE);

	/* wake-ups are accepted only once we can act on them */
	pg_atomic_write_u32(&ja_shared->worker_procno, (uint32) MyProc->pgprocno + 1);

	batch_context = AllocSetContextCreate(TopMemoryContext,
										  "justauth delivery batch",
										  ALLOCSET_DEFAULT_SIZES);
	msgs = MemoryContextAllocZero(TopMemoryContext, sizeof(JaMessage));
	msgs_len = 1;
	memset(&bucket, 0, sizeof(bucket));
	ja_apply_settings();

	ereport(LOG,
			(errmsg("justauth delivery worker started for database \"%s\"", ja_database)));

	while (!ShutdownRequestPending)
	{
		MemoryContext oldcontext;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			ja_apply_settings();
		}

		MemoryContextReset(batch_context);
		oldcontext = MemoryContextSwitchTo(batch_context);

		/*
		 * Commits from here on wake us again (see ja_wake_worker); the
		 * exchange is a barrier, so this round's snapshot sees every
		 * commit that found the flag set.
		 */
		(void) pg_atomic_exchange_u32(&ja_shared->wake_pending, 0);
		PG_TRY();
		{
			sleep_ms = ja_round();
		}
		PG_CATCH();
		{
			/* log, roll back, and try again later: never a crash loop */
			HOLD_INTERRUPTS();
			EmitErrorReport();
			FlushErrorState();
			ja_http_abort();
			AbortCurrentTransaction();
			RESUME_INTERRUPTS();
			ja_wipe(msgs, msgs_len);
			ja_note_error(JA_EK_DATABASE, 0, 0);
			/* recheck the extension, and retake what this round had claimed */
			extension_ready = false;
			ja_set_state(JA_WS_IDLE, "justauth: waiting after an error");
			sleep_ms = JA_ERROR_RETRY_MS;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(oldcontext);

		if (sleep_ms > 0 && !ShutdownRequestPending)
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}

	ereport(LOG,
			(errmsg("justauth delivery worker shutting down")));
	proc_exit(1);
}
