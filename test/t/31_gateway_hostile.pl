
# Hostile input to the gateway: SQL injection strings, overlong values,
# bad UTF-8, NUL bytes, repeated parameters, oversized URLs, headers and
# bodies, malformed HTTP and slow (slowloris-style) clients.  Every one
# gets a 4xx JSON reply or a closed connection, never a 5xx, and the
# gateway keeps serving real requests throughout.

use strict;
use warnings;
use IO::Socket::INET;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $node = JustAuthGateway::new_cluster('gateway_hostile');
my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 1000);
my $gw = JustAuthGateway->start($node, name => 'hostile',
	args => [ '--threads', '4', '--request-timeout-ms', '1500' ]);
my $n = 0;

# A real send and verify still work.
sub still_serving
{
	my ($name) = @_;
	my $number = sprintf('9198765%05d', 50000 + $n++);
	my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=$number");
	my $code = JustAuthGateway::code_of(JustAuthGateway::json_body($res));
	$res = $gw->request('POST', "/api/v1/verify-otp?client-id=$id&number=$number&otp=" . ($code // 'x'));
	is($res->{status}, 200, "still serving after $name");
}

# Checks a 4xx JSON refusal.
sub refused
{
	my ($res, $name, $status) = @_;
	my $data = JustAuthGateway::json_body($res);
	if ($status)
	{
		is($res->{status}, $status, "$name: HTTP $status");
	}
	else
	{
		ok($res->{status} >= 400 && $res->{status} < 500, "$name: HTTP 4xx")
		  or diag("got $res->{status}: $res->{content}");
	}
	is(ref $data eq 'HASH' && $data->{success}, JSON::PP::false, "$name: JSON refusal")
	  or diag($res->{content});
	return $data;
}

my $clients_before = $node->safe_psql('postgres', 'SELECT count(*) FROM justauth.clients');

# ---- SQL injection: values are parameters, never SQL ----
my @injections = ("' OR '1'='1", "'; DROP TABLE justauth.clients; --",
	"919876543210'); SELECT pg_sleep(10); --", "\$\$; DROP SCHEMA justauth CASCADE; \$\$",
	"1 UNION SELECT api_key_hash FROM justauth.clients");
foreach my $inj (@injections)
{
	my $enc = $inj;
	$enc =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord($1))/ge;
	my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=$enc");
	my $data = refused($res, "injection in number [$inj]", 400);
	is($data->{error}, 'invalid_number', "injection in number [$inj]: invalid_number");
	$res = $gw->request('POST', "/api/v1/send-otp?client-id=$enc&api-key=$key&number=919876543210");
	$data = refused($res, "injection in client-id [$inj]");
	$res = $gw->request('POST', "/api/v1/verify-otp?client-id=$id&number=919876543210&otp=$enc");
	refused($res, "injection in otp [$inj]");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM justauth.clients'), $clients_before,
	'the clients table is intact');
still_serving('SQL injection');

# ---- overlong, bad UTF-8, NUL, control characters, repeats ----
my $long = '9' x 300;
my $data = refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=$long"),
	'a 300-character number', 400);
like($data->{message}, qr/too long/, 'overlong: the message says so');
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=" . ('9' x 5000)),
	'a 5000-character query string', 414);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=" . ('9' x 20000)),
	'a 20000-character URL');
$data = refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=%ff%fe91"),
	'bad UTF-8 in a parameter', 400);
like($data->{message}, qr/UTF-8/, 'bad UTF-8: the message says so');
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=%C0%AF"),
	'an overlong UTF-8 encoding', 400);
$data = refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=9198%0076543210"),
	'a NUL byte (%00) in a parameter', 400);
like($data->{message}, qr/NUL/, 'NUL: the message says so');
refused($gw->request('POST', "/api/v1/verify-otp?client-id=$id&number=919876543210&otp=12%0a3456"),
	'a newline in a parameter', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=%zz"),
	'malformed percent-encoding', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=%4"),
	'truncated percent-encoding', 400);
$data = refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=919876543210&number=919876543211"),
	'a repeated parameter', 400);
