# The access token read from justauth.whatsapp_access_token_file: delivery
# works with it, rotating the file + pg_reload_conf() switches the next
# request to the new token, and a missing, empty, oversized or
# group/world-readable file, or a token also set inline, pauses delivery
# with a clear last_error while the messages stay queued (no request with a
# stale or empty token, no attempt used up); fixing the file and reloading
# delivers them.  The server log never contains a token from the file.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JustAuthMock;

my $token_a = 'EAAGfileTokenA' . join('', map { int(rand(10)) } 1 .. 16);
my $token_b = 'EAAGfileTokenB' . join('', map { int(rand(10)) } 1 .. 16);
my $token_c = 'EAAGinlineTokenC' . join('', map { int(rand(10)) } 1 .. 16);

my $mock = JustAuthMock->new(token => $token_a);

# The file is relative to the data directory and does not exist yet.
my $node = start_worker_node('tokenfile', $mock,
	extra => "justauth.whatsapp_access_token = ''\n"
	  . "justauth.whatsapp_access_token_file = 'whatsapp.token'\n");
my $token_path = $node->data_dir . '/whatsapp.token';
my ($cid, $key) = live_client($node, 100);

sub sql { return $node->safe_psql('postgres', shift); }

# Write the token file with the given contents and mode.
sub write_token
{
	my ($contents, $mode) = @_;
	open my $fh, '>', $token_path or die "write $token_path: $!";
	print $fh $contents;
	close $fh;
	chmod $mode // 0600, $token_path or die "chmod $token_path: $!";
	return;
}

# How often the worker logged that it read the file.
sub loads
{
	my @l = slurp_file($node->logfile) =~ /WhatsApp access token read from "\Q$token_path\E"/g;
	return scalar @l;
}

sub reload { sql('SELECT pg_reload_conf()'); return; }

# Send while delivery is paused: the worker must have looked at the queue
# since the send (last_error_at is refreshed each round; the commit wakes
# it) and sent nothing.
sub send_while_paused
{
	my ($number, $what) = @_;
	my $nreq = @{ $mock->requests };
	my $t = sql('SELECT clock_timestamp()');
	my $rid = send_live($node, $cid, $key, $number);
	ok(wait_until(sub { sql("SELECT last_error_at > '$t' FROM justauth.worker_status") eq 't' }, "$what: round"),
		"$what: the worker looked at the queue");
	is(sql('SELECT state FROM justauth.worker_status'), 'paused: configuration error', "$what: worker paused");
	is(@{ $mock->requests } - $nreq, 0, "$what: no request sent");
	my $row = outbox_row($node, $rid);
	is("$row->{status} $row->{attempts}", 'queued 0', "$what: message stays queued, no attempt used");
	return $rid;
}

# 1. The file is missing: live sends are accepted (the worker reports the
# file), the message waits.
is(sql('SELECT delivery_configured FROM justauth.worker_status'), 't',
	'file set: backends consider delivery configured');
ok(wait_until(sub { sql('SELECT state FROM justauth.worker_status') eq 'paused: configuration error' }, 'paused'),
	'missing file: worker paused');
like(sql('SELECT last_error FROM justauth.worker_status'),
	qr/^could not read justauth\.whatsapp_access_token_file: No such file or directory$/,
	'missing file: last_error names the setting and the errno text');
ok($node->log_contains(qr/WARNING:  justauth delivery paused: could not read justauth\.whatsapp_access_token_file: No such file or directory\n.*DETAIL:  The file is "\Q$token_path\E"/),
	'missing file: the log names the path');
my @queued = (send_while_paused('919876543400', 'missing file'));

# The file setting is superuser-only like the token.
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');
my ($ret) = $node->psql('postgres', 'SET ROLE plain; SHOW justauth.whatsapp_access_token_file');
isnt($ret, 0, 'the token file setting cannot be read by a non-superuser');

# 2. Writing the file and reloading delivers the waiting message with it.
write_token("$token_a\n");
reload();
ok(wait_until(sub { outbox_row($node, $queued[0])->{status} eq 'sent' }, 'sent'),
	'file written + reload: the queued message is delivered');
is(outbox_row($node, $queued[0])->{attempts}, 1, 'delivered at its first attempt');
my $reqs = $mock->requests;
is(scalar @$reqs, 1, 'one request');
is($reqs->[0]{bearer}, $token_a, 'the request carried the token from the file (newline trimmed)');
ok($reqs->[0]{auth_ok}, 'and WhatsApp accepted it');

