# Delivery settings errors are reported clearly: no token (live sends are
# refused with delivery_not_configured, nothing debited), a database the
# worker does not serve, no preloading, a wrong token, an unreachable or
# malformed API URL; and fixing them by reload resumes delivery.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

my $mock = JustAuthMock->new;
my $node = start_worker_node('settings', $mock,
	extra => "justauth.whatsapp_access_token = ''\n");
my ($cid, $key) = live_client($node, 100);

sub sql { return $node->safe_psql('postgres', shift); }

sub send_reply
{
	my ($db, $number) = @_;
	return decode_json($node->safe_psql($db, "SELECT justauth_send_otp('$cid', '$key', '$number')"));
}

# 1. No access token.
my $reply = send_reply('postgres', '919876543210');
is($reply->{error}, 'delivery_not_configured', 'no token: live send refused with delivery_not_configured');
ok(!$reply->{success}, 'no token: success false');
is(sql("SELECT justauth_balance('$cid')"), '100', 'no token: nothing debited');
is(sql('SELECT count(*) FROM justauth.outbox'), '0', 'no token: nothing queued');
ok(wait_until(sub { sql('SELECT state FROM justauth.worker_status') eq 'not configured' }, 'not configured'),
	'no token: worker_status says not configured');
is(sql('SELECT delivery_configured FROM justauth.worker_status'), 'f', 'no token: delivery_configured false');
like(sql('SELECT last_error FROM justauth.worker_status'), qr/whatsapp_access_token/,
	'no token: last_error names the setting');
ok(wait_until(sub { $node->log_contains('WARNING:  justauth delivery worker is idle: WhatsApp delivery is not configured') },
	'warning'), 'no token: warning in the server log');

# The token is for superusers only.
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');
my ($ret, $out, $err) = $node->psql('postgres', 'SET ROLE plain; SHOW justauth.whatsapp_access_token');
isnt($ret, 0, 'the access token cannot be read by a non-superuser');

# Setting it by reload enables delivery.
sql("ALTER SYSTEM SET justauth.whatsapp_access_token = '$JustAuthMock::TOKEN'");
sql('SELECT pg_reload_conf()');
ok(wait_until(sub { sql('SELECT delivery_configured FROM justauth.worker_status') eq 't' }, 'configured'),
	'token set by reload: delivery configured');
$reply = send_reply('postgres', '919876543211');
ok($reply->{success}, 'token set: live send accepted');
ok(wait_until(sub { outbox_row($node, $reply->{request_id})->{status} eq 'sent' }, 'sent'), 'token set: delivered');

# 2. A database the worker does not serve refuses live sends.
sql('CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION justauth');
my ($ocid, $okey) = split /\|/,
  $node->safe_psql('other', "SELECT client_id, api_key FROM justauth_create_client('Other', mode => 'live')");
$node->safe_psql('other', "SELECT justauth_deposit('$ocid', 10, 'ref')");
my $oreply = decode_json($node->safe_psql('other', "SELECT justauth_send_otp('$ocid', '$okey', '919876543212')"));
is($oreply->{error}, 'delivery_not_configured', 'other database: live send refused (no worker serves it)');

# 3. A wrong token: WhatsApp answers 190, the worker pauses and says so.
sql("ALTER SYSTEM SET justauth.whatsapp_access_token = 'expired-token'");
sql('SELECT pg_reload_conf()');
ok(wait_until(sub { sql("SELECT current_setting('justauth.whatsapp_access_token')") eq 'expired-token' }, 'reloaded'),
	'wrong token loaded');
my $nreq = @{ $mock->requests };
my @rids = map { send_live($node, $cid, $key, "91987654330$_") } 1 .. 3;
ok(wait_until(sub { sql('SELECT state FROM justauth.worker_status') eq 'paused: configuration error' }, 'paused'),
	'wrong token: worker paused');
is(sql('SELECT last_error_code || \' \' || last_error_http_status FROM justauth.worker_status'), '190 401',
	'wrong token: error 190 / HTTP 401 in worker_status');
like(sql('SELECT last_error FROM justauth.worker_status'), qr/access token expired or invalid/,
	'wrong token: explained');
