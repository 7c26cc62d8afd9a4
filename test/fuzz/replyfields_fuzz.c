/*-------------------------------------------------------------------------
 *
 * replyfields_fuzz.c
 *		libFuzzer target for gw_reply_fields (gateway/replyfields.c), which
 *		reads the status-deciding members of every API reply with
 *		libpgcommon's JSON parser in the long-lived gateway.
 *
 * Input: any bytes, as a reply.  Checked beyond memory safety and leaks
 * (ASan): both outputs are NUL-terminated within their buffers and empty
 * whenever the call fails; an input that does not start with '{' fails;
 * and the result does not depend on the bytes after len.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replyfields.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a message: the fuzzer records the input as a crash. */
static void
fail(const char *what)
{
	fprintf(stderr, "replyfields_fuzz: %s\n", what);
	abort();
}

/* Checks the invariants of one result. */
static void
check(bool ok, const GwReplyFields *f, const uint8_t *data, size_t size)
{
	if (memchr(f->error, '\0', sizeof(f->error)) == NULL ||
		memchr(f->retry_after, '\0', sizeof(f->retry_after)) == NULL)
		fail("an output is not NUL-terminated");
	if (!ok && (f->error[0] != '\0' || f->retry_after[0] != '\0'))
		fail("a failed parse left an output");
	if (ok && (size == 0 || data[0] != '{'))
		fail("a reply that is not an object was accepted");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GwReplyFields a;
	GwReplyFields b;
	char	   *padded;
	bool		ok_a;
	bool		ok_b;

	memset(&a, 'x', sizeof(a));
	ok_a = gw_reply_fields((const char *) data, size, &a);
	check(ok_a, &a, data, size);

	/* The same bytes followed by junk the parser must not look at. */
	padded = malloc(size + 8);
	if (padded == NULL)
		return 0;
	memcpy(padded, data, size);
	memcpy(padded + size, "\"}]{ \\u", 8);
	memset(&b, 'y', sizeof(b));
	ok_b = gw_reply_fields(padded, size, &b);
	free(padded);
	check(ok_b, &b, data, size);
	if (ok_a != ok_b || strcmp(a.error, b.error) != 0 || strcmp(a.retry_after, b.retry_after) != 0)
		fail("the result depends on bytes after the reply");
	return 0;
}
