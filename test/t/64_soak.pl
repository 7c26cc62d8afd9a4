
# Soak with fault injection: mixed send/verify load through the gateway
# while the mock WhatsApp server answers with random failures (500, 429,
# 130429, 131026, 131000, timeouts, garbage, no message id), the delivery
# worker is killed with SIGKILL three times (each also makes the postmaster
# reset every session, a short outage of its own), and PostgreSQL crashes
# (immediate stop) and stays down for some seconds, so the gateway loses
# its database.  Afterwards nothing may be lost or double-counted:
#   - every wallet's balance equals its ledger and never went negative;
#   - every accepted send has exactly one debit and at most one refund,
#     refunds only for undelivered messages;
#   - every outbox row is final, with its plaintext code erased;
#   - verify results agree with the codes sent: the right sandbox code is
#     approved, a wrong one refused, no session approved twice, no approval
#     the load did not make;
#   - the gateway's and the worker's RSS did not grow;
#   - no 5xx but 503, and 503 only while the database was down.
# JUSTAUTH_SOAK_SECONDS sets the load time (default 60; `make soak` 600).

use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use POSIX ':sys_wait_h';
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;
use JustAuthGateway;

my $seconds = $ENV{JUSTAUTH_SOAK_SECONDS} // 60;
my $children = 4;
my $tmp = PostgreSQL::Test::Utils::tempdir('soak');

my $mock = JustAuthMock->new(args => [ '--hang-ms', '2500' ]);
my $node = start_worker_node('soak', $mock, extra => q{
restart_after_crash = on
justauth.poll_interval_ms = 1000
justauth.retry_base_ms = 100
justauth.retry_max_ms = 1000
justauth.request_timeout_ms = 2000
});
$node->safe_psql('postgres', 'CREATE ROLE gw LOGIN IN ROLE justauth_gateway');

# Two live clients and a sandbox one; short codes' life so undelivered
# messages settle (expire and refund) soon after the load stops.
my %clients;
for my $c ([ 'live1', 'live' ], [ 'live2', 'live' ], [ 'sandbox', 'sandbox' ])
{
	my ($name, $mode) = @$c;
	my ($id, $key) = JustAuthGateway::create_client($node, "Soak $name", $mode, 1000000);
	$node->safe_psql('postgres', qq{
		UPDATE justauth.clients SET code_ttl_seconds = 20, resend_cooldown_seconds = 0,
			max_sends_per_window = 1000, send_window_seconds = 60 WHERE client_id = '$id'});
	$clients{$name} = { id => $id, key => $key, mode => $mode };
}
my $gw = JustAuthGateway->start($node);
my $gw_pid = $gw->{handle}{KIDS}[0]{PID};

# ---------------------------------------------------------------------------
# Load: each child owns its numbers (no child supersedes another's code) and
# appends one JSON line per request to its own file.
# ---------------------------------------------------------------------------
my $t0 = time;
my $deadline = $t0 + $seconds;
my @kids;
for my $k (0 .. $children - 1)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# Children leave with _exit: the test modules' END blocks, which
		# would stop the cluster, belong to the parent alone.
		eval { load_child($k) };
		print STDERR "load child $k: $@" if $@;
		POSIX::_exit(0);
	}
	push @kids, $pid;
}

