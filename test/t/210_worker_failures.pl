# Delivery worker, every failure class against the mock WhatsApp server:
# retryable errors succeed once the mock recovers, rate limits back off,
# permanent errors fail and refund exactly once, auth/config errors pause
# the worker without burning the queue, expiry stops retries.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

my $mock = JustAuthMock->new;
my $node = start_worker_node('failures', $mock);
my ($cid, $key) = live_client($node, 1000);
my $seq = 100;

sub sql { return $node->safe_psql('postgres', shift); }

# Send to a fresh number; returns (request id, number).
sub send_one
{
	my $number = '91987650' . sprintf('%04d', $seq++);
	return (send_live($node, $cid, $key, $number), $number);
}

sub final_row
{
	my ($rid, $what) = @_;
	my $row;
	wait_until(sub {
		$row = outbox_row($node, $rid);
		$row->{status} =~ /^(sent|failed|expired)$/ }, $what);
	return $row;
}

sub requests_to
{
	my ($number) = @_;
	return [ grep { $_->{to} eq $number } @{ $mock->requests } ];
}

sub refunds
{
	my ($rid) = @_;
	return sql("SELECT count(*) || ':' || coalesce(string_agg(reason, ','), '') FROM justauth.ledger"
		  . " WHERE session_id = '$rid' AND kind = 'refund'");
}

# Retryable answers: each fails once (or twice), then the mock recovers.
for my $case (
	[ '500', 2, 'HTTP 500 with an HTML body' ],
	[ '131000', 1, 'Meta 131000 (server error)' ],
	[ 'garbage', 1, '200 with a garbage body' ],
	[ 'noid', 1, '200 without a message id' ],
	[ 'timeout', 1, 'request timeout' ],
	[ '131056', 1, 'pair rate limit 131056' ])
{
	my ($fail, $count, $label) = @$case;
	my $number = '91987650' . sprintf('%04d', $seq);
	$mock->control(fail => $fail, count => $count, to => $number, hang_ms => 5000);
	my ($rid) = send_one();
	my $row = final_row($rid, $label);
	is($row->{status}, 'sent', "$label: retried until sent");
	is($row->{attempts}, $count + 1, "$label: $count failed attempt(s) + 1");
	ok(!defined $row->{code}, "$label: code erased");
	# a timed-out request is logged by the mock only when it gives up holding it
	ok(wait_until(sub { scalar(@{ requests_to($number) }) >= $count + 1 }, "$label requests"),
		"$label: the mock saw the retries");
	is(refunds($rid), '0:', "$label: no refund for a delivered message");
}
# Connection refused: the mock is down, the message is retried until it is
# back on the same port.
{
	$mock->stop;
	my ($rid) = send_one();
	ok(wait_until(sub { outbox_row($node, $rid)->{attempts} >= 2 }, 'retries while down'),
		'connection refused: retried');
	like(outbox_row($node, $rid)->{error_text}, qr/Couldn't connect|Connection refused|Failed to connect/i,
		'connection refused: transport error recorded');
	is(outbox_row($node, $rid)->{status}, 'queued', 'connection refused: still queued');
	$mock->start;
	ok(wait_until(sub { outbox_row($node, $rid)->{status} eq 'sent' }, 'sent after mock restart'),
		'connection refused: delivered once the API is back');
}
ok(sql('SELECT retried FROM justauth.worker_status') >= 9, 'worker_status counts retries');
like(slurp_file($node->logfile), qr/will be retried after a failed request: .*timed out/i,
	'timeouts are logged as retried');

