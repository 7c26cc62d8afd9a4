# Core properties that pg_regress cannot show: the SQL API without
# shared_preload_libraries, the server key file, codes never stored in
# clear, and the uniformity of generated codes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);

my $node = PostgreSQL::Test::Cluster->new('core');
$node->init;
# deliberately no shared_preload_libraries: the functions must still work
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION justauth');

my ($cid, $key) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT client_id, api_key FROM justauth_create_client('Acme', mode => 'sandbox')");
like($cid, qr/^cl_[A-Za-z0-9_-]{22}$/, 'client id: cl_ + 128 random bits, URL-safe');
like($key, qr/^sk_test_[A-Za-z0-9_-]{32}$/, 'sandbox api key: sk_test_ + 192 random bits');
is($node->safe_psql('postgres', "SELECT justauth_deposit('$cid', 100000, 'ref-1')"),
	'100000', 'deposit without preload');

my $reply = $node->safe_psql('postgres',
	"SELECT justauth_send_otp('$cid', '$key', '919876543210', 'idem-1')");
my ($code) = $reply =~ /Your verification code is (\d{6})\. It will expire in 2 minutes/;
ok(defined $code, 'sandbox send without preload returns the seed message');

# The server key file: created on first use, private to the server.
my $keyfile = $node->data_dir . '/justauth_server.key';
ok(-f $keyfile, 'server key file created in the data directory');
is(sprintf('%04o', (stat $keyfile)[2] & 07777), '0600', 'server key file is mode 0600');
is(-s $keyfile, 32, 'server key is 32 bytes');

# The code is in no table, neither in clear nor as plain SHA-256.
my $dump = $node->safe_psql('postgres', q{
	SELECT string_agg(t, E'\n') FROM (
		SELECT c::text AS t FROM justauth.clients c UNION ALL
		SELECT s::text FROM justauth.sessions s UNION ALL
		SELECT n::text FROM justauth.numbers n UNION ALL
		SELECT k::text FROM justauth.idempotency_keys k UNION ALL
		SELECT l::text FROM justauth.ledger l UNION ALL
		SELECT o::text FROM justauth.outbox o) rows});
unlike($dump, qr/$code/, 'the code appears in no table');
unlike($dump, qr/\Q$key\E/, 'the api key appears in no table');
my $sha = $node->safe_psql('postgres', "SELECT encode(sha256('$code'::bytea), 'hex')");
unlike($dump, qr/$sha/, 'no unkeyed hash of the code is stored');

# The idempotent replay still shows the code (it is sealed, not lost).
is($node->safe_psql('postgres',
		"SELECT justauth_send_otp('$cid', '$key', '919876543210', 'idem-1') = '$reply'::jsonb"),
	't', 'idempotent replay returns the identical reply from the sealed code');
like($node->safe_psql('postgres', "SELECT justauth_verify_otp('$cid', '919876543210', '$code')"),
	qr/"OTP Verified"/, 'the code verifies');

# Stored hashes are HMAC-SHA256(server key, "code:" || session id || code):
# the first of a backend (which keys its HMAC context) and the later ones
# (which reuse the keyed context) alike.
my $server_key = slurp_file($keyfile);
my @rows = split /\n/, $node->safe_psql('postgres', qq{
	SELECT substring(justauth_send_otp('$cid', '$key', (919000000100 + g)::text)->>'message_simulated'
					 from 'is ([0-9]+)\\.')
	  FROM generate_series(1, 3) g;
	SELECT replace(s.session_id::text, '-', '') || ' ' || encode(s.code_hash, 'hex')
	  FROM justauth.sessions s JOIN justauth.numbers n ON n.current_session_id = s.session_id
	 WHERE n.client_id = '$cid' AND n.number BETWEEN '919000000101' AND '919000000103'
	 ORDER BY n.number});
is(scalar(@rows), 6, 'three sends in one backend, three sessions');
for my $i (0 .. 2)
{
	my ($sid, $hash) = split / /, $rows[ $i + 3 ];
	is($hash, hmac_sha256_hex('code:' . pack('H*', $sid) . $rows[$i], $server_key),
		"send @{[$i + 1]} of a backend stores HMAC-SHA256(server key, code: || session || code)");
}

# A key file others can read is refused, loudly and with its own SQLSTATE.
chmod 0644, $keyfile;
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT justauth_send_otp('$cid', '$key', '919876543211')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/JA013.*accessible by group or others/s, 'a group/world-readable key file is refused (JA013)');
chmod 0600, $keyfile;

# A damaged key file is refused rather than silently replaced.
my $saved = slurp_file($keyfile);
open my $fh, '>', $keyfile or die;
print $fh 'short';
close $fh;
chmod 0600, $keyfile;
($ret, $out, $err) = $node->psql('postgres',
	"SELECT justauth_send_otp('$cid', '$key', '919876543212')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/JA013.*damaged/s, 'a damaged key file is refused (JA013)');
open $fh, '>', $keyfile or die;
binmode $fh;
print $fh $saved;
close $fh;

# Codes are uniform: chi-square of each digit position over 4000 codes.
$node->safe_psql('postgres', qq{
	UPDATE justauth.clients SET resend_cooldown_seconds = 0, max_sends_per_window = 1000
	 WHERE client_id = '$cid'});
my $digits = $node->safe_psql('postgres', qq{
	SELECT string_agg(substring(justauth_send_otp('$cid', '$key', (9000000000 + g)::text)->>'message_simulated'
							  from 'is ([0-9]+)\\.'), '')
	  FROM generate_series(1, 4000) g});
is(length($digits), 4000 * 6, '4000 six-digit codes generated');
for my $pos (0 .. 5)
{
	my @count = (0) x 10;
	for (my $i = $pos; $i < length($digits); $i += 6)
	{
		$count[ substr($digits, $i, 1) ]++;
	}
	my $expected = 400;
	my $chi2 = 0;
	$chi2 += ($_ - $expected)**2 / $expected for @count;
	# 9 degrees of freedom: P(chi2 > 40) < 1e-5 for a uniform source
	cmp_ok($chi2, '<', 40, "digit position $pos is uniform (chi2 = " . sprintf('%.1f', $chi2) . ')');
}
is($node->safe_psql('postgres', "SELECT count(*) FROM justauth.wallets WHERE balance <> ledger_sum"),
	'0', 'balance equals ledger after 4000 sends');

$node->stop;
done_testing();
