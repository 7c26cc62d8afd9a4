
# The WhatsApp webhook of the gateway: Meta's GET handshake with the verify
# token, and signed POSTs of message statuses.  A good signature applies
# the statuses once (a duplicate delivery applies nothing more, a failed
# status refunds the send once); a bad or missing signature gets 401 and
# applies nothing; malformed JSON gets 400.

use strict;
use warnings;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $secret = 'test-app-secret-0123456789';
my $token = 'verify-token-xyz';
my $node = JustAuthGateway::new_cluster('gateway_webhook');
my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 1000);
my $gw = JustAuthGateway->start($node, name => 'webhook',
	args => [ '--webhook-verify-token', $token, '--webhook-app-secret', $secret ]);

# ---- GET handshake ----
my $res = $gw->request('GET',
	"/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=$token&hub.challenge=1158201444");
is($res->{status}, 200, 'handshake with the right token: 200');
is($res->{content}, '1158201444', 'handshake echoes hub.challenge');
like($res->{headers}{'content-type'}, qr{^text/plain}, 'the challenge is plain text');
$res = $gw->request('GET',
	"/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444");
is($res->{status}, 403, 'handshake with a wrong token: 403');
is(JustAuthGateway::json_body($res)->{success}, JSON::PP::false, '403 is a JSON refusal');
unlike($res->{content}, qr/1158201444/, 'a refused handshake does not echo the challenge');
$res = $gw->request('GET',
	"/webhooks/whatsapp?hub.mode=unsubscribe&hub.verify_token=$token&hub.challenge=1");
is($res->{status}, 403, 'handshake with another hub.mode: 403');
$res = $gw->request('GET', "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=$token");
is($res->{status}, 403, 'handshake without hub.challenge: 403');

# ---- a sent message the statuses will be about ----
# Sandbox sends debit a credit but have no outbox row; give two of them the
# row the delivery worker would have written after WhatsApp accepted them.
sub sent_message
{
	my ($number, $wamid) = @_;
	my $r = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=$number");
	my $rid = JustAuthGateway::json_body($r)->{request_id};
	$node->safe_psql('postgres',
		"INSERT INTO justauth.outbox (session_id, client_id, to_number, status, expires_at, provider_message_id, sent_at)
		 VALUES ('$rid', '$id', '$number', 'sent', now() + interval '2 minutes', '$wamid', now())");
	return $rid;
}
my $rid1 = sent_message('919876543210', 'wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSFAIL');
my $rid2 = sent_message('919876543211', 'wamid.HBgMOTE5ODc2NTQzMjExFQIAERgSQUJD');
is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), '998', 'two sends debited');

sub payload
{
	my (@statuses) = @_;
	return encode_json({
		object => 'whatsapp_business_account',
		entry => [ {
			id => '102290129340398',
			changes => [ {
				field => 'messages',
				value => {
					messaging_product => 'whatsapp',
					metadata => { display_phone_number => '15550783881', phone_number_id => '106540352242922' },
					statuses => \@statuses,
				},
			} ],
		} ],
	});
}

sub post_signed
{
	my ($body, $sig) = @_;
	my %h = ('Content-Type' => 'application/json');
	$h{'X-Hub-Signature-256'} = $sig if defined $sig;
	return $gw->request('POST', '/webhooks/whatsapp', headers => \%h, content => $body);
}

sub good_sig { return 'sha256=' . hmac_sha256_hex($_[0], $secret) }

my $failed = payload({
	id => 'wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSFAIL', status => 'failed', timestamp => '1700000000',
	recipient_id => '919876543210',
	errors => [ { code => 131026, title => 'Message undeliverable' } ] });

# Bad and missing signatures: 401, nothing applied.
$res = post_signed($failed, 'sha256=' . hmac_sha256_hex($failed, 'another-secret'));
is($res->{status}, 401, 'signature with the wrong secret: 401');
is(JustAuthGateway::json_body($res)->{error}, 'invalid_signature', '401 says invalid_signature');
$res = post_signed($failed, undef);
is($res->{status}, 401, 'no signature: 401');
$res = post_signed($failed, 'sha1=' . substr(good_sig($failed), 7, 40));
is($res->{status}, 401, 'a sha1= signature: 401');
(my $tampered = $failed) =~ s/131026/131000/;
$res = post_signed($tampered, good_sig($failed));
is($res->{status}, 401, 'a body changed after signing: 401');
is($node->safe_psql('postgres', 'SELECT count(*) FROM justauth.delivery_events'), '0',
	'nothing was applied by the refused posts');
is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), '998', 'nothing was refunded');

# A good signature: applied, refunded once.
$res = post_signed($failed, good_sig($failed));
is($res->{status}, 200, 'signed failed status: 200');
is(JustAuthGateway::json_body($res)->{applied}, 1, 'one status applied');
is($node->safe_psql('postgres',
		"SELECT status || ' ' || error_code FROM justauth.outbox WHERE session_id = '$rid1'"),
	'failed 131026', 'the message is marked failed with its error code');
is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), '999', 'the failed send was refunded');

# The same delivery again (Meta retries): nothing more.
$res = post_signed($failed, good_sig($failed));
is($res->{status}, 200, 'duplicate delivery: 200');
is(JustAuthGateway::json_body($res)->{applied}, 0, 'duplicate delivery: nothing newly applied');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM justauth.ledger WHERE session_id = '$rid1' AND kind = 'refund'"),
	'1', 'refunded exactly once');
is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), '999', 'balance unchanged by the duplicate');

# delivered then read for the other message, in one payload.
my $progress = payload(
	{ id => 'wamid.HBgMOTE5ODc2NTQzMjExFQIAERgSQUJD', status => 'delivered', timestamp => '1700000005', recipient_id => '919876543211' },
	{ id => 'wamid.HBgMOTE5ODc2NTQzMjExFQIAERgSQUJD', status => 'read', timestamp => '1700000009', recipient_id => '919876543211' });
$res = post_signed($progress, good_sig($progress));
is(JustAuthGateway::json_body($res)->{applied}, 2, 'delivered and read applied');
is($node->safe_psql('postgres', "SELECT status FROM justauth.outbox WHERE session_id = '$rid2'"),
	'read', 'the message is read');
is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), '999', 'delivered messages are not refunded');

# Malformed bodies with valid signatures: 400.
foreach my $case ([ '{"entry": [', 'truncated JSON' ], [ '[1, 2, 3]', 'a JSON array' ],
	[ "{\"a\": \"\xff\"}", 'bad UTF-8' ], [ '', 'an empty body' ])
{
	my ($body, $name) = @$case;
	$res = post_signed($body, good_sig($body));
	is($res->{status}, 400, "signed $name: 400");
	is(eval { JustAuthGateway::json_body($res)->{error} }, 'invalid_request', "signed $name: invalid_request");
}
$res = $gw->request('PUT', '/webhooks/whatsapp');
is($res->{status}, 405, 'PUT: 405');
is($res->{headers}{allow}, 'GET, POST', 'Allow: GET, POST');

my $metrics = $gw->request('GET', '/metrics')->{content};
like($metrics, qr/^justauth_gateway_webhook_statuses_applied_total 3$/m, 'metrics count applied statuses');
is($gw->stop, 0, 'gateway exits 0 on SIGTERM');
unlike($gw->access_log_text . $gw->stderr_text, qr/\Q$secret\E|\Q$token\E/,
	'the webhook secrets are not in the logs');

$node->stop;
done_testing();
