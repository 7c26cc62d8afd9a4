/*-------------------------------------------------------------------------
 *
 * secrets.c
 *		Random identifiers, verification codes and the keyed hashes that
 *		stand in for them in tables.
 *
 * Codes are drawn from pg_strong_random without modulo bias and stored
 * only as HMAC-SHA256 under a 256-bit server key.  The key lives in a 0600
 * file in the data directory, created on first use, so no table (and no
 * pg_dump) ever holds it.  API keys are random 192-bit secrets, so a plain
 * SHA-256 is enough to store them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "justauth.h"

#define SERVER_KEY_FILE "justauth_server.key"
#define SERVER_KEY_LEN 32

static uint8 server_key[SERVER_KEY_LEN];
static bool server_key_loaded = false;

static const char base64url_chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * fill_random fills buf from the operating system's strong random source,
 * failing loudly rather than ever falling back to something weaker.
 */
static void
fill_random(void *buf, size_t len)
{
	if (!pg_strong_random(buf, len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
}

/*
 * draw_random fills buf (at most RANDOM_POOL_LEN bytes) from a per-backend
 * pool of strong random bytes that is refilled RANDOM_POOL_LEN bytes at a
 * time: each pg_strong_random call costs about as much as a whole verify's
 * index probe, and every send needs a session id and a code.  Bytes are
 * handed out once and wiped as they go; the pool is filled only in the
 * backend that uses it (the postmaster never draws), so no two processes
 * share it.
 */
#define RANDOM_POOL_LEN 512
static void
draw_random(void *buf, size_t len)
{
	static uint8 pool[RANDOM_POOL_LEN];
	static size_t pool_left = 0;

	Assert(len <= RANDOM_POOL_LEN);
	if (pool_left < len)
	{
		fill_random(pool, RANDOM_POOL_LEN);
		pool_left = RANDOM_POOL_LEN;
	}
	memcpy(buf, pool + RANDOM_POOL_LEN - pool_left, len);
	explicit_bzero(pool + RANDOM_POOL_LEN - pool_left, len);
	pool_left -= len;
}

/*
 * create_server_key writes a fresh key file.  The key is written to a
 * private temporary file and then hard-linked into place: link() never
 * replaces an existing file, so concurrent first uses agree on one key, and
 * nobody can ever read a half-written key.
 */
static void
create_server_key(const char *path)
{
	uint8		key[SERVER_KEY_LEN];
	char		tmppath[MAXPGPATH];
	int			fd;

	snprintf(tmppath, sizeof(tmppath), "%s.tmp.%d", path, MyProcPid);
	unlink(tmppath);
	fd = OpenTransientFilePerm(tmppath, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
							   S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_JA_SERVER_KEY),
				 errmsg("could not create server key file \"%s\": %m", tmppath),
				 errhint("The data directory must be writable by the server.")));
	fill_random(key, sizeof(key));
	if (write(fd, key, sizeof(key)) != sizeof(key) || pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		unlink(tmppath);
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_JA_SERVER_KEY),
				 errmsg("could not write server key file \"%s\": %m", tmppath)));
	}
	explicit_bzero(key, sizeof(key));
	CloseTransientFile(fd);
	if (link(tmppath, path) != 0 && errno != EEXIST)
	{
		int			save_errno = errno;

		unlink(tmppath);
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_JA_SERVER_KEY),
				 errmsg("could not install server key file \"%s\": %m", path)));
	}
	unlink(tmppath);
	fsync_fname(DataDir, true);
	ereport(LOG,
			(errmsg("created server key file \"%s\"", path),
			 errdetail("Codes issued under an earlier key, if any, can no longer be verified."),
			 errhint("Back the key file up with the data directory.")));
}

/*
 * load_server_key reads (creating if needed) the per-cluster HMAC key once
 * per process.  A key file readable by group or others is refused.
 */