like($data->{message}, qr/"number" is given more than once/, 'repeated: the message says so');
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&client-id=$id&number=919876543210"),
	'a repeated identical parameter', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'application/json' },
		content => '{"number":"919876543210","number":"919876543211"}'),
	'a repeated JSON member', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'application/json' },
		content => '{"number":"9198\u000076543210"}'),
	'\\u0000 in a JSON string', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'application/json' },
		content => "{\"number\":\"9198\xff76543210\"}"),
	'raw bad UTF-8 in a JSON body', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'application/json' },
		content => '{"number":["919876543210"]}'),
	'a JSON array value', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'application/json' },
		content => '{"number":"919876543210"'),
	'truncated JSON', 400);
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
		content => "number=9198\x0076543210"),
	'a raw NUL byte in a form body', 400);
{
	my $raw = $gw->raw_request("POST /api/v1/send-otp?client-id=$id&number=919876543210 HTTP/1.1\r\n"
		  . "Host: x\r\nX-Api-Key: sk_test_\xff\xfe\r\nContent-Length: 0\r\n\r\n");
	my ($status, $json) = JustAuthGateway::parse_raw($raw);
	is($status, 400, 'bad UTF-8 in a header: 400');
	is($json->{error}, 'invalid_request', 'bad UTF-8 in a header: invalid_request');
}
still_serving('malformed parameters');

# ---- oversized bodies and headers ----
refused($gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'application/json' },
		content => '{"number":"919876543210","pad":"' . ('x' x 200_000) . '"}'),
	'a 200 kB body', 413);
{
	my $raw = $gw->raw_request("POST /api/v1/send-otp?client-id=$id HTTP/1.1\r\nHost: x\r\n"
		  . "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{\"number\":");
	my ($status, $json) = JustAuthGateway::parse_raw($raw);
	is($status, 413, 'a declared 100 MB body: 413 before reading it');
	is($json->{error}, 'invalid_request', 'a declared 100 MB body: JSON refusal');
}
{
	my $chunk = 'x' x 8192;
	my $body = join('', map { sprintf("%x\r\n%s\r\n", length $chunk, $chunk) } 1 .. 4) . "0\r\n\r\n";
	my $raw = $gw->raw_request("POST /api/v1/send-otp?client-id=$id HTTP/1.1\r\nHost: x\r\n"
		  . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n$body");
	my ($status) = JustAuthGateway::parse_raw($raw);
	is($status, 413, 'a 32 kB chunked body: 413');
}
refused($gw->request('GET', '/healthz', headers => { 'X-Padding' => 'p' x 20000 }),
	'a 20 kB header');
{
	my $raw = $gw->raw_request("GARBAGE\r\n\r\n");
	my ($status, $json) = JustAuthGateway::parse_raw($raw);
	ok($status >= 400 && $status < 500, 'a malformed request line: 4xx');
	is(ref $json eq 'HASH' && $json->{success}, JSON::PP::false, 'a malformed request line: JSON refusal');
}
{
	my $raw = $gw->raw_request("POST /api/v1/send-otp?client-id=$id HTTP/1.1\r\nHost: x\r\n"
		  . "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"a\"");
	my ($status) = JustAuthGateway::parse_raw($raw);
	ok($status == 0 || ($status >= 400 && $status < 500),
		'a body shorter than its Content-Length: 4xx or closed, no 5xx')
	  or diag($raw);
}
still_serving('oversized requests');

# ---- slowloris: slow clients hold at most their own connection ----
{
	my @slow;
	for (1 .. 2)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw->port, Proto => 'tcp')
		  or die "connect: $!";
		$s->autoflush(1);
		print $s "POST /api/v1/send-otp HTTP/1.1\r\nHost: x\r\n";
		push @slow, $s;
	}
	# Dribble a header line on each slow connection while real traffic goes on.
	for my $round (1 .. 3)
	{
		foreach my $s (@slow)
		{
			print $s "X-Slow-$round: a\r\n";
		}
		still_serving("slow clients, round $round");
	}
	# The gateway drops the slow clients once their request timeout passes.
	my $closed = 0;
	foreach my $s (@slow)
	{
		my $buf = '';
		local $SIG{ALRM} = sub { die "slow client was never closed\n" };
		alarm($PostgreSQL::Test::Utils::timeout_default);
		my $got = eval {
			while (1)
			{
				my $r = sysread($s, my $chunk, 4096);
				last if !$r;
				$buf .= $chunk;
			}
			1;
		};
		alarm(0);
		$closed++ if $got;
		close $s;
	}
	is($closed, 2, 'the gateway closes connections of clients too slow to send a request');
}
still_serving('slowloris');

my $metrics = $gw->request('GET', '/metrics')->{content};
unlike($metrics, qr/status="5\d\d"/, 'no request of this test got a 5xx');
is($gw->stop, 0, 'gateway exits 0 on SIGTERM');
unlike($gw->access_log_text . $gw->stderr_text, qr/\Q$key\E/, 'the API key is not in the logs');

$node->stop;
done_testing();
