
# The playground page at GET / of the real gateway, driven in headless
# Chromium (Debian's chromium through playwright-core): send a code to a
# number, read it from the console pane, try a wrong code, verify the right
# one, hit the resend cooldown, take a full-page screenshot.  Then check in
# the database that exactly that happened to the sandbox demo client.

use strict;
use warnings;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{JUSTAUTH_SRC}
  or BAIL_OUT('JUSTAUTH_SRC is not set (run through test/run-all.sh)');
my $gateway = "$src/gateway/justauth-gateway";
my $browser_dir = "$src/test/browser";
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $screenshot = $ENV{JUSTAUTH_SCREENSHOT}
  // "$PostgreSQL::Test::Utils::log_path/playground.png";
my $number = '919876543210';

# Everything the browser test needs must be there: a missing piece is a
# failure, never a skip.
ok(-x $gateway, "gateway binary built at $gateway")
  or diag('build it with: make -C gateway');
ok(-x $chromium, "Chromium installed at $chromium")
  or diag("install Debian's browser: apt-get install -y chromium");
my ($node_version, $node_err) = ('', '');
ok(eval { IPC::Run::run([ 'node', '--version' ], '>', \$node_version, '2>', \$node_err) },
	'node is installed')
  or diag("node --version failed: $node_err");

# npm, run as this user, needs a writable HOME and cache.
my $npm_home = PostgreSQL::Test::Utils::tempdir('npm_home');
if (!-d "$browser_dir/node_modules/playwright-core")
{
	local $ENV{HOME} = $npm_home;
	local $ENV{npm_config_cache} = "$npm_home/cache";
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run(
			[ 'npm', 'ci', '--no-audit', '--no-fund', '--prefix', $browser_dir ],
			'>', \$out, '2>', \$err);
	};
	$err .= $@ if $@;
	ok($ok, 'npm ci installs playwright-core in test/browser')
	  or diag("npm ci failed (the npm registry must be reachable):\n$out$err");
}
ok(-f "$browser_dir/node_modules/playwright-core/package.json",
	'playwright-core is available to the browser test');

if (Test::More->builder->is_passing == 0)
{
	done_testing();
	exit;
}

# A cluster with the extension, a sandbox demo client with credits, and the
# least-privileged role the gateway connects as.
my $node = PostgreSQL::Test::Cluster->new('playground');
$node->init;
$node->append_conf('postgresql.conf', slurp_file("$src/test/justauth.conf"));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION justauth');
$node->safe_psql('postgres',
	'CREATE ROLE playground_gateway LOGIN IN ROLE justauth_gateway');
my ($client_id, $api_key) = split /\|/, $node->safe_psql('postgres',
	"SELECT client_id, api_key FROM justauth_create_client('Playground demo', mode => 'sandbox')");
like($client_id, qr/^cl_[A-Za-z0-9_-]{22}$/, 'sandbox demo client created');
like($api_key, qr/^sk_test_/, 'the demo client has a sandbox API key');
is($node->safe_psql('postgres',
		"SELECT justauth_deposit('$client_id', 1000, 'playground-demo-funding')"),
	'1000', 'demo wallet funded with 1000 credits');

# The real gateway, with the demo client configured on the command line.
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $base = "http://127.0.0.1:$port";
my $gateway_log = "$PostgreSQL::Test::Utils::log_path/playground_gateway.log";
my $conninfo = sprintf('host=%s port=%d dbname=postgres user=playground_gateway',
	$node->host, $node->port);
my $gw = IPC::Run::start(
	[
		$gateway, '--listen', "127.0.0.1:$port", '--db', $conninfo,
		'--demo-client-id', $client_id, '--demo-api-key', $api_key
	],
	'<', '/dev/null', '>&', $gateway_log);

# Wait until it serves the page (or dies).
my $http = HTTP::Tiny->new(timeout => 10);
my $page;
for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
{
	last unless $gw->pumpable;
	$page = $http->get("$base/");
	last if $page->{status} == 200;
	select(undef, undef, undef, 0.1);
}
ok($page && $page->{status} == 200, "gateway serves the playground at $base/")
  or diag('gateway log: ' . (-f $gateway_log ? slurp_file($gateway_log) : '(none)'));
like($page->{headers}{'content-type'} // '', qr{^text/html}, 'GET / is HTML');
unlike($page->{content} // '', qr/\Q$api_key\E|\Q$client_id\E/,
	'the page does not carry the demo credentials');
unlike($page->{content} // '', qr/<(?:script|link|img)[^>]+(?:src|href)="https?:/i,
	'the page loads nothing from other hosts');

# The browser run.
my ($out, $err) = ('', '');
{
	local $ENV{HOME} = $npm_home;
	local $ENV{JUSTAUTH_PLAYGROUND_URL} = $base;
	local $ENV{JUSTAUTH_TEST_NUMBER} = $number;
	local $ENV{JUSTAUTH_SCREENSHOT} = $screenshot;
	local $ENV{CHROMIUM} = $chromium;
	IPC::Run::run([ 'node', "$browser_dir/playground.mjs" ],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}
my $exit = $? >> 8;
note("browser test output:\n$out");
diag("browser test stderr:\n$err") if $err ne '';
my $checks = 0;
foreach my $line (split /\n/, $out)
{
	if ($line =~ /^PASS (.*)$/)
	{
		pass("browser: $1");
		$checks++;
	}
	elsif ($line =~ /^FAIL (.*)$/)
	{
		fail("browser: $1");
		$checks++;
	}
}
cmp_ok($checks, '>=', 40, 'the browser test ran all its checks');
like($out, qr/^SUMMARY passed=\d+ failed=0$/m, 'the browser test reports no failure');
is($exit, 0, 'the browser test exits 0');

# The screenshot.
ok(-s $screenshot, "screenshot written to $screenshot");
my $magic = '';
if (open(my $fh, '<:raw', $screenshot))
{
	read($fh, $magic, 8);
	close($fh);
}
is($magic, "\x89PNG\r\n\x1a\n", 'the screenshot is a PNG');

# What the database saw: one accepted send (the malformed number and the
# rate-limited resend were refused before any session), one wrong guess, one
# approval, one credit debited.
is($node->safe_psql('postgres',
		"SELECT count(*) FROM justauth.sessions WHERE client_id = '$client_id'"),
	'1', 'one session was created for the demo client');
is($node->safe_psql('postgres',
		"SELECT number || ' ' || status || ' ' || attempts FROM justauth.sessions WHERE client_id = '$client_id'"),
	"$number approved 1", 'the session was approved after one wrong guess');
is($node->safe_psql('postgres', "SELECT justauth_balance('$client_id')"),
	'999', 'exactly one credit was debited');

# Stop the gateway, then make sure its log kept the secrets out.
eval { $gw->signal('TERM'); };
$gw->finish;
my $log = -f $gateway_log ? slurp_file($gateway_log) : '';
unlike($log, qr/\Q$api_key\E/, 'the gateway log does not contain the demo API key');
unlike($log, qr/otp=\d/, 'the gateway log does not contain the codes typed');

$node->stop;
done_testing();
