
# The gateway behind a transaction-mode pooler: its database connection
# can be moved to another backend between two calls, and that backend has
# none of its prepared statements.  A small Perl proxy between the gateway
# and the cluster plays pgbouncer: on command it swaps every idle upstream
# connection for a fresh backend (replaying the client's startup packet).
# The test proves that
#   - each statement is prepared once per connection, not per request;
#   - after a swap, send and verify still answer 200 with the right replies:
#     each statement fails once with SQLSTATE 26000 on the new backend, is
#     prepared there again and the call is retried, on the same gateway
#     connection (no reconnect);
#   - the retry happens once: when every round trip lands on a new backend,
#     re-preparing cannot help and the call ends in a 500 after exactly two
#     26000 failures, having run nothing;
#   - other failures are not retried.

use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $node = JustAuthGateway::new_cluster('gateway_reprepare');
# Parses are logged with the backend's pid ("duration: ... parse <name>").
$node->append_conf('postgresql.conf', 'log_min_duration_statement = 0');
$node->reload;
my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 1000);

# ---- the pooler-like proxy ----

# Reads exactly $n bytes from a blocking socket, or dies.
sub read_exact
{
	my ($sock, $n) = @_;
	my $buf = '';
	while (length($buf) < $n)
	{
		my $got = sysread($sock, $buf, $n - length($buf), length($buf));
		die "read: " . (defined $got ? 'end of stream' : $!) . "\n" unless $got;
	}
	return $buf;
}

# Opens a new backend for a saved startup packet and reads its replies up to
# ReadyForQuery; returns (socket, backend pid).
sub open_upstream
{
	my ($path, $startup) = @_;
	my $up = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)
	  or die "upstream $path: $!\n";
	syswrite($up, $startup) == length($startup) or die "write startup: $!\n";
	my $pid;
	while (1)
	{
		my ($type, $len) = unpack('a N', read_exact($up, 5));
		my $body = read_exact($up, $len - 4);
		die "upstream refused: $body\n" if $type eq 'E';
		die "upstream wants authentication\n" if $type eq 'R' && unpack('N', $body) != 0;
		$pid = unpack('N', $body) if $type eq 'K';
		last if $type eq 'Z';
	}
	return ($up, $pid);
}

# Splits whole protocol messages off the front of $$buf; returns their types
# and bodies as [type, body] pairs.
sub take_messages
{
	my ($buf) = @_;
	my @msgs;
	while (length($$buf) >= 5)
	{
		my ($type, $len) = unpack('a N', $$buf);
		last if length($$buf) < 1 + $len;
		push @msgs, [ $type, substr($$buf, 5, $len - 4) ];
		substr($$buf, 0, 1 + $len, '');
	}
	return @msgs;
}

