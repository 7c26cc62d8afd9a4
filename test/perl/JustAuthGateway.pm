
# JustAuthGateway: test helpers for the HTTP gateway.
#
#   my $node = JustAuthGateway::new_cluster('api');      # extension + role gw
#   my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 1000);
#   my $gw = JustAuthGateway->start($node, args => [ '--demo-client-id', $id, ... ]);
#   my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=...");
#   my $data = JustAuthGateway::json_body($res);
#   $gw->stop;                                             # SIGTERM, returns exit code
#
# Also a small JSON-schema checker for validating replies against
# gateway/openapi.json (validate_response).

package JustAuthGateway;

use strict;
use warnings;
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our $src = $ENV{JUSTAUTH_SRC}
  or die "JUSTAUTH_SRC is not set (run through test/run-all.sh)\n";
our $binary = "$src/gateway/justauth-gateway";

# A started cluster with the extension and a login role "gw" that is only a
# member of justauth_gateway.
sub new_cluster
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', slurp_file("$src/test/justauth.conf"));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION justauth');
	$node->safe_psql('postgres', 'CREATE ROLE gw LOGIN IN ROLE justauth_gateway');
	return $node;
}

# Creates a client (and funds it when $credits is given); returns (id, key).
sub create_client
{
	my ($node, $name, $mode, $credits) = @_;
	my ($id, $key) = split /\|/, $node->safe_psql('postgres',
		"SELECT client_id, api_key FROM justauth_create_client('$name', mode => '$mode')");
	$node->safe_psql('postgres', "SELECT justauth_deposit('$id', $credits, 'fund-$id')")
	  if defined $credits;
	return ($id, $key);
}

# psql that tolerates a server in crash recovery: while the postmaster
# resets after a crash, psql exits before reading its query and IPC::Run
# dies writing it (EPIPE).  Returns psql's ($ret, $stdout); $ret is 1 then.
sub psql_maybe_down
{
	my ($node, $sql) = @_;
	my ($ret, $out) = (1, '');
	eval { ($ret, $out) = $node->psql('postgres', $sql); 1 } or return (1, '');
	return ($ret, $out);
}

# The delivery worker's pid, or undef while there is none (or no server).
sub worker_pid
{
	my ($node) = @_;
	my ($ret, $pid) = psql_maybe_down($node, 'SELECT pid FROM justauth.worker_status');
	return $ret == 0 && defined $pid && $pid =~ /^\d+$/ ? $pid : undef;
}

# libpq conninfo for the gateway's role.
sub conninfo
{
	my ($node) = @_;
	return sprintf('host=%s port=%d dbname=postgres user=gw', $node->host, $node->port);
}

