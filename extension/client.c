/*-------------------------------------------------------------------------
 *
 * client.c
 *		Clients: creation, API key rotation, and the lookup plus API key
 *		check that every send and verify starts with.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "justauth.h"

PG_FUNCTION_INFO_V1(justauth_create_client);
PG_FUNCTION_INFO_V1(justauth_rotate_api_key);

#define CLIENT_ID_BYTES 16		/* 128 bits */
#define API_KEY_BYTES 24		/* 192 bits */
#define TOKEN_BUF 64

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr rotate_plan = NULL;
static SPIPlanPtr mode_plan = NULL;

/*
 * ja_keep_plan prepares a statement once per backend and keeps it.
 */
SPIPlanPtr
ja_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/*
 * ja_exec runs a kept plan and raises on any SPI failure, returning the
 * number of rows processed.
 */
uint64
ja_exec(SPIPlanPtr plan, Datum *values, const char *nulls, long limit)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, limit);

	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * api_key_hash hashes an API key into out (32 bytes).
 */
static void
api_key_hash(const char *api_key, uint8 *out)
{
	ja_sha256(api_key, strlen(api_key), out);
}

/* Columns of justauth.clients that every send and verify reads. */
typedef enum ClientColumn
{
	CC_KEY_HASH,
	CC_MODE,
	CC_STATUS,
	CC_FUNDED_AT,
	CC_VERIFY_REQUIRES_KEY,
	CC_CODE_LENGTH,
	CC_TTL,
	CC_MAX_ATTEMPTS,
	CC_COOLDOWN,
	CC_WINDOW_MAX,
	CC_WINDOW_SECONDS,
	CC_PER_MINUTE,
	CC_DEFAULT_CC,
	CC_ALLOWED_CC,
	CC_TEST_NUMBERS,
	CC_NCOLUMNS
} ClientColumn;

static const char *const client_columns[CC_NCOLUMNS] = {
	"api_key_hash", "mode", "status", "funded_at", "verify_requires_api_key",
	"code_length", "code_ttl_seconds", "max_attempts", "resend_cooldown_seconds",
	"max_sends_per_window", "send_window_seconds", "max_sends_per_minute",
	"default_country_code", "allowed_country_codes", "test_number_count"
};

/*
 * client_text_is compares a text column with a constant.
 */
static bool
client_text_is(Datum d, const char *value)
{
	text	   *t = DatumGetTextPP(d);

	return VARSIZE_ANY_EXHDR(t) == strlen(value) &&
		memcmp(VARDATA_ANY(t), value, strlen(value)) == 0;
}

static JaTable clients_table = {"clients", CC_NCOLUMNS, client_columns};

/*
 * ja_load_client reads the client's settings (inside SPI).  Returns false
 * for an unknown client id.  The first step of every send and verify, so
 * a direct primary-key read (direct.c) rather than a statement.
 */
bool
ja_load_client(const char *client_id, JaClient *client)
{
	Datum		key = CStringGetTextDatum(client_id);
	Datum		v[CC_NCOLUMNS];
	bool		n[CC_NCOLUMNS];

	if (!ja_row_fetch(&clients_table, &key, false, v, n, NULL))
		return false;

	memset(client, 0, sizeof(*client));
	if (!n[CC_KEY_HASH])
	{
		bytea	   *hash = DatumGetByteaPP(v[CC_KEY_HASH]);

		if (VARSIZE_ANY_EXHDR(hash) == sizeof(client->key_hash))
			memcpy(client->key_hash, VARDATA_ANY(hash), sizeof(client->key_hash));
	}
	client->live = client_text_is(v[CC_MODE], "live");
	client->suspended = client_text_is(v[CC_STATUS], "suspended");
	client->funded = !n[CC_FUNDED_AT];
	client->verify_requires_key = DatumGetBool(v[CC_VERIFY_REQUIRES_KEY]);
	client->code_length = DatumGetInt32(v[CC_CODE_LENGTH]);
	client->ttl_seconds = DatumGetInt32(v[CC_TTL]);
	client->max_attempts = DatumGetInt32(v[CC_MAX_ATTEMPTS]);
	client->cooldown_seconds = DatumGetInt32(v[CC_COOLDOWN]);
	client->window_max_sends = DatumGetInt32(v[CC_WINDOW_MAX]);
	client->window_seconds = DatumGetInt32(v[CC_WINDOW_SECONDS]);
	client->per_minute_cap = n[CC_PER_MINUTE] ? 0 : DatumGetInt32(v[CC_PER_MINUTE]);
	text_to_cstring_buffer(DatumGetTextPP(v[CC_DEFAULT_CC]), client->default_cc,
						   sizeof(client->default_cc));
	client->allowed_cc = v[CC_ALLOWED_CC];
	client->has_test_numbers = DatumGetInt32(v[CC_TEST_NUMBERS]) != 0;
	return true;
}