# 3. Rotation: new token at Meta and in the file, reload; the next message
# carries the new token (no file read per message: the reload did it).
my $nloads = loads();
$mock->control(token => $token_b);
write_token("$token_b\r\n  \n");
reload();
ok(wait_until(sub { loads() > $nloads }, 'reread'), 'rotation: the worker re-read the file at reload');
my $nreq = @{ $mock->requests };
my $rid = send_live($node, $cid, $key, '919876543401');
ok(wait_until(sub { outbox_row($node, $rid)->{status} eq 'sent' }, 'sent'), 'rotation: next message delivered');
$reqs = $mock->requests($nreq);
is(scalar @$reqs, 1, 'rotation: one request');
is($reqs->[0]{bearer}, $token_b, 'rotation: it carried the new token');
ok($reqs->[0]{auth_ok}, 'rotation: accepted');

# 4. Broken files: each pauses delivery with its reason; nothing is sent.
# (consecutive cases differ, so each last_error proves the reload happened)
my @cases = (
	[ 'empty file', "\n \n", 0600, qr/^justauth\.whatsapp_access_token_file is empty$/ ],
	[ 'group-readable file', "$token_b\n", 0640,
		qr/^justauth\.whatsapp_access_token_file has group or world access \(chmod 0600\)$/ ],
	[ 'oversized file', ('x' x 5000), 0600,
		qr/^justauth\.whatsapp_access_token_file is larger than 4096 bytes$/ ],
	[ 'world-readable file', "$token_b\n", 0644,
		qr/^justauth\.whatsapp_access_token_file has group or world access \(chmod 0600\)$/ ],
	[ 'token with inner white space', "EAAG abc\n", 0600,
		qr/^the token in justauth\.whatsapp_access_token_file contains white space or control characters$/ ],
);
my $n = 410;
for my $case (@cases)
{
	my ($what, $contents, $mode, $error) = @$case;
	write_token($contents, $mode);
	reload();
	ok(wait_until(sub { sql('SELECT last_error FROM justauth.worker_status') =~ $error }, $what),
		"$what: last_error says why");
	push @queued, send_while_paused('919876543' . $n++, $what);
}
ok($node->log_contains(qr/justauth delivery paused: justauth\.whatsapp_access_token_file has group or world access \(chmod 0600\)\n.*\n.*HINT:  chmod 0600 the file/),
	'permissions: the log hints chmod 0600');

# 5. A token both inline and in a file is a configuration error.
write_token("$token_b\n");
sql("ALTER SYSTEM SET justauth.whatsapp_access_token = '$token_c'");
reload();
ok(wait_until(sub { sql('SELECT last_error FROM justauth.worker_status') =~ /both set/ }, 'both'),
	'both set: last_error says so');
like(sql('SELECT last_error FROM justauth.worker_status'),
	qr/^justauth\.whatsapp_access_token and justauth\.whatsapp_access_token_file are both set$/,
	'both set: names both settings');
push @queued, send_while_paused('919876543420', 'both set');
ok($node->log_contains(qr/HINT:  Set justauth\.whatsapp_access_token to '' and reload/), 'both set: the log says what to do');

# 6. Fixed (a file named by an absolute path, outside the data directory):
# every paused message is delivered, with the current token, at its first
# attempt; none was lost.
$token_path = PostgreSQL::Test::Utils::tempdir('secrets') . '/whatsapp.token';
write_token("$token_b\n");
sql('ALTER SYSTEM RESET justauth.whatsapp_access_token');
sql("ALTER SYSTEM SET justauth.whatsapp_access_token_file = '$token_path'");
$nreq = @{ $mock->requests };
reload();
my $in = join(',', map { "'$_'" } @queued[ 1 .. $#queued ]);
ok(wait_until(sub { sql("SELECT count(*) FROM justauth.outbox WHERE status = 'sent' AND session_id IN ($in)") == @queued - 1 }, 'resumed'),
	'fixed + reload: all paused messages delivered');
is(sql("SELECT count(*) FROM justauth.outbox WHERE session_id IN ($in) AND attempts <> 1"), '0',
	'fixed: each at its first attempt');
$reqs = $mock->requests($nreq);
is(scalar @$reqs, @queued - 1, 'fixed: one request per message');
is(scalar(grep { $_->{bearer} ne $token_b || !$_->{auth_ok} } @$reqs), 0, 'fixed: all with the current token');
is(scalar(grep { $_->{bearer} ne $token_a && $_->{bearer} ne $token_b } @{ $mock->requests }), 0,
	'no request ever carried an empty or other token');
ok(loads() == 1, 'the file was read from its absolute path');

# 7. The server log never contains a token from the file (the inline one
# appears only where PostgreSQL itself echoes it, never in our messages).
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$token_a\E/, 'the log never contains the first file token');
unlike($log, qr/\Q$token_b\E/, 'the log never contains the rotated file token');
my @leaks = grep { /\Q$token_c\E/ && !/statement: ALTER SYSTEM|parameter "justauth.whatsapp_access_token" changed to/ }
  split /\n/, $log;
is(scalar @leaks, 0, 'the inline token is only echoed by PostgreSQL itself') or diag(join "\n", @leaks);

$node->stop;
done_testing();
