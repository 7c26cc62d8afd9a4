/*-------------------------------------------------------------------------
 *
 * text.c
 *		Byte-level text handling for untrusted input: UTF-8 validation,
 *		strict URL decoding, JSON string escaping, a parser for the flat
 *		JSON objects accepted as request bodies, and GwLine, the buffer the
 *		per-request output is built in.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "gateway.h"

/*
 * True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF).  Parameters go to PostgreSQL as text, which
 * would refuse bad encodings with an error: refuse them here instead.
 */
bool
gw_valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	while (p < end)
	{
		unsigned char c = *p;
		int			n;
		uint32_t	cp;

		if (c < 0x80)
		{
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
		{
			n = 1;
			cp = c & 0x1F;
		}
		else if (c >= 0xE0 && c <= 0xEF)
		{
			n = 2;
			cp = c & 0x0F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			n = 3;
			cp = c & 0x07;
		}
		else
			return false;
		if (end - p <= n)
			return false;
		for (int i = 1; i <= n; i++)
		{
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += n + 1;
	}
	return true;
}

/*
 * Writes in[0..inlen) as the inside of a JSON string into out (always
 * NUL-terminated, truncated to fit).  Bytes that are not valid UTF-8 are
 * written as U+FFFD so the output is always valid JSON.
 */
void
gw_json_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t		o = 0;
	size_t		i = 0;

	if (outlen == 0)
		return;
	while (i < inlen)
	{
		unsigned char c = (unsigned char) in[i];
		char		tmp[8];
		size_t		n;

		if (c == '"' || c == '\\')
		{
			tmp[0] = '\\';
			tmp[1] = (char) c;
			n = 2;
			i++;
		}
		else if (c < 0x20 || c == 0x7F)
		{
			static const char hex[] = "0123456789abcdef";

			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[c >> 4];
			tmp[5] = hex[c & 15];
			n = 6;
			i++;
		}
		else if (c < 0x80)
		{
			tmp[0] = (char) c;
			n = 1;
			i++;
		}
		else
		{
			size_t		seq = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : 2;

			if (i + seq <= inlen && gw_valid_utf8(in + i, seq))
			{
				memcpy(tmp, in + i, seq);
				n = seq;
				i += seq;
			}
			else
			{
				memcpy(tmp, "\\ufffd", 6);
				n = 6;
				i++;
			}
		}
		if (o + n >= outlen)
			break;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
}

/* Value of one hex digit, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes one application/x-www-form-urlencoded component ('+' is a
 * space).  Fails on a malformed %-escape, a NUL byte, control characters,
 * invalid UTF-8 or a result longer than outlen - 1, saying why.
 */
bool
gw_url_decode(const char *in, size_t inlen, char *out, size_t outlen,
			  size_t *outlenp, const char **why)
{
	size_t		o = 0;

	for (size_t i = 0; i < inlen; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (c == '%')
		{
			int			hi,
						lo;

			if (i + 2 >= inlen)
			{
				*why = "malformed percent-encoding";
				return false;
			}
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
			{
				*why = "malformed percent-encoding";
				return false;
			}
			c = (unsigned char) (hi * 16 + lo);
			i += 2;
		}
		else if (c == '+')
			c = ' ';
		if (c == 0)
		{
			*why = "contains a NUL byte";
			return false;
		}
		if (c < 0x20 || c == 0x7F)
		{
			*why = "contains a control character";
			return false;
		}
		if (o + 1 >= outlen)
		{
			*why = "is too long";
			return false;
		}
		out[o++] = (char) c;
	}
	out[o] = '\0';
	if (!gw_valid_utf8(out, o))
	{
		*why = "is not valid UTF-8";
		return false;
	}
	*outlenp = o;
	return true;
}

/* Parser state for gw_json_flat_object. */
typedef struct JsonIn
{
	const char *p;
	const char *end;
} JsonIn;

/* Skips JSON whitespace. */
static void
json_ws(JsonIn *in)
{
	while (in->p < in->end &&
		   (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
		in->p++;
}

/* Appends code point cp as UTF-8; false if it does not fit. */
static bool
put_utf8(char *out, size_t outlen, size_t *o, uint32_t cp)
{
	char		b[4];
	size_t		n;

	if (cp < 0x80)
	{
		b[0] = (char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		b[0] = (char) (0xC0 | (cp >> 6));
		b[1] = (char) (0x80 | (cp & 0x3F));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		b[0] = (char) (0xE0 | (cp >> 12));
		b[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char) (0x80 | (cp & 0x3F));
		n = 3;
	}
	else
	{
		b[0] = (char) (0xF0 | (cp >> 18));
		b[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char) (0x80 | (cp & 0x3F));
		n = 4;
	}
	if (*o + n >= outlen)
		return false;
	memcpy(out + *o, b, n);
	*o += n;
	return true;
}

/* Reads four hex digits of a \u escape. */
static bool
json_hex4(JsonIn *in, uint32_t *cp)
{
	*cp = 0;
	if (in->end - in->p < 4)
		return false;
	for (int i = 0; i < 4; i++)
	{
		int			v = hexval(in->p[i]);

		if (v < 0)
			return false;
		*cp = *cp * 16 + (uint32_t) v;
	}
	in->p += 4;
	return true;
}

/*
 * Reads a JSON string (opening quote already checked) into out, decoding
 * escapes.  NUL (\u0000), control characters and lone surrogates fail.
 */
static bool
json_string(JsonIn *in, char *out, size_t outlen, size_t *outlenp, const char **why)
{
	size_t		o = 0;

	in->p++;
	while (in->p < in->end && *in->p != '"')
	{
		unsigned char c = (unsigned char) *in->p;

		if (c < 0x20)
		{
			*why = "JSON string contains a raw control character";
			return false;
		}
		if (c == '\\')
		{
			uint32_t	cp;

			if (++in->p >= in->end)
				break;
			switch (*in->p++)
			{
				case '"':
					cp = '"';
					break;
				case '\\':
					cp = '\\';
					break;
				case '/':
					cp = '/';
					break;
				case 'b':
					cp = '\b';
					break;
				case 'f':
					cp = '\f';
					break;
				case 'n':
					cp = '\n';
					break;
				case 'r':
					cp = '\r';
					break;
				case 't':
					cp = '\t';
					break;
				case 'u':
					if (!json_hex4(in, &cp))
					{
						*why = "malformed \\u escape in JSON";
						return false;
					}
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						uint32_t	lo;

						if (in->end - in->p < 6 || in->p[0] != '\\' || in->p[1] != 'u')
						{
							*why = "lone surrogate in JSON string";
							return false;
						}
						in->p += 2;
						if (!json_hex4(in, &lo) || lo < 0xDC00 || lo > 0xDFFF)
						{
							*why = "lone surrogate in JSON string";
							return false;
						}
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
					{
						*why = "lone surrogate in JSON string";
						return false;
					}
					break;
				default:
					*why = "unknown escape in JSON string";
					return false;
			}
			if (cp == 0)
			{
				*why = "contains a NUL byte";
				return false;
			}
			if (!put_utf8(out, outlen, &o, cp))
			{
				*why = "is too long";
				return false;
			}
			continue;
		}
		if (o + 1 >= outlen)
		{
			*why = "is too long";
			return false;
		}
		out[o++] = (char) c;
		in->p++;
	}
	if (in->p >= in->end)
	{
		*why = "unterminated JSON string";
		return false;
	}
	in->p++;
	out[o] = '\0';
	*outlenp = o;
	return true;
}

/*
 * Parses a body that must be one flat JSON object whose members are
 * strings, integers, booleans or null, calling cb for each string or
 * integer member (integers are passed as their digits).  The body must
 * already be valid UTF-8 without NUL bytes.
 */
bool
gw_json_flat_object(const char *body, size_t len, gw_json_member_cb cb,
					void *arg, const char **why)
{
	JsonIn		in = {body, body + len};
	char		key[GW_MAX_PARAM_LEN + 1];
	char		value[GW_MAX_PARAM_LEN + 1];
	size_t		klen,
				vlen;
	bool		first = true;

	json_ws(&in);
	if (in.p >= in.end || *in.p != '{')
	{
		*why = "JSON body must be an object";
		return false;
	}
	in.p++;
	for (;;)
	{
		json_ws(&in);
		if (in.p < in.end && *in.p == '}' && first)
		{
			in.p++;
			break;
		}
		if (in.p >= in.end || *in.p != '"')
		{
			*why = "malformed JSON object";
			return false;
		}
		if (!json_string(&in, key, sizeof(key), &klen, why))
			return false;
		json_ws(&in);
		if (in.p >= in.end || *in.p != ':')
		{
			*why = "malformed JSON object";
			return false;
		}
		in.p++;
		json_ws(&in);
		if (in.p >= in.end)
		{
			*why = "malformed JSON object";
			return false;
		}
		if (*in.p == '"')
		{
			if (!json_string(&in, value, sizeof(value), &vlen, why))
				return false;
			if (!cb(key, value, vlen, arg, why))
				return false;
		}
		else if (*in.p >= '0' && *in.p <= '9')
		{
			vlen = 0;
			while (in.p < in.end && *in.p >= '0' && *in.p <= '9' && vlen < GW_MAX_PARAM_LEN)
				value[vlen++] = *in.p++;
			value[vlen] = '\0';
			if (in.p < in.end && (*in.p == '.' || *in.p == 'e' || *in.p == 'E' ||
								  (*in.p >= '0' && *in.p <= '9')))
			{
				*why = "JSON numbers must be plain integers (send codes and numbers as strings)";
				return false;
			}
			if (!cb(key, value, vlen, arg, why))
				return false;
		}
		else if (in.end - in.p >= 4 && memcmp(in.p, "true", 4) == 0)
			in.p += 4;
		else if (in.end - in.p >= 5 && memcmp(in.p, "false", 5) == 0)
			in.p += 5;
		else if (in.end - in.p >= 4 && memcmp(in.p, "null", 4) == 0)
			in.p += 4;
		else
		{
			*why = "JSON body must be a flat object of strings";
			return false;
		}
		first = false;
		json_ws(&in);
		if (in.p < in.end && *in.p == ',')
		{
			in.p++;
			continue;
		}
		if (in.p < in.end && *in.p == '}')
		{
			in.p++;
			break;
		}
		*why = "malformed JSON object";
		return false;
	}
	json_ws(&in);
	if (in.p != in.end)
	{
		*why = "trailing data after the JSON object";
		return false;
	}
	return true;
}

/* Starts a line in buf (size bytes). */
void
gw_line_init(GwLine *l, char *buf, size_t size)
{
	l->p = buf;
	l->end = buf + size;
	l->cut = false;
}

/* Appends n bytes of s, or as many as still fit. */
void
gw_line_put(GwLine *l, const char *s, size_t n)
{
	if (n > (size_t) (l->end - l->p))
	{
		n = (size_t) (l->end - l->p);
		l->cut = true;
	}
	memcpy(l->p, s, n);
	l->p += n;
}

/* Appends a NUL-terminated string. */
void
gw_line_puts(GwLine *l, const char *s)
{
	gw_line_put(l, s, strlen(s));
}

/* Appends value in decimal, zero-padded to at least width (< 20) digits. */
void
gw_line_uint(GwLine *l, unsigned long long value, int width)
{
	char		digits[24];
	int			n = 0;

	do
	{
		digits[sizeof(digits) - 1 - n++] = (char) ('0' + value % 10);
		value /= 10;
	} while (value > 0 || n < width);
	gw_line_put(l, digits + sizeof(digits) - n, (size_t) n);
}
