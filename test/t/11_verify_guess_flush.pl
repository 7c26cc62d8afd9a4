# Which verifies wait for their WAL flush.  A transaction whose one write is
# a wrong guess that leaves the code usable commits without waiting; every
# other write (right code, the guess that uses up the attempts, a guess in a
# transaction block or next to the caller's own writes, or any guess with
# justauth.durable_wrong_guesses = on) is flushed before the reply.
#
# With wal_level = minimal, autovacuum off and a 10 s wal_writer_delay
# nothing else writes or flushes WAL here, so "flush position < insert
# position" right after a statement means its commit did not wait.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('guess_flush');
$node->init;
$node->append_conf('postgresql.conf', q{
wal_level = minimal
max_wal_senders = 0
autovacuum = off
wal_writer_delay = 10000
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION justauth;
	CREATE TABLE app_log (r jsonb);
	CREATE ROLE app LOGIN;
	GRANT justauth_gateway TO app;
	GRANT ALL ON app_log TO app;
});

my ($cid, $key) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT client_id, api_key FROM justauth_create_client('Acme', mode => 'sandbox')");
$node->safe_psql('postgres', qq{
	SELECT justauth_deposit('$cid', 100, 'ref-1');
	UPDATE justauth.clients SET max_attempts = 10 WHERE client_id = '$cid'});

# send NUMBER: the sandbox code sent to the number
sub send_code
{
	my ($number) = @_;
	my $reply = $node->safe_psql('postgres',
		"SELECT justauth_send_otp('$cid', '$key', '$number')");
	my ($code) = $reply =~ /Your verification code is (\d{6})/;
	die "no code in $reply" unless defined $code;
	return $code;
}

my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

# guess SQL [USER]: runs the statements (the last one replies) as USER (the
# role app by default) and returns the reply and whether all WAL was flushed
# right after them
sub guess
{
	my ($sql, $user) = @_;
	my $out = $node->safe_psql('postgres',
		"$sql;\nSELECT pg_current_wal_flush_lsn() >= pg_current_wal_insert_lsn()",
		extra_params => [ '-U', $user // 'app' ]);
	my @lines = split /\n/, $out;
	my $flushed = pop @lines;
	return ($lines[-1] // '', $flushed eq 't');
}

my $number = '919876543210';
my $code = send_code($number);
my $wrong = sprintf('%06d', ($code + 1) % 1000000);
my $verify = "SELECT justauth_verify_otp('$cid', '$number', '$wrong')";

my ($reply, $flushed) = guess($verify);
like($reply, qr/"error": "invalid_otp".*"attempts_left": 9/, 'wrong guess answered, counted');
ok(!$flushed, 'a lone wrong guess commits without waiting for its flush');
like($node->safe_psql('postgres', "$verify;\nSHOW synchronous_commit", extra_params => [ '-U', 'app' ]),
	qr/\non$/, "the caller's synchronous_commit is unchanged after it");

($reply, $flushed) = guess("SET justauth.durable_wrong_guesses = on;\n$verify", $superuser);
like($reply, qr/"attempts_left": 7/, 'durable guess counted');
ok($flushed, 'justauth.durable_wrong_guesses = on flushes the guess');
# (a verify of a number never sent to loads the library, so the SET is checked)
my ($ret, $out, $stderr) = $node->psql('postgres',
	"SELECT justauth_verify_otp('$cid', '919999999999', '123456');\nSET justauth.durable_wrong_guesses = on",
	extra_params => [ '-U', 'app' ]);
like($stderr, qr/permission denied to set parameter "justauth.durable_wrong_guesses"/,
	'only a superuser may change justauth.durable_wrong_guesses');

($reply, $flushed) = guess("BEGIN;\n$verify;\nCOMMIT;\nSELECT 1");
ok($flushed, 'a guess in a transaction block is flushed');

($reply, $flushed) = guess("INSERT INTO app_log SELECT ($verify)");
ok($flushed, 'a guess followed by the caller\'s own write is flushed');
($reply, $flushed) = guess(
	"WITH i AS (INSERT INTO app_log VALUES ('{}') RETURNING 1) SELECT justauth_verify_otp('$cid', '$number', '$wrong') FROM i");
like($reply, qr/"attempts_left": 4/, 'guess after the caller\'s write counted');
ok($flushed, 'a guess preceded by the caller\'s own write is flushed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app_log'), '2', "the caller's rows are there");

for my $left (3, 2, 1)
{
	($reply, $flushed) = guess($verify);
	like($reply, qr/"attempts_left": $left/, "guess leaving $left attempts");
	ok(!$flushed, "guess leaving $left attempts is not waited for");
}
($reply, $flushed) = guess($verify);
like($reply, qr/"attempts_left": 0/, 'the last allowed guess');
ok($flushed, 'the guess that uses up the attempts is flushed');
($reply, $flushed) = guess("SELECT justauth_verify_otp('$cid', '$number', '$code')");
like($reply, qr/"error": "max_attempts"/, 'then even the right code is refused');

# A right code is always flushed.
my $number2 = '919876543211';
my $code2 = send_code($number2);
($reply, $flushed) = guess("SELECT justauth_verify_otp('$cid', '$number2', '$code2')");
like($reply, qr/"status": "approved"/, 'right code approved');
ok($flushed, 'an approval is flushed');

# Every guess is on disk once the WAL writer has run: a restart after a
# clean shutdown sees all ten.
$node->restart;
is($node->safe_psql('postgres',
		"SELECT attempts FROM justauth.sessions WHERE client_id = '$cid' AND number = '$number'"),
	'10', 'all guesses counted after a restart');

$node->stop;
done_testing();
