# Delivery worker, happy path and operations: a live send is woken at
# commit and reaches the mock WhatsApp server with the right template body,
# the outbox row ends 'sent' with the wamid, the delivered code verifies;
# the worker is visible in pg_stat_activity and justauth.worker_status,
# does not block DROP DATABASE elsewhere, and stops promptly mid-batch.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

my $mock = JustAuthMock->new;
my $node = start_worker_node('delivery', $mock,
	extra => "justauth.request_timeout_ms = 60000\n");

ok(wait_until(sub {
	$node->safe_psql('postgres', 'SELECT pid IS NOT NULL AND state = \'idle\' FROM justauth.worker_status') eq 't' },
	'worker idle'), 'worker_status shows a running, idle worker');
is($node->safe_psql('postgres',
		"SELECT query FROM pg_stat_activity WHERE backend_type = 'justauth delivery worker'"),
	'justauth: waiting for messages', 'pg_stat_activity shows what the worker does');

my ($cid, $key) = live_client($node, 100);

# The safety poll is one hour: a delivery now proves the wake at commit.
my $number = '919876543210';
my $rid = send_live($node, $cid, $key, $number);
ok(wait_until(sub { @{ $mock->requests } >= 1 }, 'first request at the mock'),
	'live send reached the mock long before the safety poll');
my $req = $mock->requests->[0];
my $row;
ok(wait_until(sub { $row = outbox_row($node, $rid); $row->{status} eq 'sent' }, 'sent'),
	'outbox row became sent');

is($req->{to}, $number, 'to is the number (sent as +E.164)');
ok($req->{body_ok}, 'template body accepted by the mock') or diag($req->{problem});
ok($req->{auth_ok}, 'bearer token accepted');
like($req->{body_code}, qr/^\d{6}$/, 'code in the body parameter');
is($req->{button_code}, $req->{body_code}, 'same code in the copy-code button');
is($req->{template}, 'justauth_otp', 'configured template name');
is($req->{language}, 'en_US', 'configured template language');
is($req->{path}, "/v23.0/$JustAuthMock::PHONE_ID/messages", 'request path from api version and phone number id');
is($req->{biz}, $rid, 'biz_opaque_callback_data is the request id');
is($row->{provider_message_id}, $req->{wamid}, 'wamid recorded');
like($row->{provider_message_id}, qr/^wamid\./, 'wamid looks like one');
is($row->{http_status}, 200, 'http status recorded');
is($row->{attempts}, 1, 'one attempt');
ok(defined $row->{sent_at}, 'sent_at set');
ok(!defined $row->{code}, 'plaintext code erased once sent');
like($node->safe_psql('postgres', "SELECT justauth_verify_otp('$cid', '$number', '$req->{body_code}')"),
	qr/"OTP Verified"/, 'the code WhatsApp received verifies');

my $status = $node->safe_psql('postgres',
	'SELECT sent, requests, failed, queued, sending FROM justauth.worker_status');
is($status, '1|1|0|0|0', 'worker_status counts one sent request, empty queue');

# The status view is for auditors and admins.
$node->safe_psql('postgres', 'CREATE ROLE aud LOGIN IN ROLE justauth_auditor');
is($node->safe_psql('postgres', 'SET ROLE aud; SELECT sent FROM justauth.worker_status'),
	'1', 'justauth_auditor can read worker_status');
my ($ret) = $node->psql('postgres', 'SET ROLE aud; SELECT * FROM justauth.outbox');
isnt($ret, 0, 'but not the outbox itself');

# Sandbox sends never reach WhatsApp.
my ($scid, $skey) = split /\|/,
  $node->safe_psql('postgres', "SELECT client_id, api_key FROM justauth_create_client('Sandbox', mode => 'sandbox')");
$node->safe_psql('postgres', "SELECT justauth_deposit('$scid', 10, 'sref')");
$node->safe_psql('postgres', "SELECT justauth_send_otp('$scid', '$skey', '919876543211')");
# a live send after it proves the worker looked at the queue in between
my $rid2 = send_live($node, $cid, $key, '919876543212');
ok(wait_until(sub { outbox_row($node, $rid2)->{status} eq 'sent' }, 'second live send'), 'second live send delivered');
is(scalar(grep { $_->{to} eq '919876543211' } @{ $mock->requests }), 0, 'sandbox send made no request');

# DROP DATABASE of another database is not blocked by the worker, neither
# idle nor while it waits on a slow request (the request is still in
# flight when DROP returns).
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('postgres', 'DROP DATABASE other');
pass('DROP DATABASE with the worker idle');
$mock->control(latency_ms => 8000);
$node->safe_psql('postgres', 'CREATE DATABASE other');
my $rid3 = send_live($node, $cid, $key, '919876543213');
ok(wait_until(sub { outbox_row($node, $rid3)->{status} eq 'sending' }, 'claimed'), 'slow message claimed');
$node->safe_psql('postgres', 'DROP DATABASE other');
is(outbox_row($node, $rid3)->{status}, 'sending',
	'DROP DATABASE returned while the worker was mid-request');
ok(wait_until(sub { outbox_row($node, $rid3)->{status} eq 'sent' }, 'slow message sent'), 'slow message then sent');

# SIGTERM mid-batch: the worker stops without waiting for the slow
# request, puts the message back, and is restarted (bgw_restart_time).
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM justauth.worker_status');
my $before = scalar @{ $mock->requests };
my $rid4 = send_live($node, $cid, $key, '919876543214');
ok(wait_until(sub { outbox_row($node, $rid4)->{status} eq 'sending' }, 'claimed'), 'message claimed before SIGTERM');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok(wait_until(sub { outbox_row($node, $rid4)->{status} eq 'queued' }, 'requeued on SIGTERM'),
	'SIGTERM mid-request put the message back');
is(scalar @{ $mock->requests }, $before,
	'the worker stopped before the slow request finished');
$mock->control(latency_ms => 0);
ok(wait_until(sub {
	my $p = $node->safe_psql('postgres', 'SELECT pid FROM justauth.worker_status');
	$p ne '' && $p ne $pid }, 'restart'), 'worker restarted after SIGTERM');
ok(wait_until(sub { outbox_row($node, $rid4)->{status} eq 'sent' }, 'sent after restart'),
	'message delivered by the restarted worker');
ok($node->log_contains('justauth delivery worker shutting down'), 'shutdown logged');

# A fast shutdown mid-request is prompt too: stop returns before the mock
# has answered the request the worker was waiting on.
$mock->control(latency_ms => 8000);
my $n = scalar @{ $mock->requests };
my $rid5 = send_live($node, $cid, $key, '919876543215');
ok(wait_until(sub { outbox_row($node, $rid5)->{status} eq 'sending' }, 'claimed'), 'message claimed before stop');
$node->stop('fast');
is(scalar @{ $mock->requests }, $n, 'server stopped while the request was still in flight');
$mock->control(latency_ms => 0);
$node->start;
ok(wait_until(sub { outbox_row($node, $rid5)->{status} eq 'sent' }, 'sent after restart'),
	'message put back at stop is delivered after start');

my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$JustAuthMock::TOKEN\E/, 'the access token never appears in the server log');

$node->stop;
done_testing();
