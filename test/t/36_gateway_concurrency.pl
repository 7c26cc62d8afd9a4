
# Concurrent clients on kept-alive connections: 8 curl processes each send
# 15 codes over one connection to a gateway with 4 worker threads (one
# database connection each).  Every send is answered 200 exactly once and
# paid for exactly once, and the pool never exceeds one connection per
# thread.

use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthGateway;

my $node = JustAuthGateway::new_cluster('gateway_concurrency');
my ($id, $key) = JustAuthGateway::create_client($node, 'Busy', 'sandbox', 1000);
my $gw = JustAuthGateway->start($node, name => 'concurrency', args => [ '--threads', '4' ]);

my ($procs, $per) = (8, 15);
my @runs;
for my $p (0 .. $procs - 1)
{
	my @urls = map {
		$gw->base . sprintf("/api/v1/send-otp?client-id=%s&api-key=%s&number=91987%02d%05d", $id, $key, $p, $_)
	} 1 .. $per;
	my $out = '';
	my $err = '';
	my $h = IPC::Run::start(
		[ 'curl', '-sS', '-X', 'POST', '-w', '\n%{http_code} %{num_connects}\n', @urls ],
		'<', \undef, '>', \$out, '2>', \$err);
	push @runs, [ $h, \$out, \$err ];
}
my (%status, %request_ids, $connects);
foreach my $r (@runs)
{
	my ($h, $out, $err) = @$r;
	$h->finish;
	diag($$err) if $$err ne '';
	while ($$out =~ /^(\{.*\})\n(\d{3}) (\d+)$/mg)
	{
		my ($body, $code, $nc) = ($1, $2, $3);
		$status{$code}++;
		$connects += $nc;
		my $data = eval { decode_json($body) };
		$request_ids{ $data->{request_id} }++ if $data && $data->{request_id};
	}
}
is($status{200} // 0, $procs * $per, 'every concurrent send was answered 200')
  or diag(explain(\%status));
is(scalar(keys %request_ids), $procs * $per, 'each with its own request id');
cmp_ok($connects, '<=', $procs, 'each curl kept one connection alive for its sends');
is($node->safe_psql('postgres', "SELECT justauth_balance('$id')"), 1000 - $procs * $per,
	'each send was paid for exactly once');
is($node->safe_psql('postgres', "SELECT count(*) FROM justauth.sessions WHERE client_id = '$id'"),
	$procs * $per, 'one session per send');
my $metrics = $gw->request('GET', '/metrics')->{content};
my ($open) = $metrics =~ /^justauth_gateway_db_connections (\d+)$/m;
cmp_ok($open, '<=', 4, 'at most one database connection per worker thread');
is($node->safe_psql('postgres',
		"SELECT count(*) <= 4 FROM pg_stat_activity WHERE usename = 'gw'"),
	't', 'the database sees at most 4 gateway connections');
is($gw->stop, 0, 'gateway exits 0 on SIGTERM');
$node->stop;
done_testing();
