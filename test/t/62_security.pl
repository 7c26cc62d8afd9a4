
# Security properties as end-to-end checks on a real cluster with every
# statement logged (log_statement = 'all', debug1 messages):
#   - a full sandbox and live flow, called the recommended way (bound
#     parameters over the extended protocol, API role with
#     log_parameter_max_length = 0), leaves no API key, code or WhatsApp
#     token in any log: the server's, and the gateway's and its access log
#     when the gateway is built;
#   - the caveat documented in docs/threat-model.md: without that role
#     setting, or with keys written into the SQL text, log_statement = 'all'
#     does log them;
#   - the audit views expose no secret column and no secret value;
#   - the gateway role cannot read any table or view;
#   - a wrong api-key on verify is refused and costs no attempt;
#   - a wrong code's verify takes as long with 5 matching digits as with
#     none (relative medians, wide tolerance; see the comment there).

use strict;
use warnings;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{JUSTAUTH_SRC}
  or BAIL_OUT('JUSTAUTH_SRC is not set (run through test/run-all.sh)');
my $tmp = PostgreSQL::Test::Utils::tempdir('security');

# A Meta-looking access token nobody else uses, to grep for.
my $token = 'EAAJsecurityTest' . join('', map { ('A' .. 'Z')[ int(rand(26)) ] } 1 .. 40);

# ---------------------------------------------------------------------------
# pqx: runs one statement with PQexecParams (extended protocol, values
# bound as parameters, never in the SQL text) and prints the rows, fields
# separated by '|'; an argument \N is NULL.  psql cannot bind parameters before PostgreSQL 16.
# ---------------------------------------------------------------------------
my $pqx = "$tmp/pqx";
{
	open my $fh, '>', "$pqx.c" or die;
	print $fh <<'EOC';
#include <stdio.h>
#include <string.h>
#include <libpq-fe.h>

/* pqx CONNINFO SQL [VALUE...]: one statement with bound parameters; \N is NULL. */
int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	int			ok;

	if (argc < 3)
		return 2;
	for (int i = 3; i < argc; i++)
		if (strcmp(argv[i], "\\N") == 0)
			argv[i] = NULL;
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	res = PQexecParams(conn, argv[2], argc - 3, NULL,
					   (const char *const *) argv + 3, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "%s%s\n", PQresultErrorMessage(res),
				PQresultErrorField(res, PG_DIAG_SQLSTATE));
	for (int r = 0; ok && r < PQntuples(res); r++)
		for (int c = 0; c < PQnfields(res); c++)
			printf("%s%s", PQgetvalue(res, r, c), c + 1 < PQnfields(res) ? "|" : "\n");
	PQclear(res);
	PQfinish(conn);
	return ok ? 0 : 1;
}
EOC
	close $fh;
	my ($inc, $lib, $err) = ('', '', '');
	IPC::Run::run([ 'pg_config', '--includedir' ], '>', \$inc) or die;
	IPC::Run::run([ 'pg_config', '--libdir' ], '>', \$lib) or die;
	chomp($inc, $lib);
	ok(IPC::Run::run([ 'cc', '-o', $pqx, "$pqx.c", "-I$inc", "-L$lib", '-lpq' ], '2>', \$err),
		'libpq helper for bound parameters compiles')
	  or diag($err);
}

# ---------------------------------------------------------------------------
# The cluster.  With the delivery worker and the mock WhatsApp server in the
# tree, live messages really go out with the token in their Authorization
# header; without them they wait in the outbox.
# ---------------------------------------------------------------------------
my $mock_bin = "$src/test/mock/mock-whatsapp";
my $phone_id = '106540352242922';
my ($mock, $mock_port, $mock_out);
if (-x $mock_bin)
{
	$mock_port = PostgreSQL::Test::Cluster::get_free_port();
	$mock = IPC::Run::start(
		[ $mock_bin, '--listen', "127.0.0.1:$mock_port", '--token', $token,
		  '--phone-number-id', $phone_id ],
		'>', \$mock_out, '2>&1');
}
my $http = HTTP::Tiny->new(timeout => 10);
my $mock_url = $mock ? "http://127.0.0.1:$mock_port" : 'http://127.0.0.1:1';

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'justauth'
log_statement = 'all'
log_min_messages = debug1
log_min_error_statement = debug1
log_connections = on
log_disconnections = on
justauth.whatsapp_access_token = '$token'
justauth.database = 'postgres'
justauth.whatsapp_api_url = '$mock_url'
justauth.whatsapp_phone_number_id = '$phone_id'
justauth.whatsapp_template = 'justauth_otp'
justauth.whatsapp_template_language = 'en_US'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION justauth;
	CREATE ROLE gw LOGIN IN ROLE justauth_gateway;
	ALTER ROLE gw SET log_parameter_max_length = 0;
	CREATE ROLE gw_default LOGIN IN ROLE justauth_gateway;
	CREATE ROLE aud LOGIN IN ROLE justauth_auditor;
});
my $worker = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_settings WHERE name = 'justauth.whatsapp_api_url'") eq '1';
note($worker ? 'delivery worker present' : 'no delivery worker: live messages stay queued');
note($mock ? "mock WhatsApp server on port $mock_port" : 'no mock WhatsApp server');