static void
load_server_key(void)
{
	char		path[MAXPGPATH];
	struct stat st;
	int			fd;
	ssize_t		n;

	if (server_key_loaded)
		return;

	snprintf(path, sizeof(path), "%s/%s", DataDir, SERVER_KEY_FILE);
	if (stat(path, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode(ERRCODE_JA_SERVER_KEY),
					 errmsg("could not stat server key file \"%s\": %m", path)));
		create_server_key(path);
		if (stat(path, &st) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_JA_SERVER_KEY),
					 errmsg("could not stat server key file \"%s\": %m", path)));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_JA_SERVER_KEY),
				 errmsg("server key file \"%s\" is accessible by group or others", path),
				 errhint("Run chmod 0600 on it.")));

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_JA_SERVER_KEY),
				 errmsg("could not open server key file \"%s\": %m", path)));
	n = read(fd, server_key, SERVER_KEY_LEN);
	CloseTransientFile(fd);
	if (n != SERVER_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_JA_SERVER_KEY),
				 errmsg("server key file \"%s\" is damaged", path),
				 errhint("It must hold exactly %d bytes; restore it from a backup of the data directory.",
						 SERVER_KEY_LEN)));
	server_key_loaded = true;
}

/*
 * This backend's hash contexts, created on first use under a resource owner
 * of their own so they live as long as the backend, not the transaction.
 * Creating a context per call made OpenSSL 3 look SHA-256 up again each time
 * (and, for HMAC, hash both key pads): a fifth of a verify's instructions.
 */
static pg_hmac_ctx *hmac_ctx = NULL;
static pg_cryptohash_ctx *sha256_ctx = NULL;

/*
 * create_hash_contexts creates whichever of the contexts is missing.
 */
