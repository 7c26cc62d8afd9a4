
# The HTTP gateway end to end: the product page's three code samples
# (JavaScript fetch, Python requests, curl) unchanged but for the base URL,
# every error code of the SQL API mapped to its HTTP status, the other ways
# to pass parameters and credentials, replies checked against
# /openapi.json, and an access log free of secrets.

use strict;
use warnings;
use File::Temp qw(tempdir);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $node = JustAuthGateway::new_cluster('gateway_api');
my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 1000);
my ($demo_id, $demo_key) = JustAuthGateway::create_client($node, 'Demo', 'sandbox', 100);
my $gw = JustAuthGateway->start($node, name => 'api',
	args => [ '--demo-client-id', $demo_id, '--demo-api-key', $demo_key ]);
my $base = $gw->base;
my $dir = tempdir(DIR => $PostgreSQL::Test::Utils::tmp_check, CLEANUP => 1);
my @codes;    # every code seen, to look for in the access log

my $openapi = JustAuthGateway::json_body($gw->request('GET', '/openapi.json'));
is(ref $openapi, 'HASH', 'GET /openapi.json is JSON');
like($openapi->{openapi} // '', qr/^3\./, 'it is an OpenAPI 3 document');

# Validates a reply against the OpenAPI document and returns its JSON.
sub checked
{
	my ($method, $path, $res, $name) = @_;
	JustAuthGateway::validate_response($openapi, $method, $path, $res, $name);
	return JustAuthGateway::json_body($res);
}

# Runs a command, returns (exit status, stdout, stderr).
sub run_cmd
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($? >> 8, $out, $err);
}