my $connstr = $node->connstr('postgres');

# q_as(role, sql, values...): one statement with bound parameters as role.
sub q_as
{
	my ($role, $sql, @values) = @_;
	my ($out, $err) = ('', '');
	@values = map { $_ // '\N' } @values;
	IPC::Run::run([ $pqx, "$connstr user=$role", $sql, @values ], '>', \$out, '2>', \$err)
	  or die "pqx as $role failed: $err";
	chomp $out;
	return $out;
}

# Same, returning (success, stdout, stderr) instead of dying.
sub try_as
{
	my ($role, $sql, @values) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $pqx, "$connstr user=$role", $sql, @values ],
		'>', \$out, '2>', \$err);
	return ($ok, $out, $err);
}

my $SEND = 'SELECT justauth_send_otp($1, $2, $3, $4)';
my $VERIFY = 'SELECT justauth_verify_otp($1, $2, $3, $4)';
sub send_otp { return decode_json(q_as('gw', $SEND, @_)); }
sub verify_otp { return decode_json(q_as('gw', $VERIFY, @_)); }

# Secrets to look for in the logs: every API key, code and the token.
my @secrets = ([ 'WhatsApp access token', $token ]);

# Clients: ten-digit codes, so a code cannot match a pid or a timestamp by
# chance when the logs are searched for it; no resend limits.
sub new_client
{
	my ($mode, $code_length) = @_;
	$code_length //= 10;
	my ($cid, $key) = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT client_id, api_key FROM justauth_create_client('Security $mode', mode => '$mode')");
	$node->safe_psql('postgres', qq{
		SELECT justauth_deposit('$cid', 100000, 'ref-$cid');
		UPDATE justauth.clients SET code_length = $code_length, resend_cooldown_seconds = 0,
			max_sends_per_window = 1000, max_attempts = 100 WHERE client_id = '$cid'});
	push @secrets, [ "$mode api key", $key ];
	return ($cid, $key);
}