static void
create_hash_contexts(void)
{
	static ResourceOwner owner = NULL;
	ResourceOwner save_owner = CurrentResourceOwner;
	MemoryContext save_cxt;

	if (hmac_ctx != NULL && sha256_ctx != NULL)
		return;
	save_cxt = MemoryContextSwitchTo(TopMemoryContext);
	PG_TRY();
	{
		if (owner == NULL)
			owner = ResourceOwnerCreate(NULL, "justauth hash contexts");
		CurrentResourceOwner = owner;
		if (hmac_ctx == NULL)
			hmac_ctx = pg_hmac_create(PG_SHA256);
		if (sha256_ctx == NULL)
			sha256_ctx = pg_cryptohash_create(PG_SHA256);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save_owner;
		MemoryContextSwitchTo(save_cxt);
	}
	PG_END_TRY();
	if (hmac_ctx == NULL || sha256_ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

/*
 * hmac_sha256 computes HMAC-SHA256(server key, a || b) into out.
 *
 * With OpenSSL, initialising with a NULL key reuses the key of the previous
 * initialisation (documented for HMAC_Init_ex), i.e. its precomputed inner
 * and outer states; PostgreSQL's own HMAC has no such reuse and is keyed
 * every time.  A failed computation leaves the context unkeyed.
 */
static void
hmac_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen, uint8 *out)
{
	static bool keyed = false;
	pg_hmac_ctx *ctx;
	int			rc;

	load_server_key();
	create_hash_contexts();
	ctx = hmac_ctx;
#ifdef USE_OPENSSL
	rc = keyed ? pg_hmac_init(ctx, NULL, 0) : pg_hmac_init(ctx, server_key, SERVER_KEY_LEN);
#else
	rc = pg_hmac_init(ctx, server_key, SERVER_KEY_LEN);
#endif
	keyed = false;
	if (rc < 0 ||
		pg_hmac_update(ctx, a, alen) < 0 ||
		pg_hmac_update(ctx, b, blen) < 0 ||
		pg_hmac_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA256: %s", pg_hmac_error(ctx))));
	keyed = true;
}

/*
 * ja_random_token writes prefix followed by nbytes random bytes in
 * unpadded base64url, e.g. "cl_" + 22 characters for 16 bytes.
 */
void
ja_random_token(const char *prefix, int nbytes, char *out, size_t outlen)
{
	uint8		raw[64];
	size_t		plen = strlen(prefix);
	size_t		pos;
	int			i;

	Assert(nbytes <= (int) sizeof(raw));
	if (outlen < plen + (nbytes * 4 + 2) / 3 + 1)
		elog(ERROR, "token buffer too small");
	fill_random(raw, nbytes);
	memcpy(out, prefix, plen);
	pos = plen;
	for (i = 0; i < nbytes; i += 3)
	{
		uint32		v = (uint32) raw[i] << 16;
		int			left = nbytes - i;

		if (left > 1)
			v |= (uint32) raw[i + 1] << 8;
		if (left > 2)
			v |= raw[i + 2];
		out[pos++] = base64url_chars[(v >> 18) & 63];
		out[pos++] = base64url_chars[(v >> 12) & 63];
		if (left > 1)
			out[pos++] = base64url_chars[(v >> 6) & 63];
		if (left > 2)
			out[pos++] = base64url_chars[v & 63];
	}
	out[pos] = '\0';
	explicit_bzero(raw, sizeof(raw));
}

/*
 * ja_generate_code writes a uniformly distributed code of length decimal
 * digits (4..10) into out.  Draws at or above the largest multiple of
 * 10^length below 2^64 are rejected, so no code is likelier than another.
 */
void
ja_generate_code(int length, char *out)
{
	uint64		modulus = 1;
	uint64		limit;
	uint64		r;
	int			i;

	Assert(length >= 4 && length <= 10);
	for (i = 0; i < length; i++)
		modulus *= 10;
	limit = PG_UINT64_MAX - (PG_UINT64_MAX % modulus);
	do
	{
		draw_random(&r, sizeof(r));
	} while (r >= limit);
	r %= modulus;
	for (i = length - 1; i >= 0; i--)
	{
		out[i] = '0' + (char) (r % 10);
		r /= 10;
	}
	out[length] = '\0';
}

/*
 * ja_sha256 hashes data (used for API keys, which are high-entropy).
 */
void
ja_sha256(const char *data, size_t len, uint8 *out)
{
	pg_cryptohash_ctx *ctx;

	create_hash_contexts();
	ctx = sha256_ctx;
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256: %s", pg_cryptohash_error(ctx))));
}

/*
 * ja_code_hmac computes the stored form of a code.  Binding the session id
 * into the message means equal codes of different sessions hash apart.
 */
void
ja_code_hmac(const pg_uuid_t *session, const char *code, uint8 *out)
{
	uint8		msg[5 + UUID_LEN];

	memcpy(msg, "code:", 5);
	memcpy(msg + 5, session->data, UUID_LEN);
	hmac_sha256(msg, sizeof(msg), (const uint8 *) code, strlen(code), out);
}

/*
 * ja_seal_code encrypts (or, applied again, decrypts) a code of len bytes
 * with a keystream HMAC(server key, "seal:" || session).  Each session id is
 * used once, so the keystream never repeats.
 */
void
ja_seal_code(const pg_uuid_t *session, const char *code, uint8 *out, size_t len)
{
	uint8		stream[PG_SHA256_DIGEST_LENGTH];
	size_t		i;

	Assert(len <= sizeof(stream));
	hmac_sha256((const uint8 *) "seal:", 5, session->data, UUID_LEN, stream);
	for (i = 0; i < len; i++)
		out[i] = ((const uint8 *) code)[i] ^ stream[i];
	explicit_bzero(stream, sizeof(stream));
}

/*
 * ja_equal_ct compares two digests in time independent of their contents.
 */
bool
ja_equal_ct(const uint8 *a, const uint8 *b, size_t len)
{
	return timingsafe_bcmp(a, b, len) == 0;
}

/*
 * ja_session_uuid makes a version 7 UUID (RFC 9562): the Unix time in
 * milliseconds, then 74 strong random bits.  Session ids are keys of three
 * indexes written by every send (sessions, its debit, its message); ids
 * that grow with time land on the right-most leaf of each instead of on a
 * random one, so those indexes stay dense and their hot pages few.  The
 * random part still makes ids unguessable; only the send time is visible.
 */
void
ja_session_uuid(pg_uuid_t *uuid, TimestampTz now)
{
	uint64		ms = (uint64) (now / 1000) +
		(uint64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
	int			i;

	draw_random(uuid->data + 6, UUID_LEN - 6);
	for (i = 0; i < 6; i++)
		uuid->data[i] = (uint8) (ms >> (8 * (5 - i)));
	uuid->data[6] = (uuid->data[6] & 0x0f) | 0x70;
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;
}
