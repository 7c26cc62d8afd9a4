/*
 * bench/peer.sql: the reference JustAuth is measured against.
 *
 * What a team would hand-write in an afternoon with PL/pgSQL and pgcrypto:
 * one row per client holding the API key hash and the whole wallet balance,
 * an otp table with HMAC-SHA256 code hashes, and an outbox for a cron job.
 * No ledger, no per-number limits, no idempotency keys, no test numbers.
 * It has to be correct where it matters (never negative, single use, five
 * wrong guesses), so the comparison is fair.
 */
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP SCHEMA IF EXISTS peer CASCADE;
CREATE SCHEMA peer;

CREATE TABLE peer.secret (k bytea NOT NULL);
INSERT INTO peer.secret VALUES (gen_random_bytes(32));

CREATE TABLE peer.clients (
	client_id text PRIMARY KEY,
	api_key_hash bytea NOT NULL,
	balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0)
);

CREATE TABLE peer.otps (
	otp_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id text NOT NULL REFERENCES peer.clients,
	number text NOT NULL,
	code_hash bytea NOT NULL,
	status text NOT NULL DEFAULT 'pending',
	attempts integer NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);
CREATE INDEX ON peer.otps (client_id, number, created_at);

CREATE TABLE peer.outbox (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	otp_id bigint NOT NULL,
	to_number text NOT NULL,
	code text,
	status text NOT NULL DEFAULT 'queued',
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON peer.outbox (created_at) WHERE status = 'queued';

CREATE FUNCTION peer.create_client(p_client_id text, p_api_key text, p_credits bigint)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO peer.clients VALUES (p_client_id, digest(p_api_key, 'sha256'), p_credits);
$$;

CREATE FUNCTION peer.normalize(p_number text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	d text := regexp_replace(p_number, '[^0-9]', '', 'g');
BEGIN
	IF length(d) = 10 THEN
		d := '91' || d;
	END IF;
	IF d !~ '^91[6-9][0-9]{9}$' THEN
		RETURN NULL;
	END IF;
	RETURN d;
END
$$;

CREATE FUNCTION peer.send_otp(p_client_id text, p_api_key text, p_number text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	num text;
	code text;
	oid_ bigint;
	exp timestamptz := now() + interval '600 seconds';
BEGIN
	PERFORM 1 FROM peer.clients
	  WHERE client_id = p_client_id AND api_key_hash = digest(p_api_key, 'sha256');
	IF NOT FOUND THEN
		RETURN jsonb_build_object('success', false, 'error', 'invalid_credentials');
	END IF;
	num := peer.normalize(p_number);
	IF num IS NULL THEN
		RETURN jsonb_build_object('success', false, 'error', 'invalid_number');
	END IF;
	UPDATE peer.clients SET balance = balance - 1
	 WHERE client_id = p_client_id AND balance > 0;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('success', false, 'error', 'insufficient_balance');
	END IF;
	code := lpad(((('x' || encode(gen_random_bytes(4), 'hex'))::bit(32)::bigint) % 1000000)::text, 6, '0');
	INSERT INTO peer.otps (client_id, number, code_hash, expires_at)
	VALUES (p_client_id, num, hmac(code::bytea, (SELECT k FROM peer.secret), 'sha256'), exp)
	RETURNING otp_id INTO oid_;
	INSERT INTO peer.outbox (otp_id, to_number, code) VALUES (oid_, num, code);
	RETURN jsonb_build_object('success', true, 'message', 'OTP sent',
							  'request_id', oid_, 'expires_in', 600);
END
$$;

CREATE FUNCTION peer.verify_otp(p_client_id text, p_number text, p_otp text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	num text := peer.normalize(p_number);
	r record;
BEGIN
	PERFORM 1 FROM peer.clients WHERE client_id = p_client_id;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('success', false, 'error', 'invalid_credentials');
	END IF;
	IF num IS NULL OR p_otp !~ '^[0-9]{1,20}$' THEN
		RETURN jsonb_build_object('success', false, 'error', 'invalid_request');
	END IF;
	SELECT otp_id, code_hash, status, attempts, expires_at INTO r
	  FROM peer.otps
	 WHERE client_id = p_client_id AND number = num
	 ORDER BY created_at DESC LIMIT 1
	   FOR UPDATE;
	IF NOT FOUND OR r.status <> 'pending' THEN
		RETURN jsonb_build_object('success', false, 'error', 'otp_not_found');
	END IF;
	IF r.expires_at <= now() THEN
		RETURN jsonb_build_object('success', false, 'error', 'otp_expired');
	END IF;
	IF r.attempts >= 5 THEN
		RETURN jsonb_build_object('success', false, 'error', 'max_attempts');
	END IF;
	IF hmac(p_otp::bytea, (SELECT k FROM peer.secret), 'sha256') = r.code_hash THEN
		UPDATE peer.otps SET status = 'approved' WHERE otp_id = r.otp_id;
		RETURN jsonb_build_object('success', true, 'message', 'OTP Verified',
								  'status', 'approved', 'request_id', r.otp_id);
	END IF;
	UPDATE peer.otps SET attempts = attempts + 1 WHERE otp_id = r.otp_id;
	RETURN jsonb_build_object('success', false, 'error', 'invalid_otp',
							  'attempts_left', 4 - r.attempts);
END
$$;
