
# The gateway's end-to-end TAP suites and the security checks, run again
# against ASan+UBSan builds of the gateway and the mock WhatsApp server
# (test/sanitize/run.sh): every test must pass and no sanitizer may report
# anything (memory errors, leaks at exit, undefined behaviour).
# JUSTAUTH_SANITIZE_FILTER chooses the suites (default gateway|security).

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{JUSTAUTH_SRC}
  or BAIL_OUT('JUSTAUTH_SRC is not set (run through test/run-all.sh)');
my $filter = $ENV{JUSTAUTH_SANITIZE_FILTER} // 'gateway|security';

ok(-f "$src/gateway/main.c" && -f "$src/test/mock/mock-whatsapp.c",
	'gateway and mock sources are in the tree');

my ($out, $err) = ('', '');
my $ok = eval {
	IPC::Run::run([ 'bash', "$src/test/sanitize/run.sh", $filter ],
		'>', \$out, '2>', \$err);
};
$err .= $@ if $@;
note($out);

my ($passed, $failed) = $out =~ /^(\d+) passed, (\d+) failed$/m;
ok(defined $passed && $passed > 0 && $failed == 0,
	"suites matching /$filter/ pass against the sanitized builds ("
	  . ($passed // '?') . ' passed, ' . ($failed // '?') . ' failed)')
  or diag("$out\n$err");
like($out, qr/, 0 sanitizer reports,/, 'no ASan, LSan or UBSan report')
  or diag($out);
ok($ok, 'test/sanitize/run.sh exits 0') or diag($err);

done_testing();
