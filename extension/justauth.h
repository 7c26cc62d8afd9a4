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

#define JA_WALLET_SHARDS	16
#define JA_MAX_PARAM_LEN	256

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
extern void ja_random_uuid(pg_uuid_t *uuid);

/*
 * delivery interface (implemented by the delivery worker modules):
 *   justauth_delivery_init()        from _PG_init: GUCs, shmem, bgworker
 *   justauth_delivery_configured()  live delivery possible (access token set)
 *   justauth_delivery_wake_on_commit()  wake the worker once this
 *                                   transaction commits
 */
extern void justauth_delivery_init(void);
extern bool justauth_delivery_configured(void);
extern void justauth_delivery_wake_on_commit(void);

#endif							/* JUSTAUTH_H */
