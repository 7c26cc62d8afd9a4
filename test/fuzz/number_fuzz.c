/*-------------------------------------------------------------------------
 *
 * number_fuzz.c
 *		libFuzzer target for phone number normalization
 *		(ja_normalize_number in extension/number.c, compiled unchanged
 *		against PostgreSQL's server headers).
 *
 * Input: "<default country code>\n<number>", or just a number (default
 * country code 91).  Checked beyond memory safety:
 *   - an accepted number is 8-15 ASCII digits without a leading zero, and
 *     an Indian one (91...) is 91 + 10 digits starting 6-9;
 *   - it ends with the input's digits (leading zeros aside): nothing but a
 *     country code is ever added and no digit is dropped or changed;
 *   - normalizing "+" and the result gives the result again;
 *   - with an output buffer too small the call fails and writes nothing.
 *
 * The backend functions number.c's SQL-callable part needs are in
 * number_backend.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "justauth.h"

/* libc's, not PostgreSQL's replacement from port.h (libpgport is not linked) */
#undef fprintf

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a message: the fuzzer records the input as a crash. */
static void
fail(const char *what, const char *cc, const char *in, const char *out)
{
	fprintf(stderr, "number_fuzz: %s (cc \"%s\", input \"%s\", output \"%s\")\n",
			what, cc, in, out);
	abort();
}

/* Copies len bytes into a fresh NUL-terminated string (stops at a NUL). */
static char *
dupn(const uint8_t *p, size_t len)
{
	char	   *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char	   *cc;
	char	   *in;
	char		out[16];
	char		small[16];
	char	   *plus;
	char		again[16];
	char		digits[300];
	size_t		nd = 0;
	size_t		len;
	bool		ok;

	if (size > JA_MAX_PARAM_LEN + 8)
		return 0;				/* the SQL API refuses longer parameters */
	if (nl != NULL)
	{
		cc = dupn(data, (size_t) (nl - data));
		in = dupn(nl + 1, size - (size_t) (nl - data) - 1);
	}
	else
	{
		cc = strdup("91");
		in = dupn(data, size);
	}
	if (cc == NULL)
		abort();

	memset(out, 'x', sizeof(out));
	ok = ja_normalize_number(in, cc, out, sizeof(out));
	if (ok)
	{
		const char *p;

		len = strlen(out);
		if (len < 8 || len > 15 || strspn(out, "0123456789") != len || out[0] == '0')
			fail("accepted number is not 8-15 digits without a leading zero", cc, in, out);
		if (out[0] == '9' && out[1] == '1' &&
			(len != 12 || out[2] < '6' || out[2] > '9'))
			fail("accepted Indian number is not 91 + 10 digits starting 6-9", cc, in, out);

		for (p = in; *p; p++)
			if (*p >= '0' && *p <= '9' && nd < sizeof(digits) - 1)
				digits[nd++] = *p;
		digits[nd] = '\0';
		p = digits + strspn(digits, "0");
		if (strlen(p) > len || strcmp(out + len - strlen(p), p) != 0)
			fail("accepted number does not end with the input's digits", cc, in, out);

		plus = malloc(len + 2);
		if (plus == NULL)
			abort();
		plus[0] = '+';
		memcpy(plus + 1, out, len + 1);
		if (!ja_normalize_number(plus, cc, again, sizeof(again)) || strcmp(again, out) != 0)
			fail("normalizing +<result> does not give the result", cc, in, out);
		free(plus);

		/* One byte short of room: refused, nothing written. */
		memset(small, 'y', sizeof(small));
		if (ja_normalize_number(in, cc, small, len))
			fail("accepted with an output buffer too small", cc, in, out);
		for (size_t i = 0; i < sizeof(small); i++)
			if (small[i] != 'y')
				fail("wrote into an output buffer too small", cc, in, out);
	}
	else
	{
		for (size_t i = 0; i < sizeof(out); i++)
			if (out[i] != 'x')
				fail("a refused number wrote output", cc, in, "");
	}
	free(cc);
	free(in);
	return 0;
}