# One load child: send, and for sandbox codes verify (sometimes a wrong
# code first), until the deadline.
sub load_child
{
	my ($k) = @_;
	srand($$);
	my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
	open my $out, '>', "$tmp/load-$k.jsonl" or die;
	$out->autoflush(1);
	my $call = sub {
		my ($route, $client, $number, $otp) = @_;
		my %p = ('client-id' => $client->{id}, number => $number);
		$p{otp} = $otp if defined $otp;
		my $res = $http->post("$gw->{base}/api/v1/$route",
			{ headers => { 'Content-Type' => 'application/json', 'X-Api-Key' => $client->{key} },
			  content => encode_json(\%p) });
		my $body = eval { decode_json($res->{content}) } // {};
		print $out encode_json({ t => time, route => $route, client => $client->{id},
				mode => $client->{mode}, number => $number, otp => $otp,
				status => $res->{status}, reply => $body }) . "\n";
		return ($res->{status}, $body);
	};
	while (time < $deadline)
	{
		my $name = (qw(live1 live2 sandbox))[ int(rand(3)) ];
		my $c = $clients{$name};
		my $number = sprintf('9198%d%d%06d', $k, ($name eq 'live2' ? 2 : $name eq 'live1' ? 1 : 3),
			int(rand(40)));
		my ($status, $body) = $call->('send-otp', $c, $number);
		next unless $status == 200 && $c->{mode} eq 'sandbox';
		my ($code) = ($body->{message_simulated} // '') =~ /code is (\d+)\./;
		$call->('verify-otp', $c, $number, sprintf('%06d', ($code + 1 + int(rand(999998))) % 1000000))
		  if rand() < 0.3;
		$call->('verify-otp', $c, $number, $code);
	}
	close $out;
}

# Live codes reach the mock; verify each delivered code once, as users do.
my $vpid = fork();
die "fork: $!" unless defined $vpid;
if ($vpid == 0)
{
	eval { verify_child() };
	print STDERR "verify child: $@" if $@;
	POSIX::_exit(0);
}

# The live users: verify each code the mock received, once.
sub verify_child
{
	my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
	open my $out, '>', "$tmp/load-verify.jsonl" or die;
	$out->autoflush(1);
	my $seen = 0;
	my %done;
	while (time < $deadline + 5)
	{
		my $list = eval { decode_json($http->get($mock->url . "/_requests?since=$seen")->{content}) } // [];
		for my $m (@$list)
		{
			$seen = $m->{seq} if $m->{seq} > $seen;
			next unless $m->{status} == 200 && $m->{body_code} =~ /^\d+$/;
			my $number = $m->{to} =~ s/^\+//r;
			next if $done{"$number/$m->{body_code}"}++;
			my ($kind) = $number =~ /^9198\d(\d)/;
			my $c = $clients{ $kind == 1 ? 'live1' : 'live2' };
			my $res = $http->post("$gw->{base}/api/v1/verify-otp",
				{ headers => { 'Content-Type' => 'application/json' },
				  content => encode_json({ 'client-id' => $c->{id}, number => $number, otp => $m->{body_code} }) });
			my $body = eval { decode_json($res->{content}) } // {};
			print $out encode_json({ t => time, route => 'verify-otp', client => $c->{id}, mode => 'live',
					number => $number, otp => $m->{body_code}, status => $res->{status}, reply => $body }) . "\n";
		}
		sleep(0.2);
	}
}

# ---------------------------------------------------------------------------
# Chaos, from this process.
# ---------------------------------------------------------------------------
my @faults = qw(500 429 130429 131026 131000 timeout garbage noid);
my (%injected, @outages, %rss);
my $worker_kills = 0;
my $pg_restarts = 0;
my %plan = (0.2 => 'kill', 0.45 => 'kill', 0.55 => 'outage', 0.7 => 'kill');
my @steps = sort { $a <=> $b } keys %plan;

sub rss_kb
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/; }
	return undef;
}

sub worker_pid { return JustAuthGateway::worker_pid($node); }

my $next_fault = time;
while (time < $deadline)
{
	my $frac = (time - $t0) / $seconds;
	if (time >= $next_fault)
	{
		my $f = $faults[ int(rand(@faults)) ];
		my $count = 1 + int(rand(4));
		eval { $mock->control(fail => $f, count => $count); $injected{$f} += $count; };
		$next_fault = time + 1.5;
	}
	if (@steps && $frac >= $steps[0])
	{
		my $what = $plan{ shift @steps };
		if ($what eq 'kill')
		{
			# A backend killed by a signal makes the postmaster reset every
			# session (crash restart): the gateway sees a short outage too.
			my $pid = worker_pid();
			my $down = time;
			if ($pid && kill('KILL', $pid))
			{
				$worker_kills++;
				# wait for the postmaster to start a new worker (bgw_restart_time)
				for (1 .. 300) { my $p = worker_pid(); last if $p && $p != $pid; sleep(0.1); }
				push @outages, [ $down, time ];
			}
		}
		else
		{
			my $down = time;
			$node->stop('immediate');
			sleep(4);
			$node->start;
			push @outages, [ $down, time ];
			$pg_restarts++;
		}
	}
	# RSS baselines once warmed up; the worker's after its last restart.
	$rss{gw_mid} //= rss_kb($gw_pid) if $frac >= 0.3;
	if (!@steps && !defined $rss{worker_mid} && $frac >= 0.75)
	{
		my $wp = worker_pid();
		$rss{worker_pid} = $wp;
		$rss{worker_mid} = rss_kb($wp) if $wp;
	}
	sleep(0.1);
}
waitpid($_, 0) for @kids, $vpid;
$rss{gw_end} = rss_kb($gw_pid);
$rss{worker_end} = rss_kb($rss{worker_pid}) if $rss{worker_pid};

