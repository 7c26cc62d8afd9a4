/*-------------------------------------------------------------------------
 *
 * justauth.h
 *		Declarations shared by the modules of the justauth extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef JUSTAUTH_H
#define JUSTAUTH_H

#include "postgres.h"
#include "fmgr.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "nodes/lockoptions.h"
#include "storage/itemptr.h"
#include "storage/lockdefs.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/uuid.h"

/* Custom SQLSTATEs (class JA) for user-facing errors raised by the SQL API. */
#define ERRCODE_JA_UNKNOWN_CLIENT		MAKE_SQLSTATE('J','A','0','0','2')
#define ERRCODE_JA_INVALID_NUMBER		MAKE_SQLSTATE('J','A','0','0','3')
#define ERRCODE_JA_INVALID_MODE			MAKE_SQLSTATE('J','A','0','0','7')
#define ERRCODE_JA_INVALID_NAME			MAKE_SQLSTATE('J','A','0','0','8')
#define ERRCODE_JA_INVALID_AMOUNT		MAKE_SQLSTATE('J','A','0','0','9')
#define ERRCODE_JA_INVALID_REFERENCE	MAKE_SQLSTATE('J','A','0','1','1')
#define ERRCODE_JA_REFERENCE_REUSED		MAKE_SQLSTATE('J','A','0','1','2')
#define ERRCODE_JA_SERVER_KEY			MAKE_SQLSTATE('J','A','0','1','3')

/*
 * A wallet starts with JA_WALLET_SHARDS sub-balances and grows up to
 * JA_WALLET_MAX_SHARDS while its concurrent sends keep finding them all busy
 * (see wallet.c).
 */
#define JA_WALLET_SHARDS	4
#define JA_WALLET_MAX_SHARDS	64
#define JA_MAX_PARAM_LEN	256

/* A client row as send and verify need it (see client.c). */
typedef struct JaClient
{
	uint8		key_hash[32];
	bool		live;
	bool		suspended;
	bool		funded;
	bool		verify_requires_key;
	int			code_length;
	int			ttl_seconds;
	int			max_attempts;
	int			cooldown_seconds;
	int			window_max_sends;
	int			window_seconds;
	int			per_minute_cap;		/* 0: no cap */
	char		default_cc[4];
	Datum		allowed_cc;			/* text[], valid until SPI_finish */
	bool		has_test_numbers;	/* any rows in justauth.test_numbers */
} JaClient;

/* direct.c: primary-key reads of one row without the executor */
#define JA_DIRECT_MAX_COLS 16
#define JA_DIRECT_MAX_KEYS 2
#define JA_DIRECT_MAX_INDEXES 8
typedef struct JaTable
{
	const char *name;			/* table in schema justauth */
	int			ncols;
	const char *const *cols;	/* columns read or written, by name */
	const char *const *checks;	/* for inserts: CHECKs the caller ensures (NULL-ended) */
	const char *trigger;		/* for inserts: trigger whose work the caller does */
	/* found on first use, again after an invalidation */
	bool		registered;
	Oid			relid;
	Oid			pkey;
	int			nkeys;
	Oid			key_proc[JA_DIRECT_MAX_KEYS];
	Oid			key_collation[JA_DIRECT_MAX_KEYS];
	AttrNumber	att[JA_DIRECT_MAX_COLS];
	bool		insert_ok;		/* see direct_insert_possible() */
	AttrNumber	identity_att;
	Oid			identity_seq;
	int			nindexes;		/* -1: not cached, see cache_indexes() */
	Oid			index_oid[JA_DIRECT_MAX_INDEXES];
	struct IndexInfo *index_info[JA_DIRECT_MAX_INDEXES];
	struct ExprState *index_pred[JA_DIRECT_MAX_INDEXES];
	MemoryContext index_cxt;
} JaTable;
extern bool ja_row_fetch(JaTable *t, const Datum *keys, bool lock, Datum *values, bool *nulls,
						 ItemPointer tid);
extern bool ja_lock_row(Relation rel, TupleTableSlot *slot, Snapshot snapshot, LockWaitPolicy wait);
/* Who holds a row version, as ja_row_claim sees it. */
typedef enum JaClaim
{
	JA_ROW_FREE,				/* newest, nobody holds it */
	JA_ROW_HELD,				/* another running transaction locked or changed it */
	JA_ROW_MOVED				/* anything else: changed since, or ours */
} JaClaim;
extern JaClaim ja_row_claim(Relation rel, ItemPointer tid);
extern bool ja_update_row(JaTable *t, ItemPointer tid, int ncols, const int *cols,
						  const Datum *values, const bool *nulls);

/* What ja_update_row_version did. */
typedef enum JaUpdate
{
	JA_UPDATED,
	JA_CHANGED,
	JA_NOT_DIRECT
} JaUpdate;
extern JaUpdate ja_update_row_version(JaTable *t, ItemPointer tid, int ncols, const int *cols,
									  const Datum *values, const bool *nulls);