is(@{ $mock->requests } - $nreq, 1, 'wrong token: the queue was not burnt (one request)');
my $log = slurp_file($node->logfile);
like($log, qr/justauth delivery paused: the WhatsApp API refused our configuration: Invalid OAuth access token/,
	'wrong token: loud warning with Meta\'s text');
# PostgreSQL itself echoes statements (log_statement = all in tests) and
# logs reloaded values; everything else, the worker included, must not.
my @leaks = grep { /expired-token/ && !/statement: ALTER SYSTEM|parameter "justauth.whatsapp_access_token" changed to/ }
  split /\n/, $log;
is(scalar @leaks, 0, 'wrong token: the worker never logs the token') or diag(join "\n", @leaks);
sql("ALTER SYSTEM SET justauth.whatsapp_access_token = '$JustAuthMock::TOKEN'");
sql('SELECT pg_reload_conf()');
ok(wait_until(sub {
	sql("SELECT count(*) FROM justauth.outbox WHERE status = 'sent' AND session_id IN ("
		  . join(',', map { "'$_'" } @rids) . ')') == 3 }, 'resumed'),
	'token fixed by reload: the paused messages are delivered');

# 4. An unreachable API URL: transport errors are retried, logged with the
# cause, shown in worker_status; the right URL delivers the backlog.
sql("ALTER SYSTEM SET justauth.whatsapp_api_url = 'http://127.0.0.1:1'");
sql('SELECT pg_reload_conf()');
ok(wait_until(sub { sql("SELECT current_setting('justauth.whatsapp_api_url')") eq 'http://127.0.0.1:1' }, 'reloaded'),
	'unreachable URL loaded');
my $rid = send_live($node, $cid, $key, '919876543340');
ok(wait_until(sub { sql('SELECT last_error FROM justauth.worker_status') =~ /Couldn't connect to server/ }, 'status'),
	'bad URL: worker_status shows the connection failure');
like(sql('SELECT last_error FROM justauth.worker_status'), qr/justauth\.whatsapp_api_url/, 'bad URL: names the setting');
ok(wait_until(sub { $node->log_contains('will be retried after a failed request: Failed to connect to 127.0.0.1 port 1') },
	'log'), 'bad URL: the log says where it failed');
ok(wait_until(sub { outbox_row($node, $rid)->{attempts} >= 2 }, 'retries'), 'bad URL: retried');
is(outbox_row($node, $rid)->{status}, 'queued', 'bad URL: still queued, not failed');
sql("ALTER SYSTEM SET justauth.whatsapp_api_url = '" . $mock->url . "'");
sql('SELECT pg_reload_conf()');
ok(wait_until(sub { outbox_row($node, $rid)->{status} eq 'sent' }, 'sent'), 'URL fixed: delivered');

# 5. Malformed values are refused when set, with the reason.
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET justauth.whatsapp_api_url = 'ftp://example.com'");
isnt($ret, 0, 'a non-HTTP URL is refused');
like($err, qr/must start with http:\/\/ or https:\/\//, 'with the reason');
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET justauth.whatsapp_phone_number_id = '123/../x'");
isnt($ret, 0, 'a phone number id with / is refused');
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET justauth.max_messages_per_second = 0");
isnt($ret, 0, 'a zero rate is refused');
$node->stop;

# 6. Without shared_preload_libraries there is no worker: say so, and
# refuse live sends instead of queueing them forever.
my $bare = PostgreSQL::Test::Cluster->new('bare');
$bare->init;
$bare->append_conf('postgresql.conf', "justauth.whatsapp_access_token = 'x'\n");
$bare->start;
$bare->safe_psql('postgres', 'CREATE EXTENSION justauth');
like($bare->safe_psql('postgres', 'SELECT state FROM justauth.worker_status'),
	qr/not running: justauth is not in shared_preload_libraries/, 'no preload: worker_status says why');
my ($bcid, $bkey) = split /\|/,
  $bare->safe_psql('postgres', "SELECT client_id, api_key FROM justauth_create_client('Bare', mode => 'live')");
$bare->safe_psql('postgres', "SELECT justauth_deposit('$bcid', 10, 'ref')");
my $breply = decode_json($bare->safe_psql('postgres', "SELECT justauth_send_otp('$bcid', '$bkey', '919876543210')"));
is($breply->{error}, 'delivery_not_configured', 'no preload: live send refused');
$bare->stop;

done_testing();
