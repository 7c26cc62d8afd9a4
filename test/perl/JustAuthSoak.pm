
# JustAuthSoak: the load generator of the fault-injection soak
# (test/t/70_soak.pl).  Each load process owns its own numbers, so for every
# number the requests are sequential and the expected answer of each one is
# known when it is made; every request is written as one JSON line:
#
#   {"k":0,"seq":1,"t0":...,"t1":...,"op":"send","client":"S1","number":"...",
#    "status":200,"body":{...},"expect":"200","rid":"...","code":"..."}
#
# "expect" is a |-separated list of acceptable statuses or error codes;
# 503 is judged by the caller against the outage windows.
package JustAuthSoak;

use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use JustAuthGateway;
use Time::HiRes qw(time);

# new(k => N, base => gateway URL, mock => mock URL, clients => {S1 => [id, key], ...},
#     deadline => epoch seconds, out => file)
sub new
{
	my ($class, %opt) = @_;
	my $self = bless {
		%opt,
		http => HTTP::Tiny->new(timeout => 30, keep_alive => 1),
		mockhttp => HTTP::Tiny->new(timeout => 30, keep_alive => 1),
		json => JSON::PP->new->canonical,
		seq => 0,
		sb => {},             # S1 number -> state
		sb_list => [],
		live => {},           # live number -> state
		live_list => [],
		keyed => [],          # [number, key, body] of keyed S1 sends answered 200
		fresh => 0,
		mock_cursor => 0,
		mock_polled => 0,
	}, $class;
	return $self;
}

# A fresh number of this load process: 91, then 6..9 by process, 9 digits.
sub fresh_number
{
	my ($self) = @_;
	return sprintf('91%d%09d', 6 + $self->{k} % 4, int($self->{k} / 4) * 100_000_000 + ++$self->{fresh});
}

# One request; records it and returns (status, decoded body).
sub call
{
	my ($self, $op, $client, $number, $path, %opt) = @_;
	my ($id, $key) = @{ $self->{clients}{$client} };
	# Credentials in headers, the rest in the query string: no body, so
	# each request is one write (no Nagle/delayed-ACK stall on keep-alive).
	my %h = ('X-Client-Id' => $id);
	$h{Authorization} = "Bearer $key" if $op eq 'send';
	$h{'Idempotency-Key'} = $opt{idem} if defined $opt{idem};
	my $query = "number=$number";
	$query .= "&otp=$opt{otp}" if defined $opt{otp};
	my $t0 = time;
	my $res = $self->{http}->request('POST', "$self->{base}$path?$query", { headers => \%h });
	my $t1 = time;
	my $body = eval { decode_json($res->{content}) };
	my %rec = (
		k => $self->{k}, seq => ++$self->{seq}, t0 => $t0, t1 => $t1, op => $op,
		client => $client, number => $number, status => $res->{status} + 0,
		body => $body // $res->{content}, expect => $opt{expect},
		map { defined $opt{$_} ? ($_ => $opt{$_}) : () } qw(otp idem rid kind replay_of),
	);
	print { $self->{out_fh} } $self->{json}->encode(\%rec), "\n";
	return ($res->{status}, $body);
}

# Codes the mock accepted (200 with a message id) for this process's live numbers.
sub poll_mock
{
	my ($self) = @_;
	return if time - $self->{mock_polled} < 0.5;
	$self->{mock_polled} = time;
	my $r = $self->{mockhttp}->get("$self->{mock}/_requests?since=$self->{mock_cursor}");
	return unless $r->{success};
	my $list = eval { decode_json($r->{content}) } or return;
	for my $m (@$list)
	{
		$self->{mock_cursor} = $m->{seq} if $m->{seq} > $self->{mock_cursor};
		my $st = $self->{live}{ $m->{to} } or next;
		$st->{delivered_code} = $m->{body_code}
		  if $m->{status} == 200 && $m->{wamid} ne '';
	}
	return;
}

# A random 6-digit code that is none of the given ones.
sub wrong_code
{
	my (@not) = @_;
	while (1)
	{
		my $c = sprintf('%06d', int(rand(1_000_000)));
		return $c unless grep { defined $_ && $_ eq $c } @not;
	}
}

# An answer that may have changed the database without our knowing how
# (503, transport error): the number is not used again.
sub ambiguous
{
	my ($status) = @_;
	return $status >= 500;
}

# Sandbox send to a fresh number or a resend that supersedes the last code.
sub sandbox_send
{
	my ($self) = @_;
	my @old = grep { !$_->{retired} && time - $_->{last_t} > 3 } map { $self->{sb}{$_} } @{ $self->{sb_list} };
	my $st;
	if (@old && rand() < 0.4)
	{
		$st = $old[ int(rand(@old)) ];
	}
	else
	{
		my $n = $self->fresh_number;
		$st = $self->{sb}{$n} = { number => $n, sends => [], wrong => 0, approved => 0 };
		push @{ $self->{sb_list} }, $n;
	}
	my $idem = rand() < 0.3 ? "k$self->{k}-$self->{seq}" : undef;
	my ($status, $body) = $self->call('send', 'S1', $st->{number}, '/api/v1/send-otp',
		idem => $idem, expect => '200', kind => @{ $st->{sends} } ? 'resend' : 'fresh');
	$st->{last_t} = time;
	if ($status == 200 && ref $body eq 'HASH')
	{
		push @{ $st->{sends} }, { rid => $body->{request_id}, code => JustAuthGateway::code_of($body) };
		$st->{wrong} = 0;
		$st->{approved} = 0;
		push @{ $self->{keyed} }, [ $st, $idem, $body ] if defined $idem;
	}
	$st->{retired} = 1 if ambiguous($status);
	return;
}