# ---------------------------------------------------------------------------
# Sandbox flow
# ---------------------------------------------------------------------------
my ($scid, $skey) = new_client('sandbox');
my $code_of = sub {
	my ($reply) = @_;
	my ($c) = ($reply->{message_simulated} // '') =~ /code is (\d+)\./;
	return $c;
};

my $r = send_otp($scid, $skey, '919876543210', undef);
my $c1 = $code_of->($r);
ok($r->{success} && defined $c1 && length($c1) == 10, 'sandbox send with bound parameters');
push @secrets, [ 'sandbox code', $c1 ];
is(verify_otp($scid, '919876543210', ($c1 + 1) % 10**10, undef)->{error}, 'invalid_otp',
	'a wrong code is refused');
is(verify_otp($scid, '919876543210', $c1, undef)->{message}, 'OTP Verified', 'the sandbox code verifies');

$r = send_otp($scid, $skey, '+91 98765-43211', 'idem-security-1');
my $c2 = $code_of->($r);
push @secrets, [ 'sandbox code (idempotent send)', $c2 ];
is_deeply(send_otp($scid, $skey, '919876543211', 'idem-security-1'), $r,
	'idempotent replay returns the same reply (sealed code)');
is(verify_otp($scid, '919876543211', $c2, $skey)->{message}, 'OTP Verified',
	'verify with the api key bound as a parameter');

# A wrong key on verify is refused, whatever the code, and costs no attempt.
$r = send_otp($scid, $skey, '919876543212', undef);
my $c3 = $code_of->($r);
push @secrets, [ 'sandbox code (wrong key)', $c3 ];
my $wrong_key = 'sk_test_' . ('x' x 32);
$r = verify_otp($scid, '919876543212', $c3, $wrong_key);
is($r->{error}, 'invalid_credentials', 'verify with a wrong api key is refused (right code)');
is(verify_otp($scid, '919876543212', '0000000000', $wrong_key)->{error}, 'invalid_credentials',
	'verify with a wrong api key is refused (wrong code)');
is($node->safe_psql('postgres', qq{
	SELECT attempts FROM justauth.sessions
	 WHERE client_id = '$scid' AND number = '919876543212' AND status = 'pending'}),
	'0', 'a refused key used up no attempt');
is(verify_otp($scid, '919876543212', $c3, $skey)->{message}, 'OTP Verified',
	'the right key and code still verify');
$node->safe_psql('postgres',
	"UPDATE justauth.clients SET verify_requires_api_key = true WHERE client_id = '$scid'");
$r = send_otp($scid, $skey, '919876543213', undef);
my $c4 = $code_of->($r);
push @secrets, [ 'sandbox code (key required)', $c4 ];
is(verify_otp($scid, '919876543213', $c4, undef)->{error}, 'invalid_credentials',
	'a client requiring the key refuses verify without it');
is(verify_otp($scid, '919876543213', $c4, $skey)->{message}, 'OTP Verified',
	'and accepts it with the key');
$node->safe_psql('postgres',
	"UPDATE justauth.clients SET verify_requires_api_key = false WHERE client_id = '$scid'");

# Key rotation: the new key is a secret too, the old one stops working.
my $skey2 = $node->safe_psql('postgres', "SELECT justauth_rotate_api_key('$scid')");
push @secrets, [ 'rotated api key', $skey2 ];
is(send_otp($scid, $skey, '919876543214', undef)->{error}, 'invalid_credentials',
	'the old key is refused after rotation');
$r = send_otp($scid, $skey2, '919876543214', undef);
push @secrets, [ 'sandbox code (rotated key)', $code_of->($r) ];
ok($r->{success}, 'the rotated key works');

# ---------------------------------------------------------------------------
# Live flow
# ---------------------------------------------------------------------------
my ($lcid, $lkey) = new_client('live');
$r = send_otp($lcid, $lkey, '919812345678', undef);
ok($r->{success} && $r->{message} eq 'OTP sent', 'live send accepted (token configured)');
my $rid = $r->{request_id};
my $lcode = $node->safe_psql('postgres',
	"SELECT code FROM justauth.outbox WHERE session_id = '$rid'");
if ($lcode eq '' && $mock)
{
	# The worker already sent it: the mock saw the code.
	for (1 .. 500)
	{
		my $reqs = decode_json($http->get("$mock_url/_requests")->{content});
		my ($m) = grep { $_->{to} =~ /919812345678/ } @$reqs;
		if ($m)
		{
			$lcode = $m->{body_code};
			ok($m->{auth_ok}, 'the worker authenticated at the mock with the token');
			last;
		}
		usleep(20_000);
	}
}
like($lcode, qr/^\d{10}$/, 'the live code (from the outbox or the mock)');
push @secrets, [ 'live code', $lcode ];
is(verify_otp($lcid, '919812345678', $lcode, undef)->{message}, 'OTP Verified', 'the live code verifies');
if ($mock && $worker)
{
	ok($node->poll_query_until('postgres',
			"SELECT status IN ('sent', 'delivered', 'read') FROM justauth.outbox WHERE session_id = '$rid'"),
		'the worker delivered the live message');
}

# ---------------------------------------------------------------------------
# The gateway, when built: the seed's query-string style, a JSON body and
# credential headers, through its own libpq connection as role gw.
# ---------------------------------------------------------------------------
my @logs = ([ 'server log', $node->logfile ]);
my $gateway = "$src/gateway/justauth-gateway";
if (-x $gateway)
{
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $access = "$tmp/gateway-access.log";
	my $gwlog = "$tmp/gateway.log";
	my $gw = IPC::Run::start(
		[ $gateway, "--listen=127.0.0.1:$port", "--db=$connstr user=gw",
		  "--access-log=$access" ],
		'>', $gwlog, '2>&1');
	my $base = "http://127.0.0.1:$port";
	my $up = 0;
	for (1 .. 200)
	{
		my $h = $http->get("$base/healthz");
		if ($h->{status} == 200) { $up = 1; last; }
		usleep(50_000);
	}
	ok($up, 'gateway answers /healthz');

	my $g = decode_json($http->post(
		"$base/api/v1/send-otp?client-id=$scid&api-key=$skey2&number=919876500001")->{content});
	my $gc = $code_of->($g);
	ok(defined $gc, 'send-otp over HTTP with the key in the query string (seed style)');
	push @secrets, [ 'gateway code (query)', $gc ];
	$g = decode_json($http->post("$base/api/v1/verify-otp?client-id=$scid&number=919876500001&otp=$gc")->{content});
	is($g->{message}, 'OTP Verified', 'verify-otp over HTTP');

	$g = decode_json($http->post("$base/api/v1/send-otp",
			{ headers => { 'Content-Type' => 'application/json' },
			  content => encode_json({ 'client-id' => $scid, 'api-key' => $skey2, number => '919876500002' }) })->{content});
	$gc = $code_of->($g);
	ok(defined $gc, 'send-otp over HTTP with a JSON body');
	push @secrets, [ 'gateway code (json)', $gc ];
	$g = decode_json($http->post("$base/api/v1/verify-otp",
			{ headers => { 'Content-Type' => 'application/json', 'X-Api-Key' => $skey2 },
			  content => encode_json({ 'client-id' => $scid, number => '919876500002', otp => $gc }) })->{content});
	is($g->{message}, 'OTP Verified', 'verify-otp over HTTP with the key in a header');
	$g = $http->post("$base/api/v1/send-otp?client-id=$scid&number=919876500003",
		{ headers => { Authorization => "Bearer $skey2" } });
	push @secrets, [ 'gateway code (bearer)', $code_of->(decode_json($g->{content})) // 'none' ];
	is($g->{status}, 200, 'send-otp over HTTP with a Bearer key');

	$gw->signal('TERM');
	$gw->finish;
	push @logs, [ 'gateway output', $gwlog ], [ 'gateway access log', $access ];
}
else
{
	note('gateway not built: HTTP flow not checked');
}

# ---------------------------------------------------------------------------
# No secret in any log.
# ---------------------------------------------------------------------------
my $log = slurp_file($node->logfile);
like($log, qr/execute [^:]*: SELECT justauth_send_otp\(\$1, \$2, \$3, \$4\)/,
	'log_statement = all logged the API calls (the search below has something to search)');
for my $l (@logs)
{
	my ($what, $file) = @$l;
	my $text = -f $file ? slurp_file($file) : '';
	my @found = grep { $text =~ /(?<![0-9A-Za-z_])\Q$_->[1]\E(?![0-9A-Za-z_])/ } @secrets;
	is(scalar(@found), 0, "no key, code or token in the $what (" . scalar(@secrets) . ' secrets)')
	  or diag('found: ' . join(', ', map { $_->[0] } @found));
}

# The caveat: bound parameters are logged unless log_parameter_max_length
# is 0 for the calling role, and literal SQL text is always logged.
my $demo_key = 'sk_test_LogDemo' . ('q' x 17);
q_as('gw_default', $VERIFY, $scid, '919876543215', '123456', $demo_key);
my $literal_key = 'sk_test_LiteralDemo' . ('z' x 13);
$node->psql('postgres',
	"SELECT justauth_verify_otp('$scid', '919876543215', '123456', '$literal_key')",
	extra_params => [ '-U', 'gw_default' ]);
$log = slurp_file($node->logfile);
like($log, qr/parameters: .*'\Q$demo_key\E'/,
	'caveat holds: without log_parameter_max_length = 0 bound parameters are logged');
like($log, qr/statement: SELECT justauth_verify_otp\(.*\Q$literal_key\E/,
	'caveat holds: literal SQL text with a key is logged');

# ---------------------------------------------------------------------------
# Audit views: no secret column, no secret value.
# ---------------------------------------------------------------------------
my %secret_cols = (
	'clients.api_key_hash' => 1, 'sessions.code_hash' => 1, 'outbox.code' => 1,
	'idempotency_keys.code_sealed' => 1, 'test_numbers.code' => 1);
my @views = split /\n/, $node->safe_psql('postgres', q{
	SELECT table_name FROM information_schema.views WHERE table_schema = 'justauth' ORDER BY 1});
ok(@views >= 5, 'audit views found: ' . join(', ', @views));
my $uses = $node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT view_name || ':' || table_name || '.' || column_name, ' ')
	  FROM information_schema.view_column_usage
	 WHERE view_schema = 'justauth'});
