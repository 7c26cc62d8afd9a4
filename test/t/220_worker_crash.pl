# Delivery worker crash safety: kill -9 of the worker mid-batch (which makes
# PostgreSQL restart every backend) and an immediate shutdown with messages
# queued and in flight.  Every message must still end in a final state,
# and a message may only be sent twice if it was in flight at the crash
# (the at-least-once window documented in docs/worker.md).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

# The at-least-once window is the batch being worked on: messages claimed
# whose request went out but whose outcome was not yet committed.
my $in_flight = 20;
my $batch = 50;
my $mock = JustAuthMock->new;
my $node = start_worker_node('crash', $mock, extra => qq{
justauth.max_messages_per_second = 1000
justauth.max_in_flight = $in_flight
justauth.batch_size = $batch
justauth.request_timeout_ms = 10000
restart_after_crash = on
});
my ($cid, $key) = live_client($node, 5000);

sub sql { return $node->safe_psql('postgres', shift); }

# Queue $n live sends in one transaction to numbers $prefix + 4 digits.
sub queue_sends
{
	my ($prefix, $n) = @_;
	return sql(qq{SELECT count(*) FROM (SELECT justauth_send_otp('$cid', '$key', '$prefix' || lpad(g::text, 4, '0')) AS r
		FROM generate_series(1, $n) g) x WHERE (r->>'success')::boolean});
}

sub server_up
{
	my ($ret) = $node->psql('postgres', 'SELECT 1');
	return $ret == 0;
}

# Accepted requests per number at the mock, and the earliest arrival.
sub accepted_by_number
{
	my ($prefix) = @_;
	my %by;
	for my $r (@{ $mock->requests })
	{
		next unless $r->{status} == 200 && $r->{wamid} ne '' && index($r->{to}, $prefix) == 0;
		push @{ $by{ $r->{to} } }, $r;
	}
	return \%by;
}

# When the running delivery worker started, in ms since the epoch.  A
# request that reached the mock before then came from the worker that died.
# (Not the time taken just before the crash: the mock stamps a request when
# its handler starts, which can be a few ms after the dying worker sent it.)
sub worker_start_ms
{
	my $ms;
	wait_until(sub {
		$ms = sql("SELECT (extract(epoch FROM a.backend_start) * 1000)::bigint FROM pg_stat_activity a"
			  . " JOIN justauth.worker_status w USING (pid)");
		$ms ne '' }, 'worker running');
	return $ms;
}

# Check the outcome of a crash scenario.
sub check_after_crash
{
	my ($label, $prefix, $n, $restart_ms) = @_;
	ok(wait_until(sub {
		server_up() && sql("SELECT count(*) FROM justauth.outbox WHERE to_number LIKE '$prefix%'"
			  . " AND status IN ('queued', 'sending')") == 0 }, "$label: all final"),
		"$label: every message reached a final state");
	is(sql("SELECT string_agg(DISTINCT status, ',') FROM justauth.outbox WHERE to_number LIKE '$prefix%'"),
		'sent', "$label: all of them sent");
	my $by = accepted_by_number($prefix);
	is(scalar keys %$by, $n, "$label: every number got its message");
	my @dups = grep { @{ $by->{$_} } > 1 } keys %$by;
	diag("$label: " . scalar(@dups) . " message(s) sent twice");
	ok(@dups <= $batch, "$label: duplicates bounded by the batch in flight ($batch)");
	my @outside = grep {
		my @t = sort { $a <=> $b } map { $_->{t_ms} } @{ $by->{$_} };
		$t[0] >= $restart_ms
	} @dups;
	diag("$label: sent twice after the restart: $_ at " . join(', ', map { $_->{t_ms} - $restart_ms } @{ $by->{$_} })
		  . ' ms after it') for @outside;
	is(scalar @outside, 0, "$label: every duplicate was first sent by the worker that died");
	my @wrong = grep {
		my $w = sql("SELECT provider_message_id FROM justauth.outbox WHERE to_number = '$_'");
		!grep { $_->{wamid} eq $w } @{ $by->{$_} }
	} keys %$by;
	is(scalar @wrong, 0, "$label: each recorded wamid is one the API returned for that number");
	is(sql("SELECT count(*) FROM justauth.outbox WHERE to_number LIKE '$prefix%' AND code IS NOT NULL"),
		'0', "$label: no plaintext code left");
}

# 1. kill -9 of the worker while requests are in flight.
$mock->control(latency_ms => 200);
is(queue_sends('91980000', 300), '300', 'kill -9: 300 live sends queued');
ok(wait_until(sub { @{ $mock->requests } >= 60 }, 'some delivered'), 'kill -9: delivery under way');
my $pid = sql('SELECT pid FROM justauth.worker_status');
ok(sql("SELECT count(*) FROM justauth.outbox WHERE status = 'sending'") > 0, 'kill -9: messages in flight');
# The claim commits asynchronously, so a crash right after it can lose it
# (its messages are then simply queued again, nothing to reclaim).  A commit
# of our own flushes the WAL up to here, so the batch in flight is reclaimed.
sql('SELECT txid_current()');
kill 'KILL', $pid;
ok(wait_until(sub { $node->log_contains('was terminated by signal 9') }, 'crash seen'),
	'kill -9: postmaster saw the worker die');
ok(wait_until(sub {
	server_up() && sql('SELECT coalesce(pid, 0) FROM justauth.worker_status') !~ /^(0|$pid)$/ }, 'new worker'),
	'kill -9: server and worker back');
check_after_crash('kill -9', '91980000', 300, worker_start_ms());
ok($node->log_contains('reclaimed \d+ message\(s\) left in flight by a previous worker'),
	'kill -9: reclaim logged');
ok(sql('SELECT reclaimed FROM justauth.worker_status') > 0, 'kill -9: worker_status counts reclaimed messages');

# 2. Immediate shutdown (a PostgreSQL crash) with messages queued and in
# flight, then a normal start.
$mock->control(latency_ms => 1000);
is(queue_sends('91981000', 200), '200', 'restart: 200 live sends queued');
ok(wait_until(sub { sql("SELECT count(*) FROM justauth.outbox WHERE status = 'sending' AND to_number LIKE '91981000%'") > 0 },
	'in flight'), 'restart: messages in flight');
$node->stop('immediate');
$mock->control(latency_ms => 0);
$node->start;
check_after_crash('immediate restart', '91981000', 200, worker_start_ms());

is(sql('SELECT count(*) FROM justauth.wallets WHERE balance <> ledger_sum'), '0', 'wallets equal their ledgers');
is(sql("SELECT count(*) FROM justauth.ledger WHERE kind = 'refund'"), '0', 'nothing delivered was refunded');
$node->stop;
done_testing();