extern Relation ja_table_open(JaTable *t, LOCKMODE lockmode);
extern Snapshot ja_push_statement_snapshot(void);
extern bool ja_insert_row(JaTable *t, const Datum *values, const bool *nulls,
						  ItemPointer tid);
extern bool ja_can_update_directly(Relation rel);

/* What ja_insert_row_if_absent did. */
typedef enum JaInsert
{
	JA_INSERTED,
	JA_EXISTS,
	JA_INSERT_SQL
} JaInsert;
extern JaInsert ja_insert_row_if_absent(JaTable *t, const Datum *values, const bool *nulls,
										bool looked, ItemPointer tid);

/*
 * reply.c: a reply is a flat JSON object, kept as fields until it becomes a
 * jsonb datum (built directly, not printed and parsed again).  Its strings
 * are copied into the memory context that was current at ja_reply_init, so
 * a reply survives SPI_finish; keys must be string constants.
 */
typedef enum JaReplyKind
{
	JA_REPLY_BOOL,
	JA_REPLY_STRING,
	JA_REPLY_INT
} JaReplyKind;

typedef struct JaReplyField
{
	const char *key;
	JaReplyKind kind;
	const char *str;
	int64		num;			/* an int, or a bool as 0/1 */
} JaReplyField;

#define JA_REPLY_MAX_FIELDS 6

typedef struct JaReply
{
	MemoryContext cxt;
	Jsonb	   *base;			/* a stored reply the fields extend, or NULL */
	int			nfields;
	JaReplyField fields[JA_REPLY_MAX_FIELDS];
} JaReply;

extern void ja_reply_init(JaReply *reply);
extern void ja_reply_reset(JaReply *reply);
extern void ja_reply_bool(JaReply *reply, const char *key, bool value);
extern void ja_reply_string(JaReply *reply, const char *key, const char *value);
extern void ja_reply_int(JaReply *reply, const char *key, int64 value);
extern void ja_reply_extend(JaReply *reply, Jsonb *stored);
extern void ja_reply_error(JaReply *reply, const char *error, const char *message);
extern void ja_reply_error_n(JaReply *reply, const char *error, const char *message,
							 const char *key, int64 value);
extern Datum ja_reply_jsonb(JaReply *reply);
extern void ja_reply_sandbox_message(JaReply *reply, const char *code, int ttl_seconds);

/* justauth.c */
extern Datum ja_call_pinned(Datum (*fn) (FunctionCallInfo fcinfo), FunctionCallInfo fcinfo);
extern char *ja_text_arg(FunctionCallInfo fcinfo, int argno, const char *name,
						 bool required, JaReply *reply);

/* client.c (SPI helpers shared by all modules) */
struct _SPI_plan;
extern struct _SPI_plan *ja_keep_plan(struct _SPI_plan **slot, const char *sql,
									  int nargs, Oid *argtypes);
extern uint64 ja_exec(struct _SPI_plan *plan, Datum *values, const char *nulls, long limit);
extern Datum ja_bytea_datum(const uint8 *data, size_t len);
extern bool ja_load_client(const char *client_id, JaClient *client);
extern bool ja_api_key_matches(const JaClient *client, const char *api_key);
extern bool ja_authenticate(const char *client_id, const char *api_key, bool verify,
							const char *number_in, JaClient *client, char *number,
							size_t numberlen, JaReply *reply);

/* wallet.c */
extern int	ja_wallet_debit(const char *client_id, int64 *balance_after);

/* number.c */
extern bool ja_normalize_number(const char *in, const char *default_cc,
								char *out, size_t outlen);
extern bool ja_country_allowed(const char *e164, Datum allowed_array);

/* secrets.c */
extern void ja_random_token(const char *prefix, int nbytes, char *out, size_t outlen);
extern void ja_generate_code(int length, char *out);
extern void ja_sha256(const char *data, size_t len, uint8 *out);
extern void ja_code_hmac(const pg_uuid_t *session, const char *code, uint8 *out);
extern void ja_seal_code(const pg_uuid_t *session, const char *code, uint8 *out, size_t len);
extern bool ja_equal_ct(const uint8 *a, const uint8 *b, size_t len);
extern void ja_session_uuid(pg_uuid_t *uuid, TimestampTz now);

/* guess_commit.c */
extern void ja_define_guess_settings(void);
extern bool ja_guess_may_skip_flush(void);
extern void ja_guess_written(void);

/*
 * delivery interface (implemented by the delivery worker modules):
 *   justauth_delivery_init()        from _PG_init: GUCs, shmem, bgworker
 *   justauth_delivery_configured()  live delivery possible: access token set,
 *                                   library preloaded, and this database is
 *                                   the one the worker serves
 *   justauth_delivery_wake_on_commit()  wake the worker once this
 *                                   transaction commits
 */
extern void justauth_delivery_init(void);
extern bool justauth_delivery_configured(void);
extern void justauth_delivery_wake_on_commit(void);

#endif							/* JUSTAUTH_H */