my @bad = grep { my ($t) = /:(.*)$/; $secret_cols{$t} } split / /, $uses;
is(scalar(@bad), 0, 'no audit view reads a secret column') or diag("@bad");
my $view_cols = $node->safe_psql('postgres', q{
	SELECT string_agg(table_name || '.' || column_name, ' ') FROM information_schema.columns
	 WHERE table_schema = 'justauth' AND table_name IN
		   (SELECT table_name FROM information_schema.views WHERE table_schema = 'justauth')
	   AND column_name ~ '(hash|sealed|secret|^api_key$|^code$|token)'});
is($view_cols, '', 'no audit view has a column named like a secret');
my $dump = '';
for my $v (@views)
{
	$dump .= q_as('aud', "SELECT string_agg(v::text, E'\\n') FROM justauth.$v v") . "\n";
}
ok(length($dump) > 200, 'the auditor reads every audit view');
my @in_views = grep { $dump =~ /\Q$_->[1]\E/ } @secrets;
is(scalar(@in_views), 0, 'no key, code or token in any audit view row')
  or diag('found: ' . join(', ', map { $_->[0] } @in_views));
for my $c (sort keys %secret_cols)
{
	my ($t, $col) = split /\./, $c;
	is($node->safe_psql('postgres', "SELECT has_column_privilege('aud', 'justauth.$t', '$col', 'SELECT')"),
		'f', "the auditor cannot read justauth.$c");
}