# The samples of the product page, verbatim; only the base URL and the
# placeholders for the credentials are substituted.
sub sample
{
	my ($text, $client_id, $api_key) = @_;
	$text =~ s{https://otp\.justauth\.in}{$base}g;
	$text =~ s/YOUR_CLIENT_ID/$client_id/g;
	$text =~ s/YOUR_API_KEY/$api_key/g;
	return $text;
}

my $js_sample = <<'JS';
// 1. Send OTP to user's WhatsApp
async function sendVerification(phoneNumber) {
const url = `https://otp.justauth.in/api/v1/send-otp?client-id=YOUR_CLIENT_ID&api-key=YOUR_API_KEY&number=${phoneNumber}`;
const response = await fetch(url, { method: 'POST' });
const data = await response.json();
if (response.ok) {
console.log('OTP sent successfully!', data);
} else {
console.error('Failed to send OTP:', data.message);
}
}
// 2. Verify code entered by user
async function verifyCode(phoneNumber, code) {
const url = `https://otp.justauth.in/api/v1/verify-otp?client-id=YOUR_CLIENT_ID&number=${phoneNumber}&otp=${code}`;
const response = await fetch(url, { method: 'POST' });
const data = await response.json();
if (response.ok && data.success) {
console.log('User verified successfully!');
} else {
console.error('Verification failed:', data.message);
}
}
JS

my $py_sample = <<'PY';
import requests
# 1. Send OTP to user's WhatsApp
def send_verification(phone_number):
    url = f"https://otp.justauth.in/api/v1/send-otp?client-id=YOUR_CLIENT_ID&api-key=YOUR_API_KEY&number={phone_number}"
    response = requests.post(url)
    data = response.json()
    if response.status_code == 200:
        print("OTP sent successfully!", data)
    else:
        print("Failed to send OTP:", data.get("message"))
# 2. Verify code entered by user
def verify_code(phone_number, code):
    url = f"https://otp.justauth.in/api/v1/verify-otp?client-id=YOUR_CLIENT_ID&number={phone_number}&otp={code}"
    response = requests.post(url)
    data = response.json()
    if response.status_code == 200 and data.get("success"):
        print("User verified successfully!")
    else:
        print("Verification failed:", data.get("message"))
PY

my $curl_sample = <<'SH';
# 1. Send OTP Request
curl -X POST "https://otp.justauth.in/api/v1/send-otp?client-id=YOUR_CLIENT_ID&api-key=YOUR_API_KEY&number=919876543210"
# 2. Verify OTP Request
curl -X POST "https://otp.justauth.in/api/v1/verify-otp?client-id=YOUR_CLIENT_ID&number=919876543210&otp=582931"
SH

# ---- JavaScript (Node's built-in fetch) ----
{
	my $number = '919876543201';
	my $js = sample($js_sample, $id, $key);
	open(my $fh, '>', "$dir/send.js") or die;
	print $fh $js, "sendVerification(process.argv[2]);\n";
	close $fh;
	open($fh, '>', "$dir/verify.js") or die;
	print $fh $js, "verifyCode(process.argv[2], process.argv[3]);\n";
	close $fh;
	my ($rc, $out, $err) = run_cmd('node', "$dir/send.js", $number);
	like($out, qr/OTP sent successfully!/, 'JS sample: send succeeds') or diag($err);
	my ($code) = $out =~ /Your verification code is (\d{6})\./;
	ok(defined $code, 'JS sample: the sandbox code is in message_simulated');
	push @codes, $code if $code;
	($rc, $out, $err) = run_cmd('node', "$dir/verify.js", $number, '000000');
	like($err, qr/Verification failed: Invalid OTP/, 'JS sample: a wrong code is refused');
	($rc, $out, $err) = run_cmd('node', "$dir/verify.js", $number, $code // '');
	like($out, qr/User verified successfully!/, 'JS sample: the right code verifies') or diag($err);
}

# ---- Python requests ----
{
	my $number = '919876543202';
	my $py = sample($py_sample, $id, $key);
	open(my $fh, '>', "$dir/sample.py") or die;
	print $fh $py,
	  "import sys\nif sys.argv[1] == 'send':\n    send_verification(sys.argv[2])\nelse:\n    verify_code(sys.argv[2], sys.argv[3])\n";
	close $fh;
	my ($rc, $out, $err) = run_cmd('/usr/bin/python3', "$dir/sample.py", 'send', $number);
	like($out, qr/OTP sent successfully!/, 'Python sample: send succeeds') or diag($err);
	my ($code) = $out =~ /Your verification code is (\d{6})\./;
	ok(defined $code, 'Python sample: the sandbox code is in message_simulated');
	push @codes, $code if $code;
	($rc, $out, $err) = run_cmd('/usr/bin/python3', "$dir/sample.py", 'verify', $number, $code // '');
	like($out, qr/User verified successfully!/, 'Python sample: the right code verifies') or diag($err);
	($rc, $out, $err) = run_cmd('/usr/bin/python3', "$dir/sample.py", 'verify', $number, $code // '');
	like($out, qr/Verification failed:/, 'Python sample: a code verifies only once');
}

# ---- curl (its own client: the sample hard-codes 919876543210) ----
{
	my ($curl_id, $curl_key) = JustAuthGateway::create_client($node, 'Curl', 'sandbox', 10);
	my @lines = grep { /^curl / } split /\n/, sample($curl_sample, $curl_id, $curl_key);
	is(scalar @lines, 2, 'two curl commands in the sample');
	my ($rc, $out, $err) = run_cmd('sh', '-c', "$lines[0] -sS");
	is($rc, 0, 'curl sample: send exits 0');
	my $data = eval { decode_json($out) };
	is($data->{success}, JSON::PP::true, 'curl sample: send succeeds') or diag($out . $err);
	my $code = JustAuthGateway::code_of($data);
	ok(defined $code, 'curl sample: the code is in message_simulated');
	push @codes, $code if $code;
	(my $verify = $lines[1]) =~ s/otp=582931/otp=$code/ if $code;
	($rc, $out, $err) = run_cmd('sh', '-c', "$verify -sS -w '\\n%{http_code}'");
	my ($body, $status) = $out =~ /^(.*)\n(\d+)$/s;
	is($status, '200', 'curl sample: verify answers 200');
	is(eval { decode_json($body)->{message} }, 'OTP Verified', 'curl sample: "OTP Verified"');
}

# ---- every error code and its status ----
my $n = 0;
sub fresh_number { return sprintf('9198765%05d', 40000 + $n++) }

sub send_otp
{
	my ($client, $apikey, $number, %opt) = @_;
	my $path = "/api/v1/send-otp?client-id=$client&api-key=$apikey&number=$number";
	my $res = $gw->request('POST', $path, %opt);
	return ($res, checked('POST', $path, $res, $opt{name} // "send to $number"));
}

sub verify_otp
{
	my ($client, $number, $otp, %opt) = @_;
	my $path = "/api/v1/verify-otp?client-id=$client&number=$number&otp=$otp";
	my $res = $gw->request('POST', $path, %opt);
	return ($res, checked('POST', $path, $res, $opt{name} // "verify $number"));
}

sub expect_error
{
	my ($res, $data, $status, $error, $name) = @_;
	is($res->{status}, $status, "$name: HTTP $status");
	is($data->{error}, $error, "$name: error $error");
	is($data->{success}, JSON::PP::false, "$name: success false");
}

my ($res, $data);
my $num = fresh_number();
($res, $data) = send_otp($id, $key, $num, name => 'sandbox send');
is($res->{status}, 200, 'send: 200');
like($res->{headers}{'content-type'}, qr{^application/json}, 'send: JSON content type');
like($data->{message_simulated}, qr/^Your verification code is \d{6}\. It will expire in 2 minutes$/,
	'send: the seed wording');
my $code = JustAuthGateway::code_of($data);
push @codes, $code;

($res, $data) = send_otp($id, $key, $num, name => 'resend within cooldown');
expect_error($res, $data, 429, 'rate_limited', 'resend within cooldown');
ok($data->{retry_after} > 0, 'rate_limited carries retry_after');
is($res->{headers}{'retry-after'}, $data->{retry_after}, 'Retry-After header = retry_after');

($res, $data) = verify_otp($id, $num, $code eq '000000' ? '111111' : '000000', name => 'wrong code');
expect_error($res, $data, 400, 'invalid_otp', 'wrong code');
is($data->{attempts_left}, 4, 'invalid_otp carries attempts_left');

($res, $data) = verify_otp($id, $num, $code, name => 'right code');
is($res->{status}, 200, 'verify: 200');
is($data->{message}, 'OTP Verified', 'verify: "OTP Verified"');
is($data->{status}, 'approved', 'verify: status approved');

($res, $data) = verify_otp($id, $num, $code, name => 'code used twice');
expect_error($res, $data, 404, 'otp_not_found', 'code used twice');

($res, $data) = verify_otp($id, fresh_number(), '123456', name => 'nothing sent');
expect_error($res, $data, 404, 'otp_not_found', 'nothing sent');

($res, $data) = send_otp($id, $key, '12', name => 'bad number');
expect_error($res, $data, 400, 'invalid_number', 'bad number');

($res, $data) = send_otp($id, 'sk_test_wrong', fresh_number(), name => 'wrong key');
expect_error($res, $data, 401, 'invalid_credentials', 'wrong key');

($res, $data) = send_otp('cl_doesnotexist000000000', $key, fresh_number(), name => 'unknown client');
expect_error($res, $data, 401, 'invalid_credentials', 'unknown client');

{
	my ($sid, $skey) = JustAuthGateway::create_client($node, 'Suspended', 'sandbox', 10);
	$node->safe_psql('postgres', "SELECT justauth.justauth_set_client_status('$sid', 'suspended')");
	($res, $data) = send_otp($sid, $skey, fresh_number(), name => 'suspended client');
	expect_error($res, $data, 403, 'client_suspended', 'suspended client');
}
{
	my ($uid, $ukey) = JustAuthGateway::create_client($node, 'Unfunded', 'sandbox');
	($res, $data) = send_otp($uid, $ukey, fresh_number(), name => 'never funded');
	expect_error($res, $data, 402, 'wallet_not_funded', 'never funded');
}
{
	my ($pid, $pkey) = JustAuthGateway::create_client($node, 'Poor', 'sandbox', 1);
	($res, $data) = send_otp($pid, $pkey, fresh_number(), name => 'last credit');
	is($res->{status}, 200, 'the last credit pays for a send');
	($res, $data) = send_otp($pid, $pkey, fresh_number(), name => 'empty wallet');
	expect_error($res, $data, 402, 'insufficient_balance', 'empty wallet');
}
{
	my ($lid, $lkey) = JustAuthGateway::create_client($node, 'Live', 'live', 10);
	($res, $data) = send_otp($lid, $lkey, fresh_number(), name => 'live without WhatsApp token');
	expect_error($res, $data, 503, 'delivery_not_configured', 'live without WhatsApp token');
	is($node->safe_psql('postgres', "SELECT justauth_balance('$lid')"), '10',
		'delivery_not_configured debits nothing');
}

# Idempotency-Key header: replay returns the same reply, no second debit.
{
	my $inum = fresh_number();
	my $before = $node->safe_psql('postgres', "SELECT justauth_balance('$id')");
	my ($r1, $d1) = send_otp($id, $key, $inum, headers => { 'Idempotency-Key' => 'order-42' },
		name => 'idempotent send');
	my ($r2, $d2) = send_otp($id, $key, $inum, headers => { 'Idempotency-Key' => 'order-42' },
		name => 'idempotent replay');
	is($r1->{status}, 200, 'idempotent send: 200');
	is($r2->{status}, 200, 'idempotent replay: 200');
	is($d2->{request_id}, $d1->{request_id}, 'replay returns the same request_id');
	is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), $before - 1,
		'replay debits nothing more');
	push @codes, JustAuthGateway::code_of($d1);
	my ($r3, $d3) = send_otp($id, $key, fresh_number(),
		headers => { 'Idempotency-Key' => 'order-42' }, name => 'key reused for another number');
	expect_error($r3, $d3, 409, 'idempotency_conflict', 'key reused for another number');
}

# Expired, superseded and too many attempts.
{
	my $enum = fresh_number();
	my (undef, $d) = send_otp($id, $key, $enum, name => 'send to expire');
	my $c = JustAuthGateway::code_of($d);
	push @codes, $c;
	$node->safe_psql('postgres',
		"UPDATE justauth.sessions SET expires_at = now() - interval '1 second' WHERE session_id = '$d->{request_id}'");
	($res, $data) = verify_otp($id, $enum, $c, name => 'expired code');
	expect_error($res, $data, 410, 'otp_expired', 'expired code');

	$node->safe_psql('postgres', "UPDATE justauth.clients SET resend_cooldown_seconds = 0 WHERE client_id = '$id'");
	my $snum = fresh_number();
	my (undef, $first) = send_otp($id, $key, $snum, name => 'first code');
	my (undef, $second) = send_otp($id, $key, $snum, name => 'second code');
	my ($c1, $c2) = (JustAuthGateway::code_of($first), JustAuthGateway::code_of($second));
	push @codes, $c1, $c2;
	SKIP:
	{
		skip 'the two random codes happen to be equal', 3 if $c1 eq $c2;
		($res, $data) = verify_otp($id, $snum, $c1, name => 'superseded code');
		expect_error($res, $data, 410, 'otp_superseded', 'superseded code');
	}
	my $mnum = fresh_number();
	my (undef, $m) = send_otp($id, $key, $mnum, name => 'send for max attempts');
	my $mc = JustAuthGateway::code_of($m);
	push @codes, $mc;
	my $wrong = $mc eq '000000' ? '111111' : '000000';
	verify_otp($id, $mnum, $wrong, name => "wrong guess $_") for 1 .. 5;
	($res, $data) = verify_otp($id, $mnum, $mc, name => 'right code after 5 wrong');
	expect_error($res, $data, 429, 'max_attempts', 'right code after 5 wrong');
}

# ---- other ways to pass parameters ----
{
	my $hnum = fresh_number();
	$res = $gw->request('POST', '/api/v1/send-otp',
		headers => { 'X-Client-Id' => $id, 'X-Api-Key' => $key,
			'Content-Type' => 'application/json' },
		content => encode_json({ number => $hnum }));
	$data = checked('POST', '/api/v1/send-otp', $res, 'headers + JSON body');
	is($res->{status}, 200, 'credentials in X-Client-Id/X-Api-Key, number in a JSON body');
	my $c = JustAuthGateway::code_of($data);
	push @codes, $c;
	$res = $gw->request('POST', '/api/v1/verify-otp',
		headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
		content => "client-id=$id&number=%2B91%2098765-" . substr($hnum, 7) . "&otp=$c&api-key=$key");
	$data = checked('POST', '/api/v1/verify-otp', $res, 'form body');
	is($res->{status}, 200, 'verify with a form body (number with + and spaces, api-key given)');

	my $bnum = fresh_number();
	$res = $gw->request('POST', "/api/v1/send-otp?number=$bnum",
		headers => { 'X-Client-Id' => $id, 'Authorization' => "Bearer $key" });
	$data = checked('POST', '/api/v1/send-otp', $res, 'Bearer');
	is($res->{status}, 200, 'API key as Authorization: Bearer');
	push @codes, JustAuthGateway::code_of($data);

	$res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&number=$bnum",
		headers => { 'Authorization' => "Basic Zm9vOmJhcg==" });
	$data = checked('POST', '/api/v1/send-otp', $res, 'Basic auth');
	expect_error($res, $data, 401, 'invalid_credentials', 'Authorization that is not Bearer');

	$res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=$bnum",
		headers => { 'X-Api-Key' => $key });
	$data = checked('POST', '/api/v1/send-otp', $res, 'key twice');
	expect_error($res, $data, 400, 'invalid_request', 'API key in the query and in a header');
	like($data->{message}, qr/api-key.*more than once/, 'the message names the duplicated parameter');

	$res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key",
		headers => { 'Content-Type' => 'text/plain' }, content => "number=$bnum");
	$data = checked('POST', '/api/v1/send-otp', $res, 'text/plain body');
	expect_error($res, $data, 415, 'invalid_request', 'a text/plain body');

	$res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&number=$bnum");
	$data = checked('POST', '/api/v1/send-otp', $res, 'no key');
	expect_error($res, $data, 400, 'invalid_request', 'no API key at all');
	like($data->{message}, qr/"api-key" is required/, 'the message names the missing parameter');

	$res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=");
	$data = checked('POST', '/api/v1/send-otp', $res, 'empty number');
	expect_error($res, $data, 400, 'invalid_request', 'an empty number');
}

# ---- playground API with the demo client ----
{
	my $pnum = fresh_number();
	$res = $gw->request('POST', "/playground/send-otp?number=$pnum");
	$data = checked('POST', '/playground/send-otp', $res, 'playground send');
	is($res->{status}, 200, 'playground send: 200');
	my $c = JustAuthGateway::code_of($data);
	push @codes, $c;
	$res = $gw->request('POST', "/playground/verify-otp?number=$pnum&otp=$c");
	$data = checked('POST', '/playground/verify-otp', $res, 'playground verify');
	is($data->{message}, 'OTP Verified', 'playground verify: "OTP Verified"');
	is($node->safe_psql('postgres', "SELECT justauth_balance('$demo_id')"), '99',
		'the playground spends the demo client\'s credits');
	$res = $gw->request('POST', "/playground/send-otp?number=$pnum");
	$data = checked('POST', '/playground/send-otp', $res, 'playground resend');
	expect_error($res, $data, 429, 'rate_limited', 'playground is rate-limited like any client');
}

# ---- methods, unknown paths, health, metrics ----
$res = $gw->request('GET', '/api/v1/send-otp');
is($res->{status}, 405, 'GET /api/v1/send-otp: 405');
is($res->{headers}{allow}, 'POST', '405 carries Allow: POST');
is(JustAuthGateway::json_body($res)->{error}, 'method_not_allowed', '405 body is JSON');
$res = $gw->request('DELETE', '/healthz');
is($res->{status}, 405, 'DELETE /healthz: 405');
is($res->{headers}{allow}, 'GET, HEAD', 'Allow: GET, HEAD');
$res = $gw->request('GET', '/api/v2/send-otp');
is($res->{status}, 404, 'unknown path: 404');
is(JustAuthGateway::json_body($res)->{error}, 'not_found', '404 body is JSON');
$res = $gw->request('GET', '/healthz');
checked('GET', '/healthz', $res, 'healthz');
is($res->{status}, 200, 'healthz: 200 with the database up');
$res = $gw->request('GET', '/');
is($res->{status}, 200, 'GET / serves the playground');
like($res->{headers}{'content-type'}, qr{^text/html}, 'as HTML');

$res = $gw->request('GET', '/metrics');
is($res->{status}, 200, 'metrics: 200');
like($res->{content}, qr/^justauth_gateway_requests_total\{route="send_otp",status="200"\} \d+$/m,
	'metrics count requests by route and status');
like($res->{content}, qr/^justauth_gateway_requests_total\{route="send_otp",status="429"\} \d+$/m,
	'refusals are counted under their status');
like($res->{content}, qr/^justauth_gateway_request_duration_seconds_bucket\{route="verify_otp",le="\+Inf"\} \d+$/m,
	'metrics have a latency histogram');
like($res->{content}, qr/^justauth_gateway_db_connections [1-9]\d*$/m, 'metrics show open database connections');
like($res->{content}, qr/^justauth_gateway_worker_threads \d+$/m, 'metrics show the pool size');

# ---- the access log ----
my $stop = $gw->stop;
is($stop, 0, 'gateway exits 0 on SIGTERM');
my $log = $gw->access_log_text . $gw->stderr_text;
my @lines = split /\n/, $gw->access_log_text;
cmp_ok(scalar @lines, '>', 50, 'the access log has a line per request');
my $bad = grep { !eval { decode_json($_); 1 } } @lines;
is($bad, 0, 'every access-log line is JSON');
my $first = decode_json($lines[-1]);
ok(exists $first->{$_}, "access-log lines have $_") for qw(method path status latency_ms client_id);
ok((grep { my $l = decode_json($_); ($l->{client_id} // '') eq $id && $l->{path} eq '/api/v1/send-otp' } @lines),
	'the access log names the client id');
unlike($log, qr/\Q$key\E/, 'the API key is not in the logs');
unlike($log, qr/\Q$demo_key\E/, 'the demo API key is not in the logs');
unlike($log, qr/sk_test_/, 'no API key at all is in the logs');
unlike($log, qr/api-key=|otp=|number=/, 'no query string is in the logs');
my @found = grep { defined $_ && $log =~ /\b$_\b/ } @codes;
is(scalar @found, 0, 'none of the ' . scalar(@codes) . ' codes is in the logs');

$node->stop;
done_testing();