# Replays a keyed sandbox send: the identical reply, no new session.
sub sandbox_replay
{
	my ($self) = @_;
	my @k = grep { !$_->[0]{retired} } @{ $self->{keyed} };
	return $self->sandbox_send unless @k;
	my ($st, $idem, $body) = @{ $k[ int(rand(@k)) ] };
	my ($status) = $self->call('send', 'S1', $st->{number}, '/api/v1/send-otp',
		idem => $idem, expect => '200', kind => 'replay', replay_of => $body->{request_id});
	$st->{retired} = 1 if ambiguous($status);
	return;
}

# Send of a client with few credits and default limits (S2 sandbox, L2 live).
sub poor_send
{
	my ($self, $client) = @_;
	my ($status) = $self->call('send', $client, $self->fresh_number, '/api/v1/send-otp',
		expect => '200|insufficient_balance', kind => 'poor');
	return;
}

# Sandbox verify: latest code, a wrong one, an older one, or again after approval.
sub sandbox_verify
{
	my ($self) = @_;
	my @cand = grep { !$_->{retired} && @{ $_->{sends} } } map { $self->{sb}{$_} } @{ $self->{sb_list} };
	return $self->sandbox_send unless @cand;
	my $st = $cand[ int(rand(@cand)) ];
	my $latest = $st->{sends}[-1];
	# Older codes whose session was still pending when a resend superseded it.
	my @older = grep { !$_->{approved} } @{ $st->{sends} }[ 0 .. $#{ $st->{sends} } - 1 ];
	my ($otp, $expect, $kind);
	my $r = rand();
	if ($st->{approved})
	{
		($otp, $expect, $kind) = ($latest->{code}, 'otp_not_found', 'again');
	}
	elsif ($st->{wrong} < 2 && $r < 0.15)
	{
		($otp, $expect, $kind) = (wrong_code(map { $_->{code} } @{ $st->{sends} }), 'invalid_otp', 'wrong');
	}
	elsif ($st->{wrong} < 2 && @older && $r < 0.3)
	{
		my $o = $older[ int(rand(@older)) ];
		($otp, $expect, $kind) = ($o->{code}, $o->{code} eq $latest->{code} ? 'approved' : 'otp_superseded', 'older');
	}
	else
	{
		($otp, $expect, $kind) = ($latest->{code}, 'approved', 'latest');
	}
	my ($status, $body) = $self->call('verify', 'S1', $st->{number}, '/api/v1/verify-otp',
		otp => $otp, expect => $expect, kind => $kind, rid => $latest->{rid});
	$st->{wrong}++ if $expect ne 'approved' && $kind ne 'again';
	$st->{approved} = $latest->{approved} = 1 if $status == 200;
	$st->{retired} = 1 if ambiguous($status);
	return;
}

# Live send to a fresh number (one send per live number, so the code the
# mock saw for it is the code of that send).
sub live_send
{
	my ($self) = @_;
	my $n = $self->fresh_number;
	my ($status, $body) = $self->call('send', 'L1', $n, '/api/v1/send-otp', expect => '200', kind => 'live');
	if ($status == 200 && ref $body eq 'HASH')
	{
		$self->{live}{$n} = { number => $n, rid => $body->{request_id}, t => time, wrong => 0, approved => 0 };
		push @{ $self->{live_list} }, $n;
	}
	return;
}

# Live verify with the code the mock received, or a wrong code while it
# has not been delivered yet.
sub live_verify
{
	my ($self) = @_;
	my @cand = grep { !$_->{retired} } map { $self->{live}{$_} } @{ $self->{live_list} };
	return $self->live_send unless @cand;
	$self->poll_mock;
	my $st = $cand[ int(rand(@cand)) ];
	my $code = $st->{delivered_code};
	my ($otp, $expect, $kind);
	if ($st->{approved})
	{
		($otp, $expect, $kind) = ($code, 'otp_not_found', 'again');
	}
	elsif (defined $code)
	{
		# A delivered code may still belong to a message that failed later
		# (sent again after a crash, then refused) or expired: the caller
		# checks those against the outbox.
		# Close to the code's lifetime (the live client's default 120 s)
		# it may have expired.
		($otp, $expect, $kind) = ($code, time - $st->{t} > 110 ? 'approved|otp_expired' : 'approved', 'delivered');
	}
	elsif ($st->{wrong} < 2)
	{
		($otp, $expect, $kind) = (wrong_code(), 'invalid_otp|otp_expired|otp_not_found', 'wrong');
	}
	else
	{
		return $self->live_send;
	}
	my ($status) = $self->call('verify', 'L1', $st->{number}, '/api/v1/verify-otp',
		otp => $otp, expect => $expect, kind => $kind, rid => $st->{rid});
	$st->{wrong}++ if $kind eq 'wrong';
	$st->{approved} = 1 if $status == 200;
	$st->{retired} = 1 if ambiguous($status);
	return;
}

# The load loop until the deadline.
sub run
{
	my ($self) = @_;
	srand(1000 + $self->{k});
	open($self->{out_fh}, '>', $self->{out}) or die "$self->{out}: $!";
	$self->{out_fh}->autoflush(1);
	while (time < $self->{deadline})
	{
		my $r = rand();
		if ($r < 0.28) { $self->sandbox_send }
		elsif ($r < 0.33) { $self->sandbox_replay }
		elsif ($r < 0.36) { $self->poor_send('S2') }
		elsif ($r < 0.60) { $self->sandbox_verify }
		elsif ($r < 0.75) { $self->live_send }
		elsif ($r < 0.78) { $self->poor_send('L2') }
		else { $self->live_verify }
	}
	close $self->{out_fh};
	return;
}

1;