/*
 * ja_api_key_matches compares the key's hash with the stored one in
 * constant time.
 */
bool
ja_api_key_matches(const JaClient *client, const char *api_key)
{
	uint8		hash[PG_SHA256_DIGEST_LENGTH];

	api_key_hash(api_key, hash);
	return ja_equal_ct(hash, client->key_hash, sizeof(hash));
}

/*
 * ja_authenticate starts every send and verify: it loads the client, checks
 * the API key (a verify may omit it unless the client requires it), refuses
 * a suspended client and normalizes the number into number (for a send, also
 * against the client's countries).  On refusal it writes the reply and
 * returns false.
 */
bool
ja_authenticate(const char *client_id, const char *api_key, bool verify,
				const char *number_in, JaClient *client, char *number,
				size_t numberlen, JaReply *reply)
{
	if (!ja_load_client(client_id, client))
	{
		/* hash anyway so unknown ids and wrong keys take the same time */
		memset(client, 0, sizeof(*client));
		if (api_key != NULL)
			(void) ja_api_key_matches(client, api_key);
		ja_reply_error(reply, "invalid_credentials", "Invalid client-id or api-key");
		return false;
	}
	if (api_key != NULL ? !ja_api_key_matches(client, api_key) : !verify || client->verify_requires_key)
	{
		ja_reply_error(reply, "invalid_credentials",
					   api_key != NULL ? "Invalid client-id or api-key" :
					   "This client requires the api-key on verify-otp");
		return false;
	}
	if (client->suspended)
	{
		ja_reply_error(reply, "client_suspended", "This client is suspended; contact support");
		return false;
	}
	if (!ja_normalize_number(number_in, client->default_cc, number, numberlen))
	{
		ja_reply_error(reply, "invalid_number",
					   "Invalid phone number: use digits with the country code, e.g. 919876543210");
		return false;
	}
	if (!verify && !ja_country_allowed(number, client->allowed_cc))
	{
		ja_reply_error(reply, "invalid_number",
					   "Sending to this country is not enabled for this client");
		return false;
	}
	return true;
}

/*
 * bytea_datum wraps raw bytes as a bytea datum.
 */
Datum
ja_bytea_datum(const uint8 *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return PointerGetDatum(b);
}

/*
 * key_hint is the last four characters of a key, shown to tell keys apart.
 */
static Datum
key_hint(const char *api_key)
{
	size_t		len = strlen(api_key);

	return CStringGetTextDatum(api_key + (len > 4 ? len - 4 : 0));
}

/*
 * justauth_create_client(name, mode) creates a client with its wallet and
 * returns (client_id, api_key).  The key is returned only here.
 */