# Let everything settle: no more faults, every message final.  (The reset
# also forgets the mock's request log: keep it for the summary.)
my @wa_requests = @{ $mock->requests };
$mock->reset;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM justauth.outbox WHERE status IN ('queued', 'sending')"),
	'every outbox row reaches a final state after the load');

# ---------------------------------------------------------------------------
# What the clients saw.
# ---------------------------------------------------------------------------
my @log;
for my $f (glob("$tmp/load-*.jsonl"))
{
	open my $fh, '<', $f or die;
	push @log, map { decode_json($_) } <$fh>;
}
my %by_status;
$by_status{"$_->{route} $_->{status}"}++ for @log;
my @sends = grep { $_->{route} eq 'send-otp' && $_->{status} == 200 } @log;
ok(@sends > 50, scalar(@sends) . ' sends accepted under load');

my @bad5xx = grep { $_->{status} >= 500 && $_->{status} != 503 } @log;
is(scalar(@bad5xx), 0, 'no 5xx other than 503')
  or diag(encode_json([ @bad5xx[ 0 .. ($#bad5xx < 4 ? $#bad5xx : 4) ] ]));
# A 503 must fall within an outage (PostgreSQL down, or the crash restart
# after a worker SIGKILL), with a margin for requests already in
# flight when the database went down or came back).
my @stray503 = grep {
	my $t = $_->{t};
	$_->{status} == 503 && !grep { $t >= $_->[0] - 1 && $t <= $_->[1] + 10 } @outages
} @log;
is(scalar(@stray503), 0, '503 only while the database was down')
  or diag(encode_json([ @stray503[ 0 .. ($#stray503 < 4 ? $#stray503 : 4) ] ]));
is($pg_restarts, 1, 'PostgreSQL was taken down and restarted once');
cmp_ok($worker_kills, '>=', 3, "the worker was killed with SIGKILL $worker_kills times");
cmp_ok(scalar(grep { $_->{status} == 503 } @log), '>', 0, 'the outage was seen by clients (503)');

# ---------------------------------------------------------------------------
# Money.
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres', 'SELECT count(*) FROM justauth.wallets WHERE balance <> ledger_sum'),
	'0', 'every wallet balance equals its ledger');
is($node->safe_psql('postgres', 'SELECT count(*) FROM justauth.wallet_statement WHERE running_balance < 0'),
	'0', 'no wallet ever went negative in ledger order');
my %debits = map { split /\|/ } split /\n/, $node->safe_psql('postgres', q{
	SELECT session_id, count(*) FROM justauth.ledger WHERE kind = 'debit' GROUP BY 1});
my @unpaid = grep { ($debits{ $_->{reply}{request_id} // '' } // 0) != 1 } @sends;
is(scalar(@unpaid), 0, 'every accepted send has exactly one debit');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM justauth.sessions s
	 WHERE NOT s.is_test
	   AND (SELECT count(*) FROM justauth.ledger l WHERE l.session_id = s.session_id AND l.kind = 'debit') <> 1}),
	'0', 'every session in the database has exactly one debit');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT session_id FROM justauth.ledger WHERE kind = 'refund'
						   GROUP BY 1 HAVING count(*) > 1) d}),
	'0', 'no send refunded twice');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM justauth.ledger l
	 WHERE l.kind = 'refund'
	   AND NOT EXISTS (SELECT 1 FROM justauth.outbox o
					    WHERE o.session_id = l.session_id AND o.status IN ('failed', 'expired'))}),
	'0', 'refunds only for messages that failed or expired');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM justauth.outbox o
	 WHERE o.status IN ('failed', 'expired')
	   AND NOT EXISTS (SELECT 1 FROM justauth.ledger l WHERE l.session_id = o.session_id AND l.kind = 'refund')}),
	'0', 'every failed or expired message was refunded');
is($node->safe_psql('postgres', 'SELECT count(*) FROM justauth.outbox WHERE code IS NOT NULL'),
	'0', 'no plaintext code left in the outbox');
my @live_sends = grep { $_->{mode} eq 'live' } @sends;
my %outbox = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	'SELECT session_id, status FROM justauth.outbox');
is(scalar(grep { !$outbox{ $_->{reply}{request_id} } } @live_sends), 0,
	'every accepted live send has its outbox row');