# The proxy's loop (in a child process).  Control commands, one line per
# connection to $control, each answered with one line:
#   swap       swap every idle connection now; answers "old->new ..."
#   always N   swap before each of the next N round trips clients start
#   stats      "accepted=N pids=..." (clients accepted, current backends)
sub run_proxy
{
	my ($listen, $control, $path, $parent) = @_;
	my $sel = IO::Select->new($listen, $control);
	my %by_fd;    # client or upstream fileno -> connection
	my @conns;
	my ($accepted, $always) = (0, 0);

	my $drop = sub {
		my ($c) = @_;
		for my $s ($c->{client}, $c->{up})
		{
			delete $by_fd{ fileno($s) };
			$sel->remove($s);
			close $s;
		}
		@conns = grep { $_ != $c } @conns;
	};
	# Only between round trips: the client has seen ReadyForQuery and sent
	# nothing since, so the new backend takes over at a message boundary.
	my $swap = sub {
		my ($c) = @_;
		my ($up, $pid) = open_upstream($path, $c->{startup});
		syswrite($c->{up}, pack('a N', 'X', 4));    # Terminate
		delete $by_fd{ fileno($c->{up}) };
		$sel->remove($c->{up});
		close $c->{up};
		my $old = $c->{pid};
		@$c{qw(up pid)} = ($up, $pid);
		$by_fd{ fileno($up) } = $c;
		$sel->add($up);
		return "$old->$pid";
	};

	while (1)
	{
		POSIX::_exit(0) if getppid() != $parent;
		for my $fh ($sel->can_read(1))
		{
			if ($fh == $listen)
			{
				my $client = $listen->accept or next;
				# The startup packet; SSL and GSS encryption requests get 'N'.
				my $startup;
				while (1)
				{
					my $len = unpack('N', read_exact($client, 4));
					$startup = pack('N', $len) . read_exact($client, $len - 4);
					my $code = unpack('N', substr($startup, 4, 4));
					last unless $code == 80877103 || $code == 80877104;
					syswrite($client, 'N');
				}
				my $up = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)
				  or die "upstream $path: $!\n";
				syswrite($up, $startup);
				my $c = {
					client => $client, up => $up, startup => $startup,
					cbuf => '', sbuf => '', pending => 1, busy => 1, pid => 0
				};
				$accepted++;
				push @conns, $c;
				$by_fd{ fileno($client) } = $by_fd{ fileno($up) } = $c;
				$sel->add($client, $up);
			}
			elsif ($fh == $control)
			{
				my $ctl = $control->accept or next;
				my $cmd = <$ctl> // '';
				chomp $cmd;
				my $reply;
				if ($cmd eq 'swap')
				{
					$reply = join(' ', map { $swap->($_) } grep { !$_->{busy} } @conns);
				}
				elsif ($cmd =~ /^always (\d+)$/)
				{
					$always = $1;
					$reply = 'ok';
				}
				elsif ($cmd eq 'stats')
				{
					$reply = "accepted=$accepted pids=" . join(',', map { $_->{pid} } @conns);
				}
				else
				{
					$reply = "unknown command";
				}
				print $ctl "$reply\n";
				close $ctl;
			}
			elsif (my $c = $by_fd{ fileno($fh) })
			{
				my $got = sysread($fh, my $data, 65536);
				if (!$got)
				{
					$drop->($c);
					next;
				}
				if ($fh == $c->{client})
				{
					if ($always && !$c->{busy})
					{
						$swap->($c);
						$always--;
					}
					$c->{busy} = 1;
					# Each Sync or simple Query is answered by one ReadyForQuery.
					$c->{cbuf} .= $data;
					$c->{pending} += grep { $_->[0] eq 'S' || $_->[0] eq 'Q' }
					  take_messages(\$c->{cbuf});
					syswrite($c->{up}, $data) == length($data) or die "write upstream: $!\n";
				}
				else
				{
					$c->{sbuf} .= $data;
					for my $m (take_messages(\$c->{sbuf}))
					{
						$c->{pid} = unpack('N', $m->[1]) if $m->[0] eq 'K';
						$c->{pending}-- if $m->[0] eq 'Z';
					}
					syswrite($c->{client}, $data) == length($data) or die "write client: $!\n";
					$c->{busy} = 0 if $c->{pending} == 0 && $c->{sbuf} eq '';
				}
			}
		}
	}
}

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
	Listen => 16, ReuseAddr => 1) or die "listen: $!";
my $control = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
	Listen => 16, ReuseAddr => 1) or die "listen: $!";
my ($proxy_port, $control_port) = ($listen->sockport, $control->sockport);
my $parent = $$;
my $proxy_pid = fork() // die "fork: $!";
if ($proxy_pid == 0)
{
	eval { run_proxy($listen, $control, $node->host . '/.s.PGSQL.' . $node->port, $parent) };
	print STDERR "proxy: $@" if $@;
	POSIX::_exit($@ ? 1 : 0);
}
close $listen;
close $control;
END { kill 'KILL', $proxy_pid if $proxy_pid && $$ == $parent }

sub proxy
{
	my ($cmd) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $control_port)
	  or die "proxy control: $!";
	print $s "$cmd\n";
	my $line = <$s> // die "proxy gave no answer to $cmd";
	chomp $line;
	return $line;
}

# ---- the gateway through the proxy ----

# One worker thread: one database connection, the one the proxy moves.
my $gw = JustAuthGateway->start($node, name => 'reprepare',
	db => "host=127.0.0.1 port=$proxy_port dbname=postgres user=gw sslmode=disable gssencmode=disable",
	args => [ '--threads', '1' ]);
my $n = 0;

# send_verify NAME: a send and its verify through the gateway, to a new number
sub send_verify
{
	$gw->send_verify($_[0], $id, $key, sprintf('9198765%05d', 70000 + $n++));
	return;
}