# Permanent failure: 131026 fails the message and refunds it exactly once.
{
	my $number = '91987650' . sprintf('%04d', $seq);
	$mock->control(fail => '131026', to => $number);
	my $balance = sql("SELECT justauth_balance('$cid')");
	my ($rid) = send_one();
	is(sql("SELECT count(*) FROM justauth.ledger WHERE session_id = '$rid' AND kind = 'debit'"), '1',
		'131026: the send was debited');
	my $row = final_row($rid, '131026');
	is($row->{status}, 'failed', '131026: failed');
	is($row->{error_code}, 131026, '131026: error code recorded');
	is($row->{http_status}, 400, '131026: http status recorded');
	like($row->{error_text}, qr/Undeliverable/, '131026: Meta error text recorded');
	ok(!defined $row->{code}, '131026: code erased');
	is(refunds($rid), '1:failed', '131026: refunded once, reason failed');
	is(sql("SELECT justauth_balance('$cid')"), $balance, '131026: wallet back to its balance');
	is(sql("SELECT justauth.refund_session('$rid', 'failed')"), 'f', '131026: a second refund is refused');
	is(refunds($rid), '1:failed', '131026: still one refund');
	is(scalar @{ requests_to($number) }, 1, '131026: never retried');
	is(sql("SELECT count(*) FROM justauth.wallets WHERE balance <> ledger_sum"), '0',
		'wallets equal their ledgers');
	like(slurp_file($node->logfile), qr/failed permanently after 1 attempt\(s\): WhatsApp error 131026/,
		'131026: logged');
}

# Account-wide rate limits (130429, HTTP 429): the whole worker backs off,
# the message is retried without being charged an attempt.
for my $fail ('130429', '429')
{
	my $number = '91987650' . sprintf('%04d', $seq);
	$mock->control(fail => $fail, count => 1, to => $number);
	my ($rid) = send_one();
	my $row = final_row($rid, $fail);
	is($row->{status}, 'sent', "$fail: sent after backing off");
	is($row->{attempts}, 1, "$fail: the rate-limited try is not counted as an attempt");
	is(scalar @{ requests_to($number) }, 2, "$fail: two requests in all");
}
like(slurp_file($node->logfile), qr/backs off for \d+ ms: the WhatsApp API reported a rate limit/,
	'rate-limit backoff logged');

# Auth / configuration errors pause the whole worker: one request, the
# queue stays queued (nothing failed, nothing refunded), the status view
# and the log say why; a configuration reload resumes delivery.
for my $fail ('190', '132001')
{
	$mock->control(fail => $fail);
	my $nreq = scalar @{ $mock->requests };
	my @rids = map { (send_one())[0] } 1 .. 4;
	ok(wait_until(sub { sql('SELECT state FROM justauth.worker_status') eq 'paused: configuration error' },
		"paused on $fail"), "$fail: worker paused");
	is(sql('SELECT last_error_code FROM justauth.worker_status'), $fail, "$fail: status view shows the code");
	like(sql('SELECT last_error FROM justauth.worker_status'),
		$fail eq '190' ? qr/access token/ : qr/template/, "$fail: status view explains it");
	is(scalar @{ $mock->requests } - $nreq, 1, "$fail: only one request reached the API");
	my $ids = join ',', map { "'$_'" } @rids;
	is(sql("SELECT string_agg(DISTINCT status, ',') FROM justauth.outbox WHERE session_id IN ($ids)"),
		'queued', "$fail: all messages still queued");
	is(sql("SELECT max(attempts) FROM justauth.outbox WHERE session_id IN ($ids)"), '0',
		"$fail: no attempt charged");
	is(sql("SELECT count(*) FROM justauth.ledger WHERE kind = 'refund' AND session_id IN ($ids)"), '0',
		"$fail: nothing refunded");
	like(slurp_file($node->logfile), qr/WARNING:  justauth delivery paused: the WhatsApp API refused our configuration/,
		"$fail: loud warning in the server log");

	$mock->control(fail => 'none');
	sql('SELECT pg_reload_conf()');
	ok(wait_until(sub {
		sql("SELECT count(*) FROM justauth.outbox WHERE status = 'sent' AND session_id IN ($ids)") == 4 },
		"resumed after $fail"), "$fail: reload resumes delivery, all sent");
}
is(sql('SELECT failed FROM justauth.worker_status'), '1', 'only the 131026 message counted as failed');

