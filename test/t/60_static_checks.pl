
# Static analysis of JustAuth's own C code: clang-tidy with the checked-in
# .clang-tidy and cppcheck, over extension/, gateway/, test/mock/ and
# test/fuzz/.  Any finding fails.  Each tool is first shown a planted bug,
# so a tool that silently checks nothing (wrong flags, missing headers)
# fails too instead of passing vacuously.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = $ENV{JUSTAUTH_SRC}
  or BAIL_OUT('JUSTAUTH_SRC is not set (run through test/run-all.sh)');
chdir $src or die "chdir $src: $!";

my $clang_tidy = $ENV{CLANG_TIDY} // 'clang-tidy-14';
my $cppcheck = $ENV{CPPCHECK} // 'cppcheck';

# pg_config is on PATH under test/run-all.sh.
sub pg_config
{
	my ($opt) = @_;
	my $out = '';
	IPC::Run::run([ 'pg_config', $opt ], '>', \$out)
	  or die "pg_config $opt failed";
	chomp $out;
	return $out;
}
my $pg_server = pg_config('--includedir-server');
my $pg_client = pg_config('--includedir');

# Compiler flags per directory, as their Makefiles use them.
my @groups = (
	[ 'extension', [ "-I$pg_server", '-Iextension' ] ],
	[ 'gateway', [ '-std=gnu11', "-I$pg_client", '-Igateway' ] ],
	# PostgreSQL frontend code (libpgcommon's JSON parser), built on its own
	[ 'gateway', [ '-std=gnu11', '-DFRONTEND', "-I$pg_server", '-Igateway' ], 'replyfields.c' ],
	[ 'test/mock', [ '-std=gnu11', "-I$pg_client", '-Itest/mock' ] ],
	[ 'test/fuzz', [ '-std=gnu11', "-I$pg_server", "-I$pg_client", '-Iextension', '-Igateway' ] ],
);

# cppcheck runs without PostgreSQL's headers (with them it spends minutes
# on their #ifdef configurations and reports on their code); the one
# PostgreSQL macro used inside string literals is defined instead.
my @cppcheck_opts = (
	'--enable=warning,portability,performance', '--std=c11',
	'--inline-suppr', '--error-exitcode=1', '--quiet',
	'--suppress=missingIncludeSystem', '-D__linux__',
	'-DCppAsString2(x)="x"');

# Runs a command, returns (success, combined output).
sub run_tool
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	my $ok = eval { IPC::Run::run(\@cmd, '>', \$out, '2>', \$err) };
	$err .= $@ if $@;
	return ($ok, $out . $err);
}

for my $tool ($clang_tidy, $cppcheck)
{
	my ($ok, $out) = run_tool($tool, '--version');
	ok($ok, "$tool is installed")
	  or diag("install it: apt-get install -y clang-tidy cppcheck\n$out");
}

# The planted bugs: an out-of-bounds write and a use after free.
my $tmp = PostgreSQL::Test::Utils::tempdir('static');
open my $fh, '>', "$tmp/planted.c" or die;
print $fh <<'EOC';
#include <stdlib.h>

int planted(int k);

int
planted(int k)
{
	int		   *p = malloc(sizeof(int));

	if (p == NULL)
		return 0;
	*p = k;
	free(p);
	return *p;
}

int planted_oob(int k);

int
planted_oob(int k)
{
	char		buf[4];

	buf[4] = (char) k;
	return buf[0];
}
EOC
close $fh;

my ($ok, $out) = run_tool($clang_tidy, "--config-file=$src/.clang-tidy",
	"$tmp/planted.c", '--');
ok(!$ok && $out =~ /use of memory after it is freed/i,
	'clang-tidy with .clang-tidy reports a planted use after free')
  or diag($out);
($ok, $out) = run_tool($cppcheck, @cppcheck_opts, "$tmp/planted.c");
ok(!$ok && $out =~ /arrayIndexOutOfBounds/,
	'cppcheck reports a planted out-of-bounds write')
  or diag($out);

for my $g (@groups)
{
	my ($dir, $flags, $only) = @$g;
	my @files = sort glob("$dir/*.c");

	# replyfields.c needs the server headers, which the rest must not see
	@files = $only
	  ? grep { $_ eq "$dir/$only" } @files
	  : grep { $_ ne 'gateway/replyfields.c' } @files;

	# The directories of the core and the tests must have code; the
	# gateway and the mock are checked once they exist.
	if ($dir eq 'extension' || $dir eq 'test/fuzz')
	{
		ok(@files > 0, "$dir has C files to check");
	}
	next unless @files;

	($ok, $out) = run_tool($clang_tidy, "--config-file=$src/.clang-tidy",
		'--quiet', @files, '--', @$flags);
	my $what = $only ? "$dir/$only" : $dir;
	ok($ok, "clang-tidy: no findings in $what (" . scalar(@files) . ' files)')
	  or diag($out);

	my @inc = grep { /^-I/ && $_ !~ /postgresql/ } @$flags;
	($ok, $out) = run_tool($cppcheck, @cppcheck_opts, @inc, @files);
	ok($ok, "cppcheck: no findings in $what") or diag($out);
}

done_testing();
