
# Fault-injection soak: mixed send/verify load through the real gateway
# (sandbox and live clients; live messages go through the delivery worker
# to the mock WhatsApp server) while the mock answers 500, 429, 130429,
# 131026, timeouts and garbage, the worker is killed with SIGKILL three
# times, PostgreSQL is restarted once and the gateway loses its database
# twice (pg_hba reject + pg_terminate_backend).  Then the money, the
# outbox, every verification result and the memory of the gateway and the
# worker are checked, and the figures are printed.
#
# SOAK_SECONDS (default 75) is the length of the load; `make soak` runs
# it for 300 s (test/soak/run.sh).  SOAK_PROCS (default 4) load processes.
use strict;
use warnings;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;
use JustAuthMock;
use JustAuthSoak;

my $seconds = $ENV{SOAK_SECONDS} // 75;
my $procs = $ENV{SOAK_PROCS} // 4;
# Growth of anonymous RSS allowed between the middle and the end.
my $rss_pct = $ENV{SOAK_RSS_TOLERANCE_PCT} // 20;
my $rss_kb = $ENV{SOAK_RSS_TOLERANCE_KB} // 4096;
srand(4242);

my $mock = JustAuthMock->new(args => [ '--latency-ms', '5', '--hang-ms', '2500' ]);
my $node = start_worker_node('soak', $mock, extra => qq{
restart_after_crash = on
justauth.max_messages_per_second = 1000
justauth.max_in_flight = 50
justauth.batch_size = 50
justauth.request_timeout_ms = 1500
justauth.max_attempts = 6
});
$node->safe_psql('postgres', 'CREATE ROLE gw LOGIN IN ROLE justauth_gateway');

sub sql { return $node->safe_psql('postgres', shift); }

sub server_up { return (JustAuthGateway::psql_maybe_down($node, 'SELECT 1'))[0] == 0; }

my %clients;
$clients{S1} = [ JustAuthGateway::create_client($node, 'Soak sandbox', 'sandbox', 1_000_000) ];
$clients{S2} = [ JustAuthGateway::create_client($node, 'Soak sandbox poor', 'sandbox', 30) ];
$clients{L1} = [ JustAuthGateway::create_client($node, 'Soak live', 'live', 1_000_000) ];
$clients{L2} = [ JustAuthGateway::create_client($node, 'Soak live poor', 'live', 20) ];
# S1 resends after 2 s (codes get superseded) and keeps its codes for the run.
sql("UPDATE justauth.clients SET resend_cooldown_seconds = 2, max_sends_per_window = 1000,
	code_ttl_seconds = 900 WHERE client_id = '$clients{S1}[0]'");
my $client_list = join ',', map { "'$clients{$_}[0]'" } sort keys %clients;

my $gw = JustAuthGateway->start($node, name => 'soak',
	args => [ '--threads', '8', '--connect-timeout', '2', '--statement-timeout-ms', '5000' ]);
my $gw_pid = $gw->{handle}{KIDS}[0]{PID};
# If the test dies, the gateway must not outlive it (it holds inherited
# descriptors such as the caller's install lock).
END { kill 'KILL', $gw_pid if $gw_pid && !defined $gw->{exit}; }
my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub healthy { return $http->get($gw->base . '/healthz')->{status} == 200; }

# Anonymous resident memory of a process, in kB.
sub rss_anon
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (<$fh>) { return $1 if /^RssAnon:\s+(\d+)/; }
	return undef;
}

sub worker_pid { return JustAuthGateway::worker_pid($node); }

# ---- load ----
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $start = time;
my $deadline = $start + $seconds;
my @kids;
for my $k (0 .. $procs - 1)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# No END blocks or destructors here: they belong to the test.
		eval {
			JustAuthSoak->new(k => $k, base => $gw->base, mock => $mock->url,
				clients => \%clients, deadline => $deadline, out => "$dir/soak-load-$k.jsonl")->run;
		};
		print STDERR "load process $k: $@" if $@;
		POSIX::_exit($@ ? 1 : 0);
	}
	push @kids, $pid;
}

# ---- faults ----
my @windows;    # [name, start, end]: 503 allowed for requests overlapping them
my %events;
my @mock_modes = qw(500 429 130429 131026 timeout garbage);

