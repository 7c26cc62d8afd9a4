
# The gateway's end-to-end TAP suites and the security checks, run again
# (test/sanitize/run.sh) against ASan+UBSan builds of the gateway and the
# mock WhatsApp server, and with the gateway under valgrind memcheck: every
# test must pass and no tool may report anything (invalid accesses, leaks
# at exit, undefined behaviour).
#   JUSTAUTH_SANITIZE_FILTER  suites to run (default gateway|security)
#   JUSTAUTH_SANITIZE_TOOLS   tools (default "asan valgrind")

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{JUSTAUTH_SRC}
  or BAIL_OUT('JUSTAUTH_SRC is not set (run through test/run-all.sh)');
my $filter = $ENV{JUSTAUTH_SANITIZE_FILTER} // 'gateway|security';
my @tools = split ' ', ($ENV{JUSTAUTH_SANITIZE_TOOLS} // 'asan valgrind');

ok(-f "$src/gateway/main.c" && -f "$src/test/mock/mock-whatsapp.c",
	'gateway and mock sources are in the tree');

for my $tool (@tools)
{
	my ($out, $err) = ('', '');
	local $ENV{SANITIZE_TOOL} = $tool;
	my $ok = eval {
		IPC::Run::run([ 'bash', "$src/test/sanitize/run.sh", $filter ],
			'>', \$out, '2>', \$err);
	};
	$err .= $@ if $@;
	note($out);

	my ($passed, $failed) = $out =~ /^(\d+) passed, (\d+) failed$/m;
	ok(defined $passed && $passed > 0 && $failed == 0,
		"$tool: suites matching /$filter/ pass ("
		  . ($passed // '?') . ' passed, ' . ($failed // '?') . ' failed)')
	  or diag("$out\n$err");
	like($out, qr/^$tool run: .*, 0 sanitizer reports,/m, "$tool: no report")
	  or diag($out);
	ok($ok, "$tool: test/sanitize/run.sh exits 0") or diag($err);
}

done_testing();
