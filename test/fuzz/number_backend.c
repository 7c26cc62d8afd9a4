/*-------------------------------------------------------------------------
 *
 * number_backend.c
 *		Backend functions referenced by the SQL-callable part of
 *		extension/number.c.  The number fuzzer only calls the pure
 *		ja_normalize_number, so reaching any of these is a bug.  Compiled
 *		without PostgreSQL's headers: only the symbols matter.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

#define UNREACHABLE(name) \
	void name(void); \
	void name(void) { fprintf(stderr, "number_fuzz: %s called\n", #name); abort(); }

UNREACHABLE(cstring_to_text)
UNREACHABLE(text_to_cstring)
UNREACHABLE(deconstruct_array)
UNREACHABLE(errcode)
UNREACHABLE(errfinish)
UNREACHABLE(errhint)
UNREACHABLE(errmsg)
UNREACHABLE(errstart)
UNREACHABLE(errstart_cold)
UNREACHABLE(pg_detoast_datum)
UNREACHABLE(pg_detoast_datum_packed)
