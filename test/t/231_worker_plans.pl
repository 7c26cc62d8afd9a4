# Delivery worker plans under a backlog, whatever the statistics say.  The
# outbox is vacuumed while empty (as right after CREATE EXTENSION and a
# VACUUM ANALYZE) and autovacuum is off, so the planner believes the queue
# is empty while thousands of messages wait.  The worker must still claim by
# walking outbox_due in order (no sort of the queue) and write each result
# by its key (outbox_pkey), not by scanning the queue.  auto_explain logs
# the plans the worker runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

my $mock = JustAuthMock->new;
my $node = start_worker_node('plans', $mock, extra => q{
shared_preload_libraries = 'justauth,auto_explain'
autovacuum = off
justauth.max_messages_per_second = 20
});
my ($cid, $key) = live_client($node, 5000);

sub sql { return $node->safe_psql('postgres', shift); }

sql('VACUUM ANALYZE justauth.outbox');
is(sql(q{SELECT reltuples FROM pg_class WHERE oid = 'justauth.outbox_due'::regclass}), '0',
	'outbox_due analyzed empty');
is(sql(qq{SELECT count(*) FROM (SELECT justauth_send_otp('$cid', '$key', '91984' || lpad(g::text, 7, '0')) AS r
	FROM generate_series(1, 2000) g) x WHERE (r->>'success')::boolean}), '2000', 'a backlog of 2,000 sends queued');

# from now on, every plan is logged, the worker's included
sql('ALTER SYSTEM SET auto_explain.log_min_duration = 0');
sql('ALTER SYSTEM SET auto_explain.log_nested_statements = on');
sql('SELECT pg_reload_conf()');
my $log_offset = -s $node->logfile;
my $sent_before = @{ $mock->requests };
ok(wait_until(sub { @{ $mock->requests } >= $sent_before + 60 }, '60 more delivered'),
	'the backlog is being delivered');
ok(wait_until(sub { sql("SELECT count(*) FROM justauth.outbox WHERE status = 'sent'") >= $sent_before + 40 },
	'their results recorded'), 'their results are recorded');

# auto_explain's entries: "LOG:  duration: ... plan:", the query text, the plan
my @plans = split /^\S.*?LOG:  duration: [\d.]+ ms  plan:\n/m, slurp_file($node->logfile, $log_offset);
my @record = grep { /Query Text: UPDATE justauth\.outbox o\s+SET status = r\.status/ } @plans;
my @claim = grep { /Query Text: WITH due AS/ } @plans;
ok(@record > 0, 'result writes were logged (' . scalar(@record) . ')');
ok(@claim > 0, 'claims were logged (' . scalar(@claim) . ')');
my @bad_record = grep { !/Index Scan using outbox_pkey on outbox o\b/ || /outbox_due|Seq Scan/ } @record;
is(scalar @bad_record, 0, 'every result write looks its messages up by key')
  or diag($bad_record[0]);
my @bad_claim = grep { !/Index Scan using outbox_due on outbox d\b/ || /\bSort\b|Bitmap/ } @claim;
is(scalar @bad_claim, 0, 'every claim walks outbox_due in order, without a sort')
  or diag($bad_claim[0]);

$node->stop;
done_testing();
