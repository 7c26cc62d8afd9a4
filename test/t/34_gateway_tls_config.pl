
# Gateway configuration: the HTTPS listener (self-signed certificate made
# here with openssl), configuration by environment variables including a
# bare port, --help and refused configurations, and the replies of
# features left unconfigured (playground, webhook).

use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $bin = $JustAuthGateway::binary;
my $dir = $PostgreSQL::Test::Utils::tmp_check;

# Runs a command, returns (exit status, stdout, stderr).
sub run_cmd
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($? >> 8, $out, $err);
}

# ---- flags ----
my ($rc, $out, $err) = run_cmd($bin, '--help');
is($rc, 0, '--help exits 0');
like($out, qr/--listen=ADDR:PORT.*JUSTAUTH_LISTEN/s, '--help documents --listen and its variable');
like($out, qr/--db=CONNINFO.*JUSTAUTH_DATABASE_URL/s, '--help documents --db and its variable');
like($out, qr/--demo-client-id/, '--help documents the demo client');
($rc, $out, $err) = run_cmd($bin, '--no-such-flag');
is($rc, 2, 'an unknown flag exits 2');
($rc, $out, $err) = run_cmd($bin, '--listen-tls', '127.0.0.1:1');
is($rc, 2, '--listen-tls without a certificate exits 2');
like($err, qr/--tls-cert/, 'and says what is missing');
($rc, $out, $err) = run_cmd($bin, '--threads', 'many');
is($rc, 2, 'a non-numeric --threads exits 2');
($rc, $out, $err) = run_cmd($bin, '--demo-client-id', 'cl_x');
is($rc, 2, 'a demo client id without its key exits 2');

# ---- a self-signed certificate ----
($rc, $out, $err) = run_cmd('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
	'-keyout', "$dir/key.pem", '-out', "$dir/cert.pem", '-days', '2',
	'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
is($rc, 0, 'openssl made a self-signed certificate') or diag($err);

my $node = JustAuthGateway::new_cluster('gateway_tls');
my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 100);
my $tls_port = PostgreSQL::Test::Cluster::get_free_port();
my $gw = JustAuthGateway->start($node, name => 'tls',
	args => [ '--listen-tls', "127.0.0.1:$tls_port",
		'--tls-cert', "$dir/cert.pem", '--tls-key', "$dir/key.pem" ]);
my $https = "https://127.0.0.1:$tls_port";

($rc, $out, $err) = run_cmd('curl', '-sS', '--cacert', "$dir/cert.pem", '-w', '\n%{http_code}', "$https/healthz");
is($rc, 0, 'curl reaches the HTTPS listener with the certificate') or diag($err);
like($out, qr/"status": "ok".*\n200$/s, 'HTTPS healthz: 200');
($rc, $out, $err) = run_cmd('curl', '-sS', '--cacert', "$dir/cert.pem", '-X', 'POST',
	"$https/api/v1/send-otp?client-id=$id&api-key=$key&number=919876543210");
my $data = eval { decode_json($out) };
is($data->{success}, JSON::PP::true, 'send over HTTPS succeeds') or diag($out . $err);
my $code = JustAuthGateway::code_of($data) // 'x';
($rc, $out, $err) = run_cmd('curl', '-sS', '--cacert', "$dir/cert.pem", '-X', 'POST',
	"$https/api/v1/verify-otp?client-id=$id&number=919876543210&otp=$code");
is(eval { decode_json($out)->{message} }, 'OTP Verified', 'verify over HTTPS succeeds');
($rc, $out, $err) = run_cmd('curl', '-sS', "$https/healthz");
isnt($rc, 0, 'curl refuses the self-signed certificate without --cacert (it is really TLS)');
is($gw->request('GET', '/healthz')->{status}, 200, 'the plain listener answers too');

# Features left unconfigured.
my $res = $gw->request('POST', '/playground/send-otp?number=919876543211');
is($res->{status}, 503, 'playground without a demo client: 503');
is(JustAuthGateway::json_body($res)->{error}, 'playground_disabled', 'error playground_disabled');
$res = $gw->request('POST', '/webhooks/whatsapp', content => '{}',
	headers => { 'Content-Type' => 'application/json' });
is($res->{status}, 503, 'webhook POST without an app secret: 503');
is(JustAuthGateway::json_body($res)->{error}, 'webhook_not_configured', 'error webhook_not_configured');
$res = $gw->request('GET', '/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=&hub.challenge=1');
is($res->{status}, 403, 'webhook handshake without a verify token configured: 403');

is($gw->stop, 0, 'TLS gateway exits 0 on SIGTERM');
my @log = map { decode_json($_) } split /\n/, $gw->access_log_text;
ok((grep { $_->{tls} && $_->{path} eq '/api/v1/send-otp' } @log), 'the access log marks HTTPS requests');

# ---- configuration by environment, with a bare port ----
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $env_gw = JustAuthGateway->start($node, name => 'env', port => $port,
	env => {
		JUSTAUTH_LISTEN => $port,
		JUSTAUTH_DATABASE_URL => sprintf('postgresql://gw@/postgres?host=%s&port=%d', $node->host, $node->port),
		JUSTAUTH_DEMO_CLIENT_ID => $id,
		JUSTAUTH_DEMO_API_KEY => $key,
		JUSTAUTH_THREADS => 2,
	});
$res = $env_gw->request('GET', '/healthz');
is($res->{status}, 200, 'configured by environment (bare port, database URI): healthy');
$res = $env_gw->request('POST', '/playground/send-otp?number=919876543212');
is($res->{status}, 200, 'the demo client from the environment serves the playground');
like($env_gw->request('GET', '/metrics')->{content}, qr/^justauth_gateway_worker_threads 2$/m,
	'JUSTAUTH_THREADS sets the pool size');

# SIGHUP reopens the access log (logrotate moved it away).
my $alog = $env_gw->{access_log};
rename($alog, "$alog.1") or die "rename: $!";
$env_gw->{handle}->signal('HUP');
my $reopened = 0;
for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
{
	$env_gw->request('GET', '/healthz');
	if (-s $alog)
	{
		$reopened = 1;
		last;
	}
	select(undef, undef, undef, 0.1);
}
ok($reopened, 'after SIGHUP the access log is written to a new file at its path');
like(slurp_file("$alog.1"), qr{"path":"/playground/send-otp"}, 'the rotated file kept the earlier lines');
is($env_gw->stop, 0, 'exits 0 on SIGTERM');

$node->stop;
done_testing();
