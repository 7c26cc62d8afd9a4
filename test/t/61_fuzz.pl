
# Short CI run of the libFuzzer targets (test/fuzz/run.sh): each target is
# built with ASan and UBSan and fuzzed from its seed corpus for
# JUSTAUTH_FUZZ_SECONDS (default 20) seconds; a crash, leak, sanitizer
# report, broken invariant or timeout fails its test.  `make fuzz` runs
# the same targets for 600 s each.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{JUSTAUTH_SRC}
  or BAIL_OUT('JUSTAUTH_SRC is not set (run through test/run-all.sh)');
my $seconds = $ENV{JUSTAUTH_FUZZ_SECONDS} // 20;

# Target => a source it needs; gateway targets run once the gateway is in
# the tree.
my %needs = (
	number => 'extension/number.c',
	params => 'gateway/params.c',
	webhook => 'gateway/webhook.c',
	escape => 'gateway/text.c',
	replyfields => 'gateway/replyfields.c',
);
my @targets = grep { -f "$src/$needs{$_}" } sort keys %needs;
ok(scalar(grep { $_ eq 'number' } @targets), 'the number target has its source');
diag("not in the tree, not fuzzed: $_") for grep { !-f "$src/$needs{$_}" } sort keys %needs;

# The end of a target's libFuzzer log, where the failure is reported.
sub log_tail
{
	my ($file) = @_;
	return '' unless -f $file;
	my @lines = split /\n/, slurp_file($file);
	splice(@lines, 0, @lines - 60) if @lines > 60;
	return join("\n", @lines);
}

my $work = PostgreSQL::Test::Utils::tempdir('fuzz');
my ($out, $err) = ('', '');
local $ENV{FUZZ_SECONDS} = $seconds;
local $ENV{FUZZ_WORK} = $work;
my $ok = eval {
	IPC::Run::run([ 'bash', "$src/test/fuzz/run.sh", @targets ], '>', \$out, '2>', \$err);
};
$err .= $@ if $@;
note($out);

for my $t (@targets)
{
	like($out, qr/^fuzz $t: ok \(\d+ inputs/m,
		"fuzz target $t: no crash, leak or timeout in ${seconds}s")
	  or diag("$out\n$err\n" . log_tail("$work/$t.log"));
}
ok($ok, 'test/fuzz/run.sh exits 0') or diag($err);

done_testing();
