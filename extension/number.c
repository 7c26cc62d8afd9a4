/*-------------------------------------------------------------------------
 *
 * number.c
 *		Phone number normalization to E.164 digits and the per-client
 *		country allow-list.
 *
 * Accepted spellings: "919876543210", "+91 98765-43210", "0091 98765 43210",
 * "(+91) 98765.43210", a bare national number ("9876543210", or with a
 * trunk "0") which gets the client's default country code.  Indian mobiles
 * must be 91 + 10 digits starting 6-9; other numbers 8-15 digits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "justauth.h"

#define E164_MAX_DIGITS 15

PG_FUNCTION_INFO_V1(justauth_normalize_number);

/*
 * valid_e164 checks the length and leading digits of a full number.
 */
static bool
valid_e164(const char *d, size_t n)
{
	if (n < 8 || n > E164_MAX_DIGITS || d[0] == '0')
		return false;
	if (d[0] == '9' && d[1] == '1')
		return n == 12 && d[2] >= '6' && d[2] <= '9';
	return true;
}

/*
 * valid_country_code checks a country code setting: 1-3 digits, no
 * leading zero.
 */
static bool
valid_country_code(const char *cc)
{
	size_t		len = strlen(cc);
	size_t		i;

	if (len < 1 || len > 3 || cc[0] == '0')
		return false;
	for (i = 0; i < len; i++)
		if (cc[i] < '0' || cc[i] > '9')
			return false;
	return true;
}

/*
 * ja_normalize_number writes the E.164 digits (without '+') of in to out
 * and returns true, or returns false when in is not a valid mobile number.
 * Only ASCII digits count: other scripts' digits and letters are refused.
 */
bool
ja_normalize_number(const char *in, const char *default_cc, char *out, size_t outlen)
{
	char		digits[E164_MAX_DIGITS + 4];
	size_t		n = 0;
	bool		international = false;
	const char *p;

	if (!valid_country_code(default_cc))
		return false;

	for (p = in; *p; p++)
	{
		char		c = *p;

		if (c >= '0' && c <= '9')
		{
			if (n >= E164_MAX_DIGITS + 3)
				return false;
			digits[n++] = c;
		}
		else if (c == '+' && n == 0 && !international)
			international = true;
		else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
			continue;
		else
			return false;
	}
	digits[n] = '\0';

	if (!international && n > 2 && digits[0] == '0' && digits[1] == '0')
	{
		/* "00" international call prefix */
		memmove(digits, digits + 2, n - 1);
		n -= 2;
		international = true;
	}

	if (!international)
	{
		size_t		cclen = strlen(default_cc);
		bool		national;

		if (n > 0 && digits[0] == '0')
		{
			/* trunk prefix of a national number */
			memmove(digits, digits + 1, n);
			n--;
			national = true;
		}
		else if (strcmp(default_cc, "91") == 0)
			national = (n == 10);
		else
			national = !(n > cclen && strncmp(digits, default_cc, cclen) == 0);

		if (national)
		{
			if (n + cclen > E164_MAX_DIGITS)
				return false;
			memmove(digits + cclen, digits, n + 1);
			memcpy(digits, default_cc, cclen);
			n += cclen;
		}
	}

	if (!valid_e164(digits, n) || n + 1 > outlen)
		return false;
	memcpy(out, digits, n + 1);
	return true;
}

/*
 * ja_country_allowed tells whether an E.164 number starts with one of the
 * country codes in a text[] datum.  Country codes are a prefix code, so a
 * prefix match identifies the country.
 */
bool
ja_country_allowed(const char *e164, Datum allowed_array)
{
	ArrayType  *arr = DatumGetArrayTypeP(allowed_array);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		text	   *cc;

		if (nulls[i])
			continue;
		cc = DatumGetTextPP(elems[i]);
		if (VARSIZE_ANY_EXHDR(cc) > 0 &&
			strncmp(e164, VARDATA_ANY(cc), VARSIZE_ANY_EXHDR(cc)) == 0)
			return true;
	}
	return false;
}

/*
 * justauth_normalize_number(number, default_country_code) is the SQL face
 * of ja_normalize_number: NULL for an invalid number.
 */
Datum
justauth_normalize_number(PG_FUNCTION_ARGS)
{
	char	   *number = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *cc = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char		out[E164_MAX_DIGITS + 1];

	if (!valid_country_code(cc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid default country code \"%s\"", cc),
				 errhint("Use 1 to 3 digits without a leading zero, e.g. 91.")));
	if (strlen(number) > JA_MAX_PARAM_LEN ||
		!ja_normalize_number(number, cc, out, sizeof(out)))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
