# Delivery worker throughput cap: justauth.max_messages_per_second holds
# (requests counted per second at the mock, allowing the token bucket's
# burst of a tenth of the rate), and a configuration reload changes it
# while messages are flowing.
use strict;
use warnings;
use POSIX qw(floor ceil);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use JustAuthMock;

my $mock = JustAuthMock->new;
my $node = start_worker_node('rate', $mock, extra => qq{
justauth.max_messages_per_second = 10
justauth.max_in_flight = 50
});
my ($cid, $key) = live_client($node, 5000);

sub sql { return $node->safe_psql('postgres', shift); }

sub burst { my ($rate) = @_; return $rate > 10 ? ceil($rate / 10) : 1; }

# Requests per wall-clock second at the mock.
sub per_second
{
	my %count;
	$count{ floor($_->{t_ms} / 1000) }++ for @{ $mock->requests };
	return \%count;
}

is(sql('SELECT max_messages_per_second FROM justauth.worker_status'), '10', 'cap shown in worker_status');

is(sql(qq{SELECT count(*) FROM (SELECT justauth_send_otp('$cid', '$key', '91982000' || lpad(g::text, 4, '0')) AS r
	FROM generate_series(1, 150) g) x WHERE (r->>'success')::boolean}), '150', '150 live sends queued');

ok(wait_until(sub { @{ $mock->requests } >= 30 }, '30 delivered'), 'delivery at 10/s under way');
my $rate = sql('SELECT current_rate FROM justauth.worker_status');
ok($rate > 0 && $rate <= 11, "worker_status shows the current rate ($rate/s)");

# raise the cap live
sql('ALTER SYSTEM SET justauth.max_messages_per_second = 40');
my $reload_s = floor(time);
sql('SELECT pg_reload_conf()');

ok(wait_until(sub { sql("SELECT count(*) FROM justauth.outbox WHERE status = 'sent'") == 150 }, 'all sent'),
	'all 150 sent');
is(scalar @{ $mock->requests }, 150, 'one request per message');

my $count = per_second();
my @before = grep { $_ < $reload_s } keys %$count;
my @after = grep { $_ > $reload_s } keys %$count;
my $max_before = 0;
my $max_after = 0;
$max_before = $count->{$_} > $max_before ? $count->{$_} : $max_before for @before;
$max_after = $count->{$_} > $max_after ? $count->{$_} : $max_after for @after;
diag("requests per second before the reload: @{[ map { $count->{$_} } sort @before ]}");
diag("requests per second after the reload: @{[ map { $count->{$_} } sort @after ]}");
ok(@before >= 2, 'several seconds at the first cap');
ok($max_before <= 10 + burst(10), "at most 10/s plus burst before the reload (max $max_before)");
ok($max_after <= 40 + burst(40), "at most 40/s plus burst after the reload (max $max_after)");
ok($max_after > 10 + burst(10), "the reload raised the rate beyond the old cap (max $max_after)");
is(sql('SELECT max_messages_per_second FROM justauth.worker_status'), '40', 'new cap shown in worker_status');

# A claim takes the first due messages from the index, whatever the
# backlog: it never sorts the whole due queue.  (Ordering by a column the
# index lacks did: with 1M queued messages a claim took 470 ms, and its
# snapshot held back pruning for every session meanwhile.)  With work_mem at
# its minimum, such a sort of 3,000 messages spills to a temporary file,
# which log_temp_files = 0 reports.
sql("ALTER SYSTEM SET work_mem = '64kB'");
sql('ALTER SYSTEM SET log_temp_files = 0');
sql('SELECT pg_reload_conf()');
is(sql(qq{SELECT count(*) FROM (SELECT justauth_send_otp('$cid', '$key', '91983' || lpad(g::text, 7, '0')) AS r
	FROM generate_series(1, 3000) g) x WHERE (r->>'success')::boolean}), '3000', 'a backlog of 3,000 sends queued');
my $log_offset = -s $node->logfile;
my $sent_before = @{ $mock->requests };
ok(wait_until(sub { @{ $mock->requests } >= $sent_before + 100 }, '100 of the backlog delivered'),
	'the backlog is being delivered');
my $temp_lines = join '', grep { /temporary file/ } split /^/, slurp_file($node->logfile, $log_offset);
is($temp_lines, '', 'claims from a 3,000-message backlog wrote no temporary file (no sort of the queue)');

$node->stop;
done_testing();