# The server log written since $offset: lines of backend $pid matching $re.
sub log_lines
{
	my ($offset, $pid, $re) = @_;
	return grep { /\[$pid\] / && /$re/ } split /\n/, slurp_file($node->logfile, $offset);
}
my $parse = sub { qr/duration: .* parse justauth_gw_$_[0]_otp:/ };
my $missing = sub { qr/ERROR:  prepared statement "justauth_gw_$_[0]_otp" does not exist/ };

sub gateway_backends
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'justauth-gateway'");
}

my $offset = -s $node->logfile;
send_verify('first calls');
send_verify('second calls');
my ($p1) = proxy('stats') =~ /^accepted=1 pids=(\d+)$/ or BAIL_OUT('proxy stats: ' . proxy('stats'));
is(gateway_backends(), $p1, 'the gateway holds one backend, the one the proxy opened');
for my $s ('send', 'verify')
{
	is(scalar log_lines($offset, $p1, $parse->($s)), 1, "$s: prepared once for two calls");
}

# The pooler moves the idle connection to a new backend.
my $swapped = proxy('swap');
like($swapped, qr/^$p1->(\d+)$/, 'the proxy swapped the one idle connection');
my ($p2) = $swapped =~ /->(\d+)$/;
isnt($p2, $p1, 'the new backend is another process');

$offset = -s $node->logfile;
send_verify('after the swap');
for my $s ('send', 'verify')
{
	is(scalar log_lines($offset, $p2, $missing->($s)), 1,
		"$s: the new backend did not know the statement (26000 once)");
	is(scalar log_lines($offset, $p2, $parse->($s)), 1, "$s: prepared again on the new backend");
}
is(proxy('stats'), "accepted=1 pids=$p2", 'no reconnect: the same gateway connection, on the new backend');
$node->poll_query_until('postgres',
	"SELECT string_agg(pid::text, ',') = '$p2' FROM pg_stat_activity WHERE application_name = 'justauth-gateway'")
  or fail('the old backend went away');

$offset = -s $node->logfile;
send_verify('after the swap, again');
is(scalar log_lines($offset, $p2, qr/ERROR|parse justauth_gw_/), 0,
	'the statements stay prepared on the new backend');

# A failure other than 26000 is answered without retrying: without its
# role the gateway may not call the API.
$node->safe_psql('postgres', 'REVOKE justauth_gateway FROM gw');
$offset = -s $node->logfile;
{
	my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=919876579998");
	is($res->{status}, 500, 'no permission: send 500');
	my @errors = log_lines($offset, $p2, qr/ERROR:/);
	is(scalar @errors, 1, 'no permission: one attempt') or diag(join("\n", @errors));
	unlike($errors[0] // '', qr/does not exist/, 'no permission: the error is not 26000');
}
$node->safe_psql('postgres', 'GRANT justauth_gateway TO gw');
send_verify('permission back');

# Every round trip on a new backend: the statement is prepared again once
# and its second 26000 is final, a 500 before anything ran.  The proxy
# stops swapping after 10 round trips, so a retry without a bound would
# end in a 200 here rather than hang.
is(proxy('always 10'), 'ok', 'the proxy now swaps before every round trip');
$offset = -s $node->logfile;
{
	my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=919876579999");
	is($res->{status}, 500, 'a statement forgotten again after the retry: 500');
	my $log = slurp_file($node->logfile, $offset);
	my ($forgotten, $prepared) = ($missing->('send'), $parse->('send'));
	my $count = () = $log =~ /$forgotten/g;
	is($count, 2, 'exactly two attempts, both 26000');
	$count = () = $log =~ /$prepared/g;
	is($count, 1, 'prepared again exactly once in between');
	like($gw->stderr_text, qr/SQLSTATE 26000/, 'the gateway logs the final 26000');
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM justauth.sessions WHERE number = '919876579999'"),
		'0', 'the failed send ran nothing');
}
is(proxy('always 0'), 'ok', 'the proxy keeps backends again');
send_verify('stable backend again');
like(proxy('stats'), qr/^accepted=1 /, 'the gateway never reconnected');

is($gw->stop, 0, 'gateway exits 0 on SIGTERM');
kill 'TERM', $proxy_pid;
waitpid($proxy_pid, 0);
$proxy_pid = 0;
$node->stop;
done_testing();
