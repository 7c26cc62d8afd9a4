# Helpers for the delivery worker's TAP tests: run the mock WhatsApp server
# (test/mock/mock-whatsapp), script its failures, read what it received,
# and start a cluster whose worker talks to it.
package JustAuthMock;

use strict;
use warnings;
use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use POSIX ':sys_wait_h';
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(start_worker_node live_client send_live wait_until outbox_row);

our $TOKEN = 'mock-token-0123456789';
our $PHONE_ID = '106540352242922';

# JustAuthMock->new(%options): start a mock on a free port.
#   token => expected bearer token, latency_ms => N, args => [...]
sub new
{
	my ($class, %opt) = @_;
	my $self = bless {
		port => $opt{port} // PostgreSQL::Test::Cluster::get_free_port(),
		token => $opt{token} // $TOKEN,
		args => $opt{args} // [],
		http => HTTP::Tiny->new(timeout => 30, keep_alive => 0),
	}, $class;
	$self->start;
	return $self;
}

sub start
{
	my ($self) = @_;
	my $bin = ($ENV{JUSTAUTH_SRC} // '.') . '/test/mock/mock-whatsapp';
	my $log = "$PostgreSQL::Test::Utils::tmp_check/mock-$self->{port}.log";
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open STDOUT, '>>', $log or die;
		open STDERR, '>&', \*STDOUT or die;
		exec $bin, '--listen', "127.0.0.1:$self->{port}", '--token', $self->{token},
		  '--phone-number-id', $PHONE_ID, '--threads', '512', @{ $self->{args} }
		  or die "exec $bin: $!";
	}
	$self->{pid} = $pid;
	for (1 .. 200)
	{
		return $self if $self->{http}->get($self->url . '/_requests')->{success};
		usleep(25_000);
	}
	die "mock-whatsapp did not start on port $self->{port}";
}

sub url { my ($self) = @_; return "http://127.0.0.1:$self->{port}"; }

# control(fail => 131026, count => 1, to => '91...', latency_ms => 20, hang_ms => N)
sub control
{
	my ($self, %q) = @_;
	my $qs = join '&', map { "$_=$q{$_}" } sort keys %q;
	my $r = $self->{http}->post($self->url . "/_control?$qs");
	die "mock control failed: $r->{status} $r->{content}" unless $r->{success};
	return;
}

sub reset
{
	my ($self) = @_;
	my $r = $self->{http}->post($self->url . '/_reset');
	die "mock reset failed: $r->{status}" unless $r->{success};
	return;
}

# All requests received (array of hashes), optionally after sequence $since.
sub requests
{
	my ($self, $since) = @_;
	my $r = $self->{http}->get($self->url . '/_requests?since=' . ($since // 0));
	die "mock /_requests failed: $r->{status}" unless $r->{success};
	return decode_json($r->{content});
}

# Stop the mock (SIGTERM, or SIGKILL with $signal).
sub stop
{
	my ($self, $signal) = @_;
	return unless $self->{pid};
	local $?;    # reaping the mock must not become the test's exit status
	kill $signal // 'TERM', $self->{pid};
	waitpid($self->{pid}, 0);
	delete $self->{pid};
	return;
}

sub DESTROY { my ($self) = @_; $self->stop('KILL'); }

# wait_until(sub { ... }, $what [, $seconds]): poll a condition (not a
# timing assertion: the deadline only bounds a hung test).
sub wait_until
{
	my ($cond, $what, $seconds) = @_;
	my $deadline = time + ($seconds // 180);
	while (time < $deadline)
	{
		return 1 if $cond->();
		usleep(20_000);
	}
	diag("timed out waiting for: $what");
	return 0;
}

# start_worker_node($name, $mock, extra => "conf lines", init => {...}): a cluster with
# justauth preloaded, its worker pointed at the mock, the extension created
# in database postgres.  The safety poll is an hour unless overridden, so
# anything delivered promptly was woken at commit.
sub start_worker_node
{
	my ($name, $mock, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });
	my $url = $mock ? $mock->url : 'http://127.0.0.1:1';
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'justauth'
justauth.database = 'postgres'
justauth.whatsapp_api_url = '$url'
justauth.whatsapp_api_version = 'v23.0'
justauth.whatsapp_phone_number_id = '$PHONE_ID'
justauth.whatsapp_access_token = '$TOKEN'
justauth.whatsapp_template = 'justauth_otp'
justauth.whatsapp_template_language = 'en_US'
justauth.poll_interval_ms = 3600000
justauth.retry_base_ms = 200
justauth.retry_max_ms = 2000
justauth.request_timeout_ms = 2000
justauth.config_error_retry_ms = 3600000
log_min_messages = info
} . ($opt{extra} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION justauth');
	return $node;
}

# live_client($node [, $credits]): a funded live client; returns (id, key).
sub live_client
{
	my ($node, $credits) = @_;
	my ($cid, $key) = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT client_id, api_key FROM justauth_create_client('Worker test', mode => 'live')");
	$node->safe_psql('postgres',
		"SELECT justauth_deposit('$cid', " . ($credits // 10000) . ", 'ref-$cid')");
	return ($cid, $key);
}

# send_live($node, $cid, $key, $number): justauth_send_otp; returns the
# request id (the session id of the outbox row).
sub send_live
{
	my ($node, $cid, $key, $number) = @_;
	my $reply = $node->safe_psql('postgres',
		"SELECT justauth_send_otp('$cid', '$key', '$number')");
	my $j = decode_json($reply);
	die "send failed: $reply" unless $j->{success};
	return $j->{request_id};
}

# outbox_row($node, $request_id): the outbox row of a send, as a hash.
sub outbox_row
{
	my ($node, $rid) = @_;
	my $json = $node->safe_psql('postgres',
		"SELECT row_to_json(o) FROM justauth.outbox o WHERE session_id = '$rid'");
	return $json eq '' ? undef : decode_json($json);
}

1;
