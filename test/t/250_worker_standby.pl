# The delivery worker runs only on a primary: on a hot standby it idles
# (visible in worker_status) while the outbox replicates; once promoted it
# retakes what the old primary left queued or in flight and delivers it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

my $mock = JustAuthMock->new;
# The primary's API is unreachable, so its messages stay queued.
my $primary = start_worker_node('primary', undef,
	init => { allows_streaming => 1 },
	extra => "justauth.max_attempts = 1000\n");
my ($cid, $key) = live_client($primary, 100);
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', "justauth.whatsapp_api_url = '" . $mock->url . "'\n");
$standby->start;

my @rids = map { send_live($primary, $cid, $key, "91987650900$_") } 1 .. 3;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT count(*) FROM justauth.outbox WHERE status IN ('queued', 'sending')"),
	'3', 'standby: the queued messages have replicated');
ok(wait_until(sub { $standby->safe_psql('postgres', 'SELECT state FROM justauth.worker_status') eq 'in recovery' },
	'in recovery'), 'standby: worker idles in recovery');
is(scalar @{ $mock->requests }, 0, 'standby: nothing sent while in recovery');

$primary->stop('immediate');
$standby->promote;
ok(wait_until(sub {
	$standby->safe_psql('postgres', "SELECT count(*) FROM justauth.outbox WHERE status = 'sent'") == 3 },
	'delivered after promotion'), 'promoted: the worker delivers the queue');
is(scalar @{ $mock->requests }, 3, 'promoted: one request per message');
is($standby->safe_psql('postgres', 'SELECT state FROM justauth.worker_status'), 'idle', 'promoted: worker idle again');

$standby->stop;
done_testing();