# Starts the gateway binary (optionally under a wrapper such as valgrind) on
# a free port and waits until it answers HTTP.
sub start
{
	my ($class, $node, %opt) = @_;
	my $port = $opt{port} // PostgreSQL::Test::Cluster::get_free_port();
	my $name = $opt{name} // 'gateway';
	my $self = bless {
		port => $port,
		base => "http://127.0.0.1:$port",
		access_log => "$PostgreSQL::Test::Utils::tmp_check/${name}_access.log",
		stderr => "$PostgreSQL::Test::Utils::log_path/${name}_stderr.log",
		stdout => "$PostgreSQL::Test::Utils::log_path/${name}_stdout.log",
	}, $class;
	# env => {...} sets the environment instead of flags where given.
	my %env = %{ $opt{env} // {} };
	my @cmd = (@{ $opt{wrapper} // [] }, $binary);
	push @cmd, '--listen', "127.0.0.1:$port" unless exists $env{JUSTAUTH_LISTEN};
	push @cmd, '--db', $opt{db} // conninfo($node) unless exists $env{JUSTAUTH_DATABASE_URL};
	push @cmd, '--access-log', $self->{access_log}, @{ $opt{args} // [] };
	{
		local @ENV{ keys %env } = values %env;
		$self->{handle} = IPC::Run::start(\@cmd, '<', '/dev/null',
			'>', $self->{stdout}, '2>', $self->{stderr});
	}
	my $http = HTTP::Tiny->new(timeout => 5);
	my $up = 0;
	for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
	{
		last unless $self->{handle}->pumpable;
		my $res = $http->get("$self->{base}/metrics");
		if ($res->{status} == 200)
		{
			$up = 1;
			last;
		}
		select(undef, undef, undef, 0.1);
	}
	die "gateway did not start:\n" . $self->stderr_text unless $up;
	return $self;
}

sub base { return $_[0]->{base} }
sub port { return $_[0]->{port} }

sub stderr_text
{
	my ($self) = @_;
	return -f $self->{stderr} ? slurp_file($self->{stderr}) : '';
}

sub access_log_text
{
	my ($self) = @_;
	return -f $self->{access_log} ? slurp_file($self->{access_log}) : '';
}

# One HTTP request; %opt: headers => {}, content => '...'.
sub request
{
	my ($self, $method, $path, %opt) = @_;
	my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
	my %args;
	$args{headers} = $opt{headers} if $opt{headers};
	$args{content} = $opt{content} if defined $opt{content};
	return $http->request($method, $self->{base} . $path, \%args);
}

# Sends raw bytes on a new connection and returns everything read back
# until the server closes it (or the timeout).
sub raw_request
{
	my ($self, $bytes) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
		Proto => 'tcp', Timeout => 10) or die "connect: $!";
	$sock->autoflush(1);
	print $sock $bytes;
	my $out = '';
	local $SIG{ALRM} = sub { die "raw_request timeout\n" };
	alarm($PostgreSQL::Test::Utils::timeout_default);
	while (my $n = sysread($sock, my $buf, 65536))
	{
		$out .= $buf;
		last if response_complete($out);
	}
	alarm(0);
	close $sock;
	return $out;
}

# True once a raw HTTP response has all of its declared body.
sub response_complete
{
	my ($raw) = @_;
	return 0 unless $raw =~ /\r\n\r\n/;
	my ($head, $body) = split /\r\n\r\n/, $raw, 2;
	my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
	return defined $len && length($body) >= $len;
}

# Status and decoded JSON body of a raw response.
sub parse_raw
{
	my ($raw) = @_;
	my ($status) = $raw =~ m{^HTTP/1\.[01] (\d{3})};
	my (undef, $body) = split /\r\n\r\n/, $raw, 2;
	my $json = eval { decode_json($body // '') };
	return ($status // 0, $json);
}

# SIGTERM, wait, return the exit status.
sub stop
{
	my ($self) = @_;
	return $self->{exit} if defined $self->{exit};
	eval { $self->{handle}->signal('TERM') };
	$self->{handle}->finish;
	$self->{exit} = $self->{handle}->result(0);
	return $self->{exit};
}

# Decoded JSON body, or undef.
sub json_body
{
	my ($res) = @_;
	return eval { decode_json($res->{content}) };
}

# The code in a sandbox reply's message_simulated.
sub code_of
{
	my ($data) = @_;
	return undef unless ref $data eq 'HASH' && defined $data->{message_simulated};
	return $data->{message_simulated} =~ /code is (\d+)\./ ? $1 : undef;
}

# Sends a sandbox code to number through the gateway and verifies it: both
# answer 200, the send reply carries the code, and the code is approved.
# Test names start with name.
sub send_verify
{
	my ($self, $name, $id, $key, $number) = @_;
	my $res = $self->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=$number");
	is($res->{status}, 200, "$name: send 200") or diag($res->{content});
	my $code = code_of(json_body($res));
	like($code // '', qr/^\d{6}$/, "$name: the send reply carries the code");
	$res = $self->request('POST', "/api/v1/verify-otp?client-id=$id&number=$number&otp=" . ($code // 'x'));
	is($res->{status}, 200, "$name: verify 200") or diag($res->{content});
	is((json_body($res) // {})->{status}, 'approved', "$name: the code verifies");
	return;
}

# ---- JSON schema subset for OpenAPI 3 response validation ----

# Resolves a local $ref.
sub _deref
{
	my ($root, $schema) = @_;
	while (ref $schema eq 'HASH' && exists $schema->{'$ref'})
	{
		my $ref = $schema->{'$ref'};
		die "unsupported ref $ref" unless $ref =~ m{^#/(.*)$};
		$schema = $root;
		$schema = $schema->{$_} for split m{/}, $1;
	}
	return $schema;
}

# Returns a list of problems of $data against $schema (empty = valid).
sub schema_errors
{
	my ($root, $schema, $data, $where) = @_;
	$where //= '$';
	$schema = _deref($root, $schema);
	my @err;
	if (my $t = $schema->{type})
	{
		my $ok =
			$t eq 'object' ? ref $data eq 'HASH'
		  : $t eq 'array' ? ref $data eq 'ARRAY'
		  : $t eq 'boolean' ? JSON::PP::is_bool($data)
		  : $t eq 'integer' ? (defined $data && !ref $data && $data =~ /^-?\d+$/)
		  : $t eq 'number' ? (defined $data && !ref $data && $data =~ /^-?[\d.eE+-]+$/)
		  : $t eq 'string' ? (defined $data && !ref $data && !JSON::PP::is_bool($data))
		  : 0;
		return ("$where: expected $t") unless $ok;
	}
	if (my $enum = $schema->{enum})
	{
		my $s = JSON::PP->new->canonical->allow_nonref;
		my $got = $s->encode($data);
		push @err, "$where: $got not in enum" unless grep { $s->encode($_) eq $got } @$enum;
	}
	if (defined $schema->{pattern} && defined $data && !ref $data)
	{
		push @err, "$where: does not match $schema->{pattern}" unless $data =~ /$schema->{pattern}/;
	}
	if (defined $schema->{minimum} && defined $data && !ref $data)
	{
		push @err, "$where: below minimum" if $data < $schema->{minimum};
	}
	if (defined $schema->{minLength} && defined $data && !ref $data)
	{
		push @err, "$where: too short" if length($data) < $schema->{minLength};
	}
	if (ref $data eq 'HASH')
	{
		foreach my $r (@{ $schema->{required} // [] })
		{
			push @err, "$where: missing $r" unless exists $data->{$r};
		}
		my $props = $schema->{properties} // {};
		foreach my $k (sort keys %$data)
		{
			if ($props->{$k})
			{
				push @err, schema_errors($root, $props->{$k}, $data->{$k}, "$where.$k");
			}
			elsif (exists $schema->{additionalProperties} && !$schema->{additionalProperties})
			{
				push @err, "$where: unexpected property $k";
			}
		}
	}
	if (my $one = $schema->{oneOf})
	{
		my $n = grep { !schema_errors($root, $_, $data, $where) } @$one;
		push @err, "$where: matches $n of oneOf" unless $n == 1;
	}
	if (my $any = $schema->{anyOf})
	{
		push @err, "$where: matches none of anyOf"
		  unless grep { !schema_errors($root, $_, $data, $where) } @$any;
	}
	return @err;
}

# Validates an HTTP::Tiny JSON response against the OpenAPI document for a
# path and method: the status must be documented and the body must match.
sub validate_response
{
	my ($openapi, $method, $path, $res, $name) = @_;
	$path =~ s/\?.*//;
	my $op = $openapi->{paths}{$path}{ lc $method };
	my $resp = $op ? $op->{responses}{ $res->{status} } : undef;
	if (!$resp)
	{
		fail("$name: status $res->{status} documented for $method $path");
		return;
	}
	my $schema = $resp->{content}{'application/json'}{schema};
	if (!$schema)
	{
		fail("$name: JSON schema documented for $method $path $res->{status}");
		return;
	}
	my $data = json_body($res);
	my @err = defined $data ? schema_errors($openapi, $schema, $data) : ('body is not JSON');
	ok(!@err, "$name: reply matches the OpenAPI schema ($method $path $res->{status})")
	  or diag(join("\n", @err) . "\nbody: $res->{content}");
}

1;