# ---------------------------------------------------------------------------
# The gateway role reads nothing: every table and view is refused.
# ---------------------------------------------------------------------------
my @rels = split /\n/, $node->safe_psql('postgres', q{
	SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'justauth' AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1});
my @readable;
for my $rel (@rels)
{
	my ($ok, $out, $err) = try_as('gw', "SELECT 1 FROM justauth.$rel LIMIT 1");
	push @readable, $rel if $ok || $err !~ /42501/;
}
ok(@rels >= 10, scalar(@rels) . ' tables and views in schema justauth');
is(scalar(@readable), 0, 'the gateway role is refused (42501) on every table and view')
  or diag("readable or not refused: @readable");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname IN ('justauth', 'public') AND c.relkind IN ('r', 'v', 'm', 'p')
	   AND (has_table_privilege('justauth_gateway', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
			OR has_any_column_privilege('justauth_gateway', c.oid, 'SELECT, INSERT, UPDATE'))}),
	'0', 'justauth_gateway holds no privilege on any relation');

# ---------------------------------------------------------------------------
# Timing of wrong codes (six-digit codes: none vs the first five digits
# matching; the timing run happens after the log search above).  The stored code is an HMAC and the comparison is
# timingsafe_bcmp over the digests, so digits matching the code cannot
# shorten the comparison; what this guards against is a regression to a
# comparison or lookup whose work depends on the guess (early exit on the
# first differing digit, per-digit queries).  A sub-microsecond difference
# is below what a SQL round trip can show, so the test does not pretend to
# see one: it measures each call inside the server (clock_timestamp around
# the call, no network), interleaves the two kinds of guess so drift and
# caches hit both alike, and compares medians, which ignore the outliers a
# busy CI machine produces, with a wide tolerance (ratio within 0.75-1.33).
# ---------------------------------------------------------------------------
my ($tcid, $tkey) = new_client('sandbox', 6);
my $per_kind = 0;
my @ratios;
$node->safe_psql('postgres', 'CREATE TABLE public.timing (kind int, us float8)');
for my $n (0 .. 19)
{
	my $number = sprintf('91987650%04d', $n);
	my $code = $code_of->(send_otp($tcid, $tkey, $number, undef));
	my @d = split //, $code;
	my $five = join('', @d[0 .. 4]) . (($d[5] + 5) % 10);    # first five digits match
	my $none = join('', map { ($_ + 5) % 10 } @d);           # no digit matches
	$node->safe_psql('postgres', qq{
DO \$\$
DECLARE
	t0 timestamptz;
	r jsonb;
BEGIN
	FOR i IN 1 .. 98 LOOP
		t0 := clock_timestamp();
		r := justauth_verify_otp('$tcid', '$number', CASE WHEN i % 2 = 0 THEN '$five' ELSE '$none' END);
		INSERT INTO public.timing VALUES (i % 2, extract(epoch FROM clock_timestamp() - t0) * 1e6);
		IF r->>'error' <> 'invalid_otp' THEN
			RAISE EXCEPTION 'unexpected reply %', r;
		END IF;
	END LOOP;
END
\$\$});
	$per_kind += 49;
}
my ($m_none, $m_five) = split /\|/, $node->safe_psql('postgres', q{
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FILTER (WHERE kind = 1),
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FILTER (WHERE kind = 0)
	  FROM public.timing});
my $ratio = $m_five / $m_none;
note(sprintf('wrong-code verify, median over %d calls each: no digit matching %.1f us, '
	  . 'five digits matching %.1f us, ratio %.3f', $per_kind, $m_none, $m_five, $ratio));
ok($ratio > 0.75 && $ratio < 1.33,
	sprintf('wrong-code verify time does not depend on matching digits (median ratio %.3f)', $ratio));

$node->stop;
$mock->kill_kill if $mock;
done_testing();
