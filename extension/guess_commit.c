/*-------------------------------------------------------------------------
 *
 * guess_commit.c
 *		Let a transaction whose one write is a wrong guess commit without
 *		waiting for its WAL flush.
 *
 * A wrong guess is the only write of a failed verify, and flushing it
 * before the reply costs a WAL flush per guess, the most expensive part of
 * a verify.  Not waiting risks, if the server crashes, forgetting the
 * guesses of its last moment (the WAL writer flushes them within three
 * wal_writer_delay), which gives an attacker back some of a code's
 * max_attempts guesses at a one-in-a-million code.  The guess that uses up
 * a code's attempts and every right code still flush, as does any
 * transaction that wrote anything else before or after the guess or that
 * is a transaction block: whether the transaction's WAL ends with the
 * guess is checked at pre-commit, so a caller's own writes are never made
 * asynchronous.  justauth.durable_wrong_guesses = on flushes every guess.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "utils/guc.h"

#include "justauth.h"

static bool durable_wrong_guesses = false;
static bool callback_registered = false;

/* end of the transaction's WAL after its wrong guess; invalid if none */
static XLogRecPtr guess_end = InvalidXLogRecPtr;

/*
 * ja_define_guess_settings defines justauth.durable_wrong_guesses.  Only a
 * superuser may change it: it trades a little of the attempt limit for
 * speed, a choice for whoever answers for the codes' security.
 */
void
ja_define_guess_settings(void)
{
	DefineCustomBoolVariable("justauth.durable_wrong_guesses",
							 gettext_noop("Flushes every wrong guess to WAL before verify answers."),
							 gettext_noop("When off, a verify whose only write is a wrong guess that leaves the code "
										  "usable commits without waiting for the flush; a server crash can then forget "
										  "the guesses of its last moment."),
							 &durable_wrong_guesses,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/*
 * ja_guess_may_skip_flush tells, before a verify writes anything, whether
 * its wrong guess could commit without a flush: the setting allows it, the
 * verify is not in a transaction block, and the transaction has written
 * nothing yet (no transaction id).
 */
bool
ja_guess_may_skip_flush(void)
{
	return !durable_wrong_guesses &&
		!IsTransactionBlock() &&
		!TransactionIdIsValid(GetTopTransactionIdIfAny());
}

/*
 * guess_xact_callback lowers synchronous_commit for this transaction only
 * when its WAL still ends where the wrong guess left it.  The setting is
 * made LOCAL, so the end of the transaction restores the caller's.
 */
static void
guess_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT &&
		!XLogRecPtrIsInvalid(guess_end) &&
		XactLastRecEnd == guess_end &&
		synchronous_commit > SYNCHRONOUS_COMMIT_OFF)
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	guess_end = InvalidXLogRecPtr;
}

/*
 * ja_guess_written notes that the verify, which ja_guess_may_skip_flush
 * allowed, has written its wrong guess and nothing else: if nothing more is
 * written before the commit, the commit does not wait for the flush.
 */
void
ja_guess_written(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(guess_xact_callback, NULL);
		callback_registered = true;
	}
	guess_end = XactLastRecEnd;
}