# ---------------------------------------------------------------------------
# Verification.
# ---------------------------------------------------------------------------
my @verifies = grep { $_->{route} eq 'verify-otp' && $_->{status} != 503 } @log;
my %sandbox_code;    # number => code of its latest accepted send, per child order
my @inconsistent;
for my $e (sort { $a->{t} <=> $b->{t} } grep { $_->{mode} eq 'sandbox' } @log)
{
	if ($e->{route} eq 'send-otp' && $e->{status} == 200)
	{
		($sandbox_code{ $e->{number} }) = $e->{reply}{message_simulated} =~ /code is (\d+)\./;
	}
	elsif ($e->{route} eq 'verify-otp' && $e->{status} != 503 && defined $sandbox_code{ $e->{number} })
	{
		my $right = $e->{otp} eq $sandbox_code{ $e->{number} };
		my $approved = ($e->{reply}{status} // '') eq 'approved';
		push @inconsistent, $e
		  if ($right && !$approved) || (!$right && ($e->{reply}{error} // '') ne 'invalid_otp');
		delete $sandbox_code{ $e->{number} } if $approved;
	}
}
is(scalar(@inconsistent), 0, 'sandbox: the right code is approved, a wrong one refused')
  or diag(encode_json([ @inconsistent[ 0 .. ($#inconsistent < 4 ? $#inconsistent : 4) ] ]));
my %approved;
$approved{ $_->{reply}{request_id} }++
  for grep { ($_->{reply}{status} // '') eq 'approved' } @verifies;
is(scalar(grep { $_ > 1 } values %approved), 0, 'no session approved twice');
my @db_approved = split /\n/, $node->safe_psql('postgres',
	"SELECT session_id FROM justauth.sessions WHERE status = 'approved'");
# A verify whose reply was lost to the crash (503) may still have committed.
my $lost = grep { $_->{route} eq 'verify-otp' && $_->{status} == 503 } @log;
cmp_ok(scalar(grep { !$approved{$_} } @db_approved), '<=', $lost,
	'every approved session was approved by a verify the load made (or whose reply the crash lost)');
cmp_ok(scalar(grep { $_->{mode} eq 'live' && ($_->{reply}{status} // '') eq 'approved' } @verifies),
	'>', 0, 'live codes delivered through the faults were verified');

# ---------------------------------------------------------------------------
# Memory: RSS at the end against the warmed-up value, with room for
# allocator noise (the bound is generous; a leak per request over a soak
# of thousands of requests exceeds it).
# ---------------------------------------------------------------------------
for my $p ([ 'gateway', 'gw' ], [ 'worker', 'worker' ])
{
	my ($what, $k) = @$p;
	my ($mid, $end) = ($rss{"${k}_mid"}, $rss{"${k}_end"});
	ok(defined $mid && defined $end && $end <= $mid * 1.5 + 8192,
		sprintf('%s RSS did not grow (%s kB warmed up, %s kB at the end)', $what, $mid // '?', $end // '?'));
}

# ---------------------------------------------------------------------------
# Summary.
# ---------------------------------------------------------------------------
my $states = $node->safe_psql('postgres',
	"SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) n FROM justauth.outbox GROUP BY 1) s");
my $refunds = $node->safe_psql('postgres', "SELECT count(*) FROM justauth.ledger WHERE kind = 'refund'");
# Possible by design: the mock answered garbage or no id after the user got
# the message, the worker retried until it gave up and refunded.
my $approved_refunded = $node->safe_psql('postgres', q{
	SELECT count(*) FROM justauth.ledger l JOIN justauth.sessions s USING (session_id)
	 WHERE l.kind = 'refund' AND s.verified_at IS NOT NULL});
push @wa_requests, @{ $mock->requests };
my %dup;
$dup{"$_->{to}/$_->{body_code}"}++ for grep { $_->{status} == 200 } @wa_requests;
diag(sprintf("soak %ds: %d HTTP requests (%s); faults injected %s; worker SIGKILLs %d; "
	  . "PostgreSQL restarts %d; WhatsApp requests %d, messages delivered twice %d; outbox: %s; refunds %d (of verified sessions %d)",
	$seconds, scalar(@log), join(', ', map { "$_ $by_status{$_}" } sort keys %by_status),
	join(', ', map { "$_ x$injected{$_}" } sort keys %injected), $worker_kills, $pg_restarts,
	scalar(@wa_requests), scalar(grep { $_ > 1 } values %dup), $states, $refunds, $approved_refunded));

$gw->stop;
$node->stop;
$mock->stop;
done_testing();
