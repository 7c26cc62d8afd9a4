# Delivery worker, refunds of a batch against concurrent sends: the worker
# locks every session it refunds, in order, before it touches a wallet, so a
# session that holds one of those sessions and then asks for a wallet
# sub-balance (what a resend to the number does) cannot deadlock with it:
# no deadlock, each message is requested once and refunded once.  And when
# the record transaction does lose a deadlock anyway (here against a session
# locking the batch's sessions in the opposite order), the worker records
# the same outcomes again at once instead of losing them: each message is
# still requested exactly once.
#
# Sequencing: the worker is stopped (SIGSTOP) while the messages are queued
# and the other session takes its first lock, and each next step waits until
# pg_locks shows the worker blocked by that session.  Deadlocks are checked
# by the worker (deadlock_timeout 2s), never by the other session (1 min).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

my $mock = JustAuthMock->new;
my $node = start_worker_node('refund_order', $mock,
	extra => "deadlock_timeout = '2s'\n");
my ($cid, $key) = live_client($node, 100);
my $seq = 0;

sub sql { return $node->safe_psql('postgres', shift); }

is(sql("SELECT count(*) FROM justauth.wallet_shards WHERE client_id = '$cid'"), '4',
	'the wallet has 4 sub-balances');
my $wpid = sql('SELECT pid FROM justauth.worker_status');
ok(wait_until(sub { sql('SELECT state FROM justauth.worker_status') eq 'idle' }, 'worker idle'),
	'worker idle');

sub requests_to
{
	my ($number) = @_;
	return scalar grep { $_->{to} eq $number } @{ $mock->requests };
}

sub refunds
{
	my ($rid) = @_;
	return sql("SELECT count(*) || ':' || coalesce(string_agg(reason, ','), '') FROM justauth.ledger"
		  . " WHERE session_id = '$rid' AND kind = 'refund'");
}

# Queue two sends that WhatsApp refuses permanently (131026) while the
# worker is stopped, let $h take its first lock, then resume the worker and
# wait until it is blocked by $h.  Returns the two request ids and numbers.
sub batch_blocked_by
{
	my ($h, $hpid, $first_lock) = @_;
	my @numbers = map { '91987651' . sprintf('%04d', $seq++) } 1 .. 2;
	$mock->control(fail => '131026', to => $_) for @numbers;

	ok(wait_until(sub { sql('SELECT state FROM justauth.worker_status') eq 'idle' }, 'worker idle'),
		'worker idle before the batch');
	kill 'STOP', $wpid or die "SIGSTOP $wpid: $!";
	my @rids = map { send_live($node, $cid, $key, $_) } @numbers;
	$h->query_safe('BEGIN');
	$h->query_safe("SET LOCAL deadlock_timeout = '1min'");
	$h->query_safe($first_lock->(@rids));
	kill 'CONT', $wpid or die "SIGCONT $wpid: $!";

	ok(wait_until(sub {
		sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid"
			  . " AND wait_event_type = 'Lock' AND $hpid = ANY (pg_blocking_pids(pid))") eq '1' },
		'worker blocked by the other session'),
		'the worker, recording the failed batch, waits for the other session');
	return (\@rids, \@numbers);
}

# Both messages recorded once as failed, requested once, refunded once.
sub check_batch
{
	my ($label, $rids, $numbers) = @_;
	for my $i (0 .. 1)
	{
		my $row;
		wait_until(sub {
			$row = outbox_row($node, $rids->[$i]);
			$row->{status} =~ /^(sent|failed|expired)$/ }, "$label: message $i final");
		is("$row->{status}/$row->{attempts}", 'failed/1', "$label: message $i failed after one attempt");
		is(requests_to($numbers->[$i]), 1, "$label: message $i requested exactly once");
		is(refunds($rids->[$i]), '1:failed', "$label: message $i refunded once");
	}
	is(sql('SELECT count(*) FROM justauth.wallets WHERE balance <> ledger_sum'), '0',
		"$label: wallets equal their ledgers");
	is(sql("SELECT justauth_balance('$cid')"), sql("SELECT sum(amount) FROM justauth.ledger WHERE client_id = '$cid'"),
		"$label: balance is the ledger sum");
	is(sql('SELECT pid FROM justauth.worker_status'), $wpid, "$label: same worker process");
}

# 1. Refund order.  H holds the second session (as a resend to its number
# would), the worker blocks on it, then H asks for every sub-balance (as
# the resend's debit would, when the others are busy).  Refunding session
# by session, the worker would hold the sub-balance credited for the first
# session while waiting for the second: a deadlock that aborts its record
# transaction, and the batch is sent again after the error pause.
{
	my $h = $node->background_psql('postgres');
	my $hpid = $h->query_safe('SELECT pg_backend_pid()');
	my ($rids, $numbers) = batch_blocked_by($h, $hpid,
		sub { "SELECT 1 FROM justauth.sessions WHERE session_id = '$_[1]' FOR UPDATE" });
	my (undef, $err) = $h->query(
		"SELECT shard FROM justauth.wallet_shards WHERE client_id = '$cid' ORDER BY shard FOR UPDATE");
	is($err, 0, 'order: the other session gets every sub-balance') or diag($h->{stderr});
	$h->query('COMMIT');
	$h->quit;
	check_batch('order', $rids, $numbers);
	ok(!$node->log_contains('deadlock detected'), 'order: no deadlock in the server log');
	ok(!$node->log_contains('recording delivery results failed'), 'order: recorded at the first try');
}

# 2. Retry.  H holds the greater session id, the worker locks the smaller
# one and waits; then H asks for the smaller one: a real deadlock, checked
# (and lost) by the worker.  Its record transaction is rolled back and run
# again from the outcomes in memory: nothing is sent twice.
{
	my $log_offset = -s $node->logfile;
	my $h = $node->background_psql('postgres');
	my $hpid = $h->query_safe('SELECT pg_backend_pid()');
	my ($lo, $hi);
	my ($rids, $numbers) = batch_blocked_by($h, $hpid, sub {
		($lo, $hi) = split /\|/,
		  sql("SELECT least('$_[0]'::uuid, '$_[1]'::uuid), greatest('$_[0]'::uuid, '$_[1]'::uuid)");
		return "SELECT 1 FROM justauth.sessions WHERE session_id = '$hi' FOR UPDATE";
	});
	my (undef, $err) = $h->query("SELECT 1 FROM justauth.sessions WHERE session_id = '$lo' FOR UPDATE");
	is($err, 0, 'retry: the other session wins the deadlock') or diag($h->{stderr});
	$h->query('COMMIT');
	$h->quit;
	check_batch('retry', $rids, $numbers);
	ok($node->log_contains(
		qr/recording delivery results failed on a (deadlock|lock wait) \(SQLSTATE (40P01|55P03)\); retrying, attempt 2 of 3/,
		$log_offset), 'retry: the worker logged that it recorded the batch again');
	ok(!$node->log_contains(qr/ERROR:.*deadlock detected/, $log_offset),
		'retry: no failed round in the server log');
}

$node->stop;
done_testing();
