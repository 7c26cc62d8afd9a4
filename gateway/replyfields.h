/*-------------------------------------------------------------------------
 *
 * replyfields.h
 *		The members of an API reply that decide its HTTP status and
 *		headers (replyfields.c), kept free of other headers so that both
 *		the gateway and PostgreSQL frontend code can include it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPLYFIELDS_H
#define REPLYFIELDS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct GwReplyFields
{
	char		error[40];		/* "error" code, empty if none */
	char		retry_after[24];	/* "retry_after" seconds, empty if none */
} GwReplyFields;

extern bool gw_reply_fields(const char *json, size_t len, GwReplyFields *out);

#endif							/* REPLYFIELDS_H */