# Waits for recovery after a disruption and closes its outage window.
sub recovered
{
	my ($name, $t0, $old_worker) = @_;
	my $ok = wait_until(sub {
		my $w = worker_pid();
		healthy() && defined $w && (!defined $old_worker || $w != $old_worker)
	}, "$name: recovery", 120);
	push @windows, [ $name, $t0, time + 2 ];
	$events{$name}++;
	return $ok;
}

sub kill_worker
{
	my $pid = worker_pid();
	wait_until(sub { $pid = worker_pid() }, 'a worker to kill', 60);
	my $t0 = time;
	kill 'KILL', $pid;
	ok(recovered('worker SIGKILL', $t0, $pid), "worker $pid killed with SIGKILL; server, worker and gateway back");
}

sub restart_pg
{
	my $old = worker_pid();
	my $t0 = time;
	$node->restart;
	ok(recovered('PostgreSQL restart', $t0, $old), 'PostgreSQL restarted; gateway and worker back');
}

# The gateway's role is refused and its sessions terminated for 5 s.
sub block_gateway
{
	my $hba = $node->data_dir . '/pg_hba.conf';
	my $orig = slurp_file($hba);
	my $t0 = time;
	open my $fh, '>', $hba or die;
	print $fh "local all gw reject\nhost all gw 127.0.0.1/32 reject\nhost all gw ::1/128 reject\n$orig";
	close $fh;
	sql('SELECT pg_reload_conf()');
	sleep 0.5;
	sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'gw'");
	my $saw = wait_until(sub { !healthy() }, 'gateway reports the database lost', 10);
	sleep 5;
	open $fh, '>', $hba or die;
	print $fh $orig;
	close $fh;
	sql('SELECT pg_reload_conf()');
	ok($saw && recovered('gateway database outage', $t0, undef),
		'gateway lost its database (healthz 503) and recovered');
}

my @schedule = (
	[ 0.10, \&kill_worker ],
	[ 0.20, \&block_gateway ],
	[ 0.28, \&kill_worker ],
	[ 0.38, \&restart_pg ],
	[ 0.46, \&kill_worker ],
	[ 0.50, 'mid' ],
	[ 0.75, \&block_gateway ],
);
my %faults;
my ($mid_gw, $mid_worker, $mid_worker_pid);
while (time < $deadline)
{
	if (@schedule && time >= $start + $schedule[0][0] * $seconds)
	{
		my $ev = (shift @schedule)->[1];
		if (ref $ev)
		{
			$ev->();
		}
		else
		{
			$mid_gw = rss_anon($gw_pid);
			$mid_worker_pid = worker_pid();
			$mid_worker = rss_anon($mid_worker_pid);
		}
		next;
	}
	# A few failing answers of a random kind, about every second.
	my $mode = $mock_modes[ int(rand(@mock_modes)) ];
	my $count = 1 + int(rand(4));
	# The mock keeps at most 64 rules and never drops used ones: start afresh.
	$mock->control(fail => 'none');
	$mock->control(fail => $mode, count => $count);
	$faults{$mode} += $count;
	sleep 1;
}
for my $pid (@kids)
{
	waitpid($pid, 0);
	is($?, 0, "load process $pid finished");
}
my $end_gw = rss_anon($gw_pid);
my $end_worker_pid = worker_pid();
my $end_worker = rss_anon($end_worker_pid);

# ---- drain ----
$mock->control(fail => 'none');
$mock->control(hang_ms => 0);
ok(wait_until(sub { server_up() && sql("SELECT count(*) FROM justauth.outbox WHERE status IN ('queued', 'sending')") == 0 },
	'outbox drained', 300), 'every outbox row reached a final state');

# ---- what the load saw ----
my @recs;
for my $k (0 .. $procs - 1)
{
	open my $fh, '<', "$dir/soak-load-$k.jsonl" or die;
	push @recs, map { decode_json($_) } <$fh>;
}
ok(@recs > 100, scalar(@recs) . ' requests made');

sub in_window
{
	my ($r) = @_;
	return grep { $r->{t0} <= $_->[2] && $r->{t1} >= $_->[1] } @windows;
}

