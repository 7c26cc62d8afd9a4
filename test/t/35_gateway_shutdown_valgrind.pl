
# Graceful shutdown: a request in flight when SIGTERM arrives is finished
# and answered before the gateway exits 0.  Then a run under valgrind
# through every kind of route: no memory error, no definite leak.

use strict;
use warnings;
use Digest::SHA qw(hmac_sha256_hex);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $node = JustAuthGateway::new_cluster('gateway_shutdown');
my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 100);

# ---- SIGTERM with a request in flight ----
{
	my $gw = JustAuthGateway->start($node, name => 'shutdown',
		args => [ '--statement-timeout-ms', '600000' ]);
	my $bg = $node->background_psql('postgres');
	$bg->query_safe('BEGIN; LOCK TABLE justauth.numbers IN ACCESS EXCLUSIVE MODE');
	my ($out, $err) = ('', '');
	my $curl = IPC::Run::start(
		[ 'curl', '-sS', '-X', 'POST', '-w', '\n%{http_code}',
			$gw->base . "/api/v1/send-otp?client-id=$id&api-key=$key&number=919876543210" ],
		'<', \undef, '>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'justauth-gateway' AND wait_event_type = 'Lock'"),
		'the send is waiting in the database');
	$gw->{handle}->signal('TERM');
	# While the send is held, new requests are refused (once the signal
	# has been taken).
	my $refused;
	for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
	{
		$refused = $gw->request('GET', '/healthz');
		last if $refused->{status} == 503;
		select(undef, undef, undef, 0.1);
	}
	is($refused->{status}, 503, 'a request arriving during the shutdown: 503');
	like($refused->{content}, qr/shutting down/, 'saying the server is shutting down');
	# The gateway must wait for the send; let the database finish it.
	$bg->query_safe('ROLLBACK');
	$bg->quit;
	$curl->finish;
	my ($body, $status) = $out =~ /^(.*)\n(\d+)$/s;
	is($status, '200', 'the request in flight at SIGTERM was answered 200') or diag("$out $err");
	is(eval { decode_json($body)->{success} }, JSON::PP::true, 'with the send reply');
	is($gw->stop, 0, 'then the gateway exits 0');
	like($gw->stderr_text, qr/finishing requests in flight.*stopped/s, 'it logged the graceful stop');
	is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), '99', 'the send was committed');
}

# ---- valgrind ----
{
	my ($vout, $verr) = ('', '');
	ok(eval { IPC::Run::run([ 'valgrind', '--version' ], '>', \$vout, '2>', \$verr) },
		'valgrind is installed') or diag('apt-get install valgrind');
	my $vlog = "$PostgreSQL::Test::Utils::log_path/gateway_valgrind.log";
	my $secret = 'valgrind-secret';
	my $gw = JustAuthGateway->start($node, name => 'valgrind',
		wrapper => [ 'valgrind', '--leak-check=full', '--errors-for-leak-kinds=definite',
			'--error-exitcode=99', "--log-file=$vlog" ],
		args => [ '--threads', '2', '--webhook-app-secret', $secret, '--webhook-verify-token', 'vt',
			'--demo-client-id', $id, '--demo-api-key', $key ]);
	my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=919876543211");
	is($res->{status}, 200, 'under valgrind: send');
	my $code = JustAuthGateway::code_of(JustAuthGateway::json_body($res)) // 'x';
	$gw->request('POST', "/api/v1/verify-otp?client-id=$id&number=919876543211&otp=000000");
	$gw->request('POST', '/api/v1/verify-otp', headers => { 'Content-Type' => 'application/json' },
		content => encode_json({ 'client-id' => $id, number => '919876543211', otp => $code }));
	$gw->request('POST', "/playground/send-otp?number=919876543212");
	$gw->request('POST', "/api/v1/send-otp?number=%ff&number=1");
	$gw->request('POST', "/api/v1/send-otp", headers => { 'Content-Type' => 'application/json' },
		content => '{"number": [1]}');
	$gw->request('POST', "/api/v1/send-otp", content => 'x' x 100_000);
	$gw->request('GET', $_) for qw(/healthz /metrics /openapi.json / /nope);
	$gw->request('GET', '/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=42');
	my $body = '{"entry": []}';
	$gw->request('POST', '/webhooks/whatsapp', content => $body,
		headers => { 'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, $secret) });
	$gw->request('POST', '/webhooks/whatsapp', content => $body,
		headers => { 'X-Hub-Signature-256' => 'sha256=00' });
	$res = $gw->request('GET', '/healthz');
	is($res->{status}, 200, 'under valgrind: still healthy after every route');
	is($gw->stop, 0, 'under valgrind: exits 0 (no memory error, no definite leak)')
	  or diag(-f $vlog ? slurp_file($vlog) : 'no valgrind log');
	my $log = -f $vlog ? slurp_file($vlog) : '';
	like($log, qr/ERROR SUMMARY: 0 errors/, 'valgrind reports 0 errors');
}

$node->stop;
done_testing();
