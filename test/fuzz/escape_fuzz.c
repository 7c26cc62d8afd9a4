/*-------------------------------------------------------------------------
 *
 * escape_fuzz.c
 *		libFuzzer target for gw_json_escape (gateway/text.c), which puts
 *		untrusted text (messages quoting parameters) into JSON replies.
 *
 * Input: byte 0 chooses the output buffer size (0-255, or 0 meaning "room
 * for everything"), the rest is the text.  Checked beyond memory safety:
 * the output is NUL-terminated within the buffer, valid UTF-8, without
 * raw control characters or unescaped quotes; and when the text is valid
 * UTF-8 and the buffer is large enough, unescaping the output gives the
 * text back exactly.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a message: the fuzzer records the input as a crash. */
static void
fail(const char *what, const char *out)
{
	fprintf(stderr, "escape_fuzz: %s\noutput: %s\n", what, out);
	abort();
}

/* Value of one hex digit (the escaper writes lower case only). */
static int
hex(char c)
{
	return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/*
 * Checks the escaped form and decodes it into dec (at least as large as
 * out); returns the decoded length.  \ufffd (only written for bad input)
 * decodes to its UTF-8 bytes.
 */
static size_t
check_and_unescape(const char *out, char *dec)
{
	size_t		n = 0;

	for (const char *p = out; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c < 0x20 || c == 0x7F)
			fail("raw control character in escaped output", out);
		if (c == '"')
			fail("unescaped quote in escaped output", out);
		if (c != '\\')
		{
			dec[n++] = (char) c;
			continue;
		}
		p++;
		if (*p == '"' || *p == '\\')
			dec[n++] = *p;
		else if (*p == 'u' && strncmp(p, "ufffd", 5) == 0)
		{
			memcpy(dec + n, "\xEF\xBF\xBD", 3);
			n += 3;
			p += 4;
		}
		else if (*p == 'u' && p[1] == '0' && p[2] == '0' && hex(p[3]) >= 0 && hex(p[4]) >= 0)
		{
			dec[n++] = (char) (hex(p[3]) * 16 + hex(p[4]));
			p += 4;
		}
		else
			fail("unknown or cut escape in output", out);
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		len;
	size_t		outlen;
	const char *in;
	char	   *out;
	char	   *dec;
	size_t		n;

	if (size < 1)
		return 0;
	len = size - 1;
	in = (const char *) data + 1;
	outlen = data[0] == 0 ? len * 6 + 1 : data[0];
	out = malloc(outlen + 1);
	dec = malloc(outlen + 4);
	if (out == NULL || dec == NULL)
		abort();
	out[outlen] = 'Z';			/* must stay untouched */

	gw_json_escape(out, outlen, in, len);
	if (outlen > 0)
	{
		if (memchr(out, '\0', outlen) == NULL)
			fail("output not NUL-terminated within the buffer", "");
		if (out[outlen] != 'Z')
			fail("wrote past the buffer", out);
		if (!gw_valid_utf8(out, strlen(out)))
			fail("escaped output is not valid UTF-8", out);
		n = check_and_unescape(out, dec);
		if (data[0] == 0 && gw_valid_utf8(in, len) && memchr(in, '\0', len) == NULL &&
			(n != len || memcmp(dec, in, len) != 0))
			fail("unescaping the output does not give the text back", out);
	}
	free(out);
	free(dec);
	return 0;
}
