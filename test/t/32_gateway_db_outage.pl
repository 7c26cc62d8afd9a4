
# The gateway and its database: multi-host conninfo, the statement timeout,
# a database that goes away (503 JSON with Retry-After) and comes back
# (recovery without restarting the gateway), and a database restart that
# the gateway rides through without failing a request.

use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $node = JustAuthGateway::new_cluster('gateway_outage');
my ($id, $key) = JustAuthGateway::create_client($node, 'Acme', 'sandbox', 1000);

# The first host of the list does not exist: libpq moves on to the second.
my $db = sprintf('host=%s/nonexistent,%s port=%d,%d dbname=postgres user=gw',
	$node->host, $node->host, $node->port, $node->port);
my $gw = JustAuthGateway->start($node, name => 'outage', db => $db,
	args => [ '--threads', '2', '--statement-timeout-ms', '1000', '--connect-timeout', '2' ]);
my $n = 0;

# send_verify NAME: a send and its verify through the gateway, to a new number
sub send_verify
{
	$gw->send_verify($_[0], $id, $key, sprintf('9198765%05d', 60000 + $n++));
	return;
}

is($gw->request('GET', '/healthz')->{status}, 200, 'healthy with a multi-host conninfo');
send_verify('multi-host conninfo');

# A send stuck behind a lock ends at the statement timeout with a 503.
{
	my $bg = $node->background_psql('postgres');
	$bg->query_safe('BEGIN; LOCK TABLE justauth.numbers IN ACCESS EXCLUSIVE MODE');
	my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=919876569999");
	is($res->{status}, 503, 'a send blocked past the statement timeout: 503');
	my $data = JustAuthGateway::json_body($res);
	is($data->{error}, 'service_unavailable', 'statement timeout: service_unavailable');
	like($data->{message}, qr/in time/, 'statement timeout: the message says the database was too slow');
	$bg->query_safe('ROLLBACK');
	$bg->quit;
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM justauth.sessions WHERE number = '919876569999'"),
		'0', 'the timed-out send left nothing behind');
}
send_verify('after a statement timeout');

# The database goes away.
$node->stop;
{
	my $res = $gw->request('POST', "/api/v1/send-otp?client-id=$id&api-key=$key&number=919876561111");
	is($res->{status}, 503, 'database down: send 503');
	my $data = JustAuthGateway::json_body($res);
	is($data->{error}, 'service_unavailable', 'database down: service_unavailable');
	is($data->{success}, JSON::PP::false, 'database down: success false');
	is($res->{headers}{'retry-after'}, '1', 'database down: Retry-After');
	$res = $gw->request('POST', "/api/v1/verify-otp?client-id=$id&number=919876561111&otp=123456");
	is($res->{status}, 503, 'database down: verify 503');
	$res = $gw->request('GET', '/healthz');
	is($res->{status}, 503, 'database down: healthz 503');
	$res = $gw->request('GET', '/metrics');
	is($res->{status}, 200, 'database down: metrics still answer');
	like($res->{content}, qr/^justauth_gateway_db_unavailable_total [1-9]/m,
		'metrics count the requests refused for an unavailable database');
	like($res->{content}, qr/^justauth_gateway_db_connections 0$/m,
		'metrics show no open database connection');
}

# ... and comes back: the gateway recovers on its own.
$node->start;
my $healthy = 0;
for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
{
	if ($gw->request('GET', '/healthz')->{status} == 200)
	{
		$healthy = 1;
		last;
	}
	select(undef, undef, undef, 0.1);
}
ok($healthy, 'healthz recovers once the database is back');
send_verify('database back');

# A restart while the gateway holds idle connections: the dead connections
# are noticed before use, so no request fails.
$node->restart;
send_verify('database restart');
send_verify('database restart, again');

is($gw->stop, 0, 'gateway exits 0 on SIGTERM');
$node->stop;
done_testing();