Datum
justauth_create_client(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	char	   *mode;
	char		client_id[TOKEN_BUF];
	char		api_key[TOKEN_BUF];
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, BYTEAOID, TEXTOID};
	Datum		values[5];
	Datum		outvals[2];
	bool		outnulls[2] = {false, false};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("client name and mode must not be NULL"),
				 errhint("Call justauth_create_client('Acme', mode => 'sandbox').")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	mode = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strlen(name) == 0 || pg_mbstrlen(name) > 200 || strspn(name, " \t\r\n") == strlen(name))
		ereport(ERROR,
				(errcode(ERRCODE_JA_INVALID_NAME),
				 errmsg("invalid client name"),
				 errhint("Use 1 to 200 characters, not only spaces.")));
	if (strcmp(mode, "live") != 0 && strcmp(mode, "sandbox") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_JA_INVALID_MODE),
				 errmsg("invalid mode \"%s\"", mode),
				 errhint("Use 'live' (codes go to WhatsApp) or 'sandbox' (codes are returned in message_simulated).")));

	InitMaterializedSRF(fcinfo, 0);

	ja_random_token("cl_", CLIENT_ID_BYTES, client_id, sizeof(client_id));
	ja_random_token(strcmp(mode, "live") == 0 ? "sk_live_" : "sk_test_",
					API_KEY_BYTES, api_key, sizeof(api_key));
	api_key_hash(api_key, hash);

	SPI_connect();
	ja_keep_plan(&insert_plan,
			  "WITH c AS (INSERT INTO justauth.clients (client_id, name, mode, api_key_hash, api_key_hint)"
			  "           VALUES ($1, $2, $3, $4, $5) RETURNING client_id)"
			  "INSERT INTO justauth.wallet_shards (client_id, shard)"
			  "     SELECT c.client_id, s FROM c, generate_series(0, " CppAsString2(JA_WALLET_SHARDS) " - 1) s",
			  5, argtypes);
	values[0] = CStringGetTextDatum(client_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(mode);
	values[3] = ja_bytea_datum(hash, sizeof(hash));
	values[4] = key_hint(api_key);
	ja_exec(insert_plan, values, NULL, 0);
	SPI_finish();

	outvals[0] = CStringGetTextDatum(client_id);
	outvals[1] = CStringGetTextDatum(api_key);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, outvals, outnulls);
	explicit_bzero(api_key, sizeof(api_key));
	return (Datum) 0;
}

/*
 * justauth_rotate_api_key(client_id) issues a new key; the old one stops
 * working when this transaction commits.
 */
Datum
justauth_rotate_api_key(PG_FUNCTION_ARGS)
{
	char	   *client_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		api_key[TOKEN_BUF];
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	Oid			argtypes[3] = {TEXTOID, BYTEAOID, TEXTOID};
	Datum		values[3];
	bool		live;
	bool		isnull;
	text	   *result;

	SPI_connect();
	ja_keep_plan(&mode_plan,
			  "SELECT mode = 'live' FROM justauth.clients WHERE client_id = $1 FOR UPDATE",
			  1, argtypes);
	values[0] = CStringGetTextDatum(client_id);
	if (ja_exec(mode_plan, values, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_JA_UNKNOWN_CLIENT),
				 errmsg("client \"%s\" does not exist", client_id),
				 errhint("Create it with justauth_create_client().")));
	live = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	ja_random_token(live ? "sk_live_" : "sk_test_", API_KEY_BYTES, api_key, sizeof(api_key));
	api_key_hash(api_key, hash);
	ja_keep_plan(&rotate_plan,
			  "UPDATE justauth.clients SET api_key_hash = $2, api_key_hint = $3, key_rotated_at = now()"
			  " WHERE client_id = $1",
			  3, argtypes);
	values[1] = ja_bytea_datum(hash, sizeof(hash));
	values[2] = key_hint(api_key);
	ja_exec(rotate_plan, values, NULL, 0);
	SPI_finish();

	result = cstring_to_text(api_key);
	explicit_bzero(api_key, sizeof(api_key));
	PG_RETURN_TEXT_P(result);
}