# Expiry stops retries: a code that expires while WhatsApp keeps failing
# is marked expired and refunded, and never sent after its expiry.
{
	sql("UPDATE justauth.clients SET code_ttl_seconds = 3 WHERE client_id = '$cid'");
	my $number = '91987650' . sprintf('%04d', $seq);
	$mock->control(fail => '500', to => $number);
	my ($rid) = send_one();
	my $row = final_row($rid, 'expiry');
	is($row->{status}, 'expired', 'expiry: marked expired');
	ok(!defined $row->{code}, 'expiry: code erased');
	is(refunds($rid), '1:expired', 'expiry: refunded once, reason expired');
	my $expires_ms = sql("SELECT extract(epoch FROM expires_at) * 1000 FROM justauth.outbox WHERE session_id = '$rid'");
	my $reqs = requests_to($number);
	ok(@$reqs >= 2, 'expiry: it was retried while the code was valid');
	is(scalar(grep { $_->{t_ms} > $expires_ms } @$reqs), 0, 'expiry: no request after the code expired');

	# queued behind a pause, then expired: refunded, never sent
	$mock->control(fail => 'none');
	$mock->control(fail => '190');
	my ($rid2, $number2) = send_one();
	my ($rid3, $number3) = send_one();
	my $row2 = final_row($rid2, 'expiry while paused');
	my $row3 = final_row($rid3, 'expiry while paused');
	is("$row2->{status},$row3->{status}", 'expired,expired', 'expiry while paused: both expired');
	is(refunds($rid2) . ' ' . refunds($rid3), '1:expired 1:expired', 'expiry while paused: both refunded');
	$mock->control(fail => 'none');
	sql("UPDATE justauth.clients SET code_ttl_seconds = 120 WHERE client_id = '$cid'");
	sql('SELECT pg_reload_conf()');
}

# Retries are bounded by justauth.max_attempts (changed live by SIGHUP).
{
	sql('ALTER SYSTEM SET justauth.max_attempts = 3');
	sql('SELECT pg_reload_conf()');
	my $number = '91987650' . sprintf('%04d', $seq);
	$mock->control(fail => '500', to => $number);
	my ($rid) = send_one();
	my $row = final_row($rid, 'max attempts');
	is($row->{status}, 'failed', 'max_attempts: failed');
	is($row->{attempts}, 3, 'max_attempts: after 3 attempts');
	like($row->{error_text}, qr/gave up after 3 attempts/, 'max_attempts: says so');
	is(refunds($rid), '1:failed', 'max_attempts: refunded once');
	$mock->control(fail => 'none');
}

# The worker's own SQL failing (here: a lock held past its lock_timeout)
# is logged and retried; the worker does not crash, the message survives.
{
	my $number = '91987650' . sprintf('%04d', $seq);
	$mock->control(fail => '500', to => $number);
	my ($rid) = send_one();
	my $pid = sql('SELECT pid FROM justauth.worker_status');
	ok(wait_until(sub { outbox_row($node, $rid)->{attempts} >= 1 }, 'retrying'), 'lock: message being retried');
	my $bg = $node->background_psql('postgres');
	$bg->query_safe('BEGIN; LOCK TABLE justauth.outbox IN EXCLUSIVE MODE');
	ok(wait_until(sub { $node->log_contains('canceling statement due to lock timeout') }, 'lock timeout'),
		'lock: the blocked round fails with a logged lock timeout');
	is(sql('SELECT last_error FROM justauth.worker_status'), "the worker's SQL failed; see the server log",
		'lock: worker_status points at the server log');
	$bg->query_safe('COMMIT');
	$bg->quit;
	$mock->control(fail => 'none');
	ok(wait_until(sub { outbox_row($node, $rid)->{status} eq 'sent' }, 'sent after lock'),
		'lock: delivered once the lock is gone');
	is(sql('SELECT pid FROM justauth.worker_status'), $pid, 'lock: same worker process, no crash');
}

is(sql("SELECT count(*) FROM justauth.outbox WHERE code IS NOT NULL AND status NOT IN ('queued', 'sending')"),
	'0', 'no plaintext code left in any final row');
is(sql("SELECT count(*) FROM justauth.wallets WHERE balance <> ledger_sum"), '0', 'wallets equal their ledgers');
$node->stop;
done_testing();