my (%by_status, @bad_5xx, @violations, @live_unapproved, %accepted, $ambiguous_sends, %by_outcome);
for my $r (@recs)
{
	$by_status{ $r->{status} }++;
	my $body = ref $r->{body} eq 'HASH' ? $r->{body} : {};
	if ($r->{status} >= 500)
	{
		push @bad_5xx, $r unless $r->{status} == 503 && in_window($r)
		  && ($body->{error} // '') eq 'service_unavailable';
		$ambiguous_sends++ if $r->{op} eq 'send';
		next;
	}
	my $got = $r->{status} == 200 ? ($r->{op} eq 'send' ? '200' : ($body->{status} // '?')) : ($body->{error} // "http$r->{status}");
	$by_outcome{"$r->{op} $got"}++;
	$accepted{ $body->{request_id} }++ if $r->{op} eq 'send' && $r->{status} == 200;
	my %ok = map { $_ => 1 } split /\|/, $r->{expect};
	if (!$ok{$got})
	{
		if ($r->{kind} eq 'delivered') { push @live_unapproved, $r; }
		else { push @violations, $r; }
		next;
	}
	# An approval is for the number's latest send; a replay returns the first reply.
	push @violations, $r if $got eq 'approved' && $body->{request_id} ne $r->{rid};
	push @violations, $r if $r->{kind} eq 'replay' && $body->{request_id} ne $r->{replay_of};
}
is(scalar @bad_5xx, 0, 'no 5xx except 503 service_unavailable during an outage')
  or diag(join "\n", map { encode_json($_) } @bad_5xx[ 0 .. ($#bad_5xx < 9 ? $#bad_5xx : 9) ]);
is(scalar @violations, 0, 'every reply is what the codes sent so far call for')
  or diag(join "\n", map { encode_json($_) } @violations[ 0 .. ($#violations < 9 ? $#violations : 9) ]);
# A delivered code whose message failed afterwards (sent again after a
# crash, then refused) or expired may not be approved.
my @unexplained = grep {
	sql("SELECT count(*) FROM justauth.outbox WHERE session_id = '$_->{rid}' AND status IN ('failed', 'expired')") != 1
} @live_unapproved;
is(scalar @unexplained, 0, 'a delivered live code is approved unless its message failed or expired')
  or diag(join "\n", map { encode_json($_) } @unexplained[ 0 .. ($#unexplained < 9 ? $#unexplained : 9) ]);
ok(($by_outcome{'verify approved'} // 0) > 0 && ($by_outcome{'verify otp_superseded'} // 0) > 0
	  && ($by_outcome{'verify invalid_otp'} // 0) > 0 && ($by_outcome{'send insufficient_balance'} // 0) > 0,
	'the load approved, superseded, refused wrong codes and ran a wallet dry');

# ---- money ----
is(sql("SELECT count(*) FROM justauth.wallets WHERE balance <> ledger_sum"), '0',
	'every wallet balance equals its ledger');
is(sql("SELECT count(*) FROM justauth.wallet_statement WHERE running_balance < 0"), '0',
	'no wallet ever went negative (running balance)');
is(sql("SELECT count(*) FROM justauth.wallets WHERE client_id IN ($client_list) AND balance < 0"), '0',
	'no balance is negative');
my %ledger;
for (split /\n/, sql("SELECT session_id, count(*) FILTER (WHERE kind = 'debit'), count(*) FILTER (WHERE kind = 'refund')
	FROM justauth.ledger WHERE session_id IS NOT NULL GROUP BY 1"))
{
	my ($sid, $d, $rf) = split /\|/;
	$ledger{$sid} = [ $d, $rf ];
}
my @badpay = grep { !$ledger{$_} || $ledger{$_}[0] != 1 || $ledger{$_}[1] > 1 } keys %accepted;
is(scalar @badpay, 0, scalar(keys %accepted) . ' accepted sends: each has exactly one debit and at most one refund')
  or diag("e.g. @badpay[0 .. ($#badpay < 4 ? $#badpay : 4)]");
my $unseen = grep { !$accepted{$_} && $ledger{$_}[0] } keys %ledger;
ok($unseen <= ($ambiguous_sends // 0),
	"debits of sends not answered 200 ($unseen) are within the sends answered 503 (" . ($ambiguous_sends // 0) . ')');
is(sql("SELECT count(*) FROM justauth.sessions s WHERE s.status = 'approved'
	AND EXISTS (SELECT 1 FROM justauth.ledger l WHERE l.session_id = s.session_id AND l.kind = 'refund')"),
	'0', 'no approved session was refunded');

# ---- outbox ----
is(sql("SELECT count(*) FROM justauth.outbox o WHERE o.status IN ('failed', 'expired')
	AND (SELECT count(*) FROM justauth.ledger l WHERE l.session_id = o.session_id AND l.kind = 'refund') <> 1"),
	'0', 'every failed or expired message was refunded exactly once');
is(sql("SELECT count(*) FROM justauth.ledger l WHERE l.kind = 'refund' AND NOT EXISTS
	(SELECT 1 FROM justauth.outbox o WHERE o.session_id = l.session_id AND o.status IN ('failed', 'expired'))"),
	'0', 'every refund belongs to a failed or expired message');
is(sql("SELECT count(*) FROM justauth.sessions s WHERE s.mode = 'live' AND s.client_id IN ($client_list)
	AND (SELECT count(*) FROM justauth.outbox o WHERE o.session_id = s.session_id) <> 1"),
	'0', 'every live send has exactly one outbox row');
is(sql("SELECT count(*) FROM justauth.outbox WHERE code IS NOT NULL"), '0', 'no plaintext code left in the outbox');
my %wamids;
for my $m (@{ $mock->requests })
{
	$wamids{ $m->{wamid} } = $m->{to} if $m->{status} == 200 && $m->{wamid} ne '';
}
my @lost = grep {
	my ($to, $w) = split /\|/;
	!defined $wamids{$w} || $wamids{$w} ne $to
} split /\n/, sql("SELECT to_number, provider_message_id FROM justauth.outbox WHERE status = 'sent'");
is(scalar @lost, 0, 'every message recorded as sent was accepted by the API for its number');

# ---- memory ----
ok(defined $mid_gw && defined $end_gw && $end_gw <= $mid_gw * (1 + $rss_pct / 100) + $rss_kb,
	"gateway anonymous RSS: middle ${\($mid_gw // '?')} kB, end ${\($end_gw // '?')} kB");
is($end_worker_pid, $mid_worker_pid, 'the same worker ran from the middle to the end');
ok(defined $mid_worker && defined $end_worker && $end_worker <= $mid_worker * (1 + $rss_pct / 100) + $rss_kb,
	"worker anonymous RSS: middle ${\($mid_worker // '?')} kB, end ${\($end_worker // '?')} kB");

# ---- summary ----
my %mock_seen;
for my $m (@{ $mock->requests })
{
	my $kind = $m->{status} == 200 ? ($m->{wamid} ne '' ? 'accepted' : 'garbage')
	  : $m->{status} == 504 ? 'timeout' : $m->{error_code} ? "error $m->{error_code}" : "http $m->{status}";
	$mock_seen{$kind}++;
}
my $fmt = sub { my ($h) = @_; join ', ', map { "$_: $h->{$_}" } sort keys %$h };
my @summary = (
	sprintf('soak: %d s, %d load processes, %d requests (%.0f/s)', $seconds, $procs, scalar @recs, @recs / $seconds),
	'HTTP statuses: ' . $fmt->(\%by_status),
	'outcomes: ' . $fmt->(\%by_outcome),
	'fault rules set at the mock (each replaces the last; only deliveries use them): ' . $fmt->(\%faults),
	'mock answers (faults injected): ' . $fmt->(\%mock_seen),
	'disruptions: ' . $fmt->(\%events),
	'messages the API accepted again (at-least-once window after a crash): '
	  . (($mock_seen{accepted} // 0) - sql("SELECT count(*) FROM justauth.outbox WHERE status IN ('sent', 'delivered', 'read')")),
	'outbox final states: ' . join(', ', split /\n/, sql("SELECT status || ': ' || count(*) FROM justauth.outbox GROUP BY status ORDER BY status")),
	'refunds: ' . join(', ', split /\n/, sql("SELECT coalesce(reason, '?') || ': ' || count(*) FROM justauth.ledger WHERE kind = 'refund' GROUP BY reason ORDER BY reason")),
	'debits: ' . sql("SELECT count(*) FROM justauth.ledger WHERE kind = 'debit'") . ", accepted sends: " . scalar(keys %accepted)
	  . ', sends answered 503: ' . ($ambiguous_sends // 0),
	'worker: ' . sql("SELECT format('retried %s, reclaimed %s, requests %s since the last start', retried, reclaimed, requests) FROM justauth.worker_status"),
	"RSS anon kB: gateway $mid_gw -> $end_gw, worker $mid_worker -> $end_worker",
);
diag($_) for @summary;
open my $sfh, '>', "$dir/soak-summary.txt" or die;
print $sfh "$_\n" for @summary;
close $sfh;

is($gw->stop, 0, 'gateway still running and stops cleanly');
$node->stop;
done_testing();
