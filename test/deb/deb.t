#!/usr/bin/env perl
#
# The Debian packages (`make deb`), installed into a scratch root: never
# the machine's /etc/nginx or /usr.
#
# Builds them if they are stale (`make deb-packages`), lints them, unpacks
# both with dpkg -x, and in that tree checks: the module package's
# maintainer scripts enable and disable the module as Debian's module
# packages do (run unchanged, in a private mount namespace where the
# scratch tree's etc/nginx is mounted on /etc/nginx); `nginx -t` passes
# with the packaged load_module line and with the packaged example
# configuration; the installed module, loaded by that configuration,
# serves /health and a conversation's messages from DynamoDB Local (a
# table of its own, made and seeded by the installed `ddbm`); `ddbm --help`
# and `man ddbm` work from the installed files.
#
#   TEST_NGINX_DDB_PORT=8000 prove test/deb/deb.t    (as root)
#
# TEST_NGINX_DDB_PORT is required: without it the test fails, it does not
# skip (scripts/test.sh starts DynamoDB Local and sets it).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use FindBin ();
use lib "$FindBin::Bin/../../t/lib";
use DdbmTest qw(slurp spew ddbm_run ddbm_cli ddbm_free_port);

my $top = abs_path("$FindBin::Bin/../..");
chdir $top or die "$top: $!";

my $port = $ENV{TEST_NGINX_DDB_PORT};
if (!defined $port || $port !~ /^\d+$/) {
    fail('TEST_NGINX_DDB_PORT names the port of a running DynamoDB Local');
    done_testing();
    exit 1;
}
if ($> != 0) {
    fail('runs as root (the maintainer scripts run in a mount namespace)');
    done_testing();
    exit 1;
}

my $nginx_pid;
my $table;
my $drop_table = 0;

# the server and the table go even when a check dies half-way
sub stop_nginx {
    return if !$nginx_pid;
    kill 'QUIT', $nginx_pid;
    for (1 .. 50) {
        last if waitpid($nginx_pid, POSIX::WNOHANG()) != 0;
        sleep 0.1;
    }
    if (kill 0, $nginx_pid) {
        kill 'KILL', $nginx_pid;
        waitpid($nginx_pid, 0);
    }
    $nginx_pid = undef;
}
END {
    my $rc = $?;
    stop_nginx();
    ddbm_run('--table', $table, '--yes', 'drop') if $drop_table;
    $? = $rc;
}
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);

# ---- build and lint ----------------------------------------------------

my $out = `make --no-print-directory -s deb-packages 2>&1`;
is($?, 0, 'make deb-packages builds (or finds up to date) the packages')
    or diag($out);

my ($mod) = glob('build/deb/libnginx-mod-http-ddbm_*.deb');
my ($tools) = glob('build/deb/ddbm-tools_*.deb');
ok($mod && -f $mod, "the module package: " . ($mod // 'none'));
ok($tools && -f $tools, "the tools package: " . ($tools // 'none'));
if (!$mod || !$tools) {
    done_testing();
    exit 1;
}

$out = `lintian --fail-on error $mod $tools 2>&1`;
is($?, 0, 'lintian reports no errors') or diag($out);
unlike($out, qr/^E: /m, 'no E: tags');
note("lintian:\n$out");

# the exact ABI of the nginx installed here (what nginx-dev was built
# with too), and the libraries the module links
my ($abi) = `dpkg-query -W -f='\${Provides}' nginx` =~ /(nginx-abi-[^\s,]+)/;
ok($abi, "the installed nginx provides an ABI: " . ($abi // 'none'));
my $deps = `dpkg-deb -f $mod Depends`;
like($deps, qr/(?:^|,\s*)\Q$abi\E(?:,|\s*$)/,
     "the module depends on exactly $abi") if $abi;
like($deps, qr/\blibjansson4\b.*\blibyajl2\b|\blibyajl2\b.*\blibjansson4\b/,
     '... and on the libraries it links (shlibs)');
like($deps, qr/\blibcurl4\b/, '... libcurl4 too');
unlike(`dpkg-deb -f $tools Depends`, qr/nginx/,
       'the tools do not depend on nginx');

# ---- the same configure flags as the Docker image -----------------------

# The package's module is configured with Debian's conf_flags; the image's
# with upstream source and a few flags.  What the module's object code
# depends on must agree: every feature macro it tests comes from a flag
# the image passes, and Debian's conf_flags pass each of them too; or it
# is on unless configure is told otherwise, and neither says so.
my %flag_of = (NGX_THREADS => '--with-threads');
# NGX_PCRE: on whenever the rewrite module is (the default), which
# regex locations and their named captures need
my %off_by = (NGX_PCRE => [qw(--without-pcre --without-http_rewrite_module)]);
my %macros;
for my $f (glob('src/module/*.[ch]')) {
    $macros{$_} = 1 for slurp($f) =~ /^\s*#\s*(?:if|elif)\b.*?\b(NGX_[A-Z0-9_]+)/mg;
}
my $df = slurp('docker/Dockerfile');
my ($configure) = $df =~ m{(\./configure (?:[^\n]*\\\n)*[^\n]*)};
$configure =~ s/&&.*//s if defined $configure;    # the configure command only
my @docker_flags = ($configure // '') =~ /(--with-[\w-]+)/g;
my @docker_all = ($configure // '') =~ /(--[\w-]+)/g;
my ($debian) = slurp('/usr/share/nginx/src/conf_flags') =~ /\((.*)\)/s;
my %debian = map { $_ => 1 } split ' ', $debian // '';
ok(@docker_flags, "the image's configure flags: @docker_flags");
for my $m (sort keys %macros) {
    if ($off_by{$m}) {
        my @off = grep { my $o = $_; grep({ $_ eq $o } @docker_all)
                                     || $debian{$o} } @{ $off_by{$m} };
        ok(!@off, "the module tests $m: on by default, and neither the "
                  . "image nor Debian passes @{ $off_by{$m} }"
                  . (@off ? " (passed: @off)" : ''));
        next;
    }
    ok($flag_of{$m} && grep({ $_ eq $flag_of{$m} } @docker_flags),
       "the module tests $m: the image passes "
       . ($flag_of{$m} // 'a flag not listed in deb.t'));
}
for my $fl (@docker_flags) {
    ok($debian{$fl}, "$fl is in Debian's conf_flags too");
}

# ---- the scratch root --------------------------------------------------

my $tmp = tempdir('ddbm-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $root = "$tmp/root";
for my $deb ($mod, $tools) {
    system('dpkg', '-x', $deb, $root) == 0 or die "dpkg -x $deb failed\n";
}
system('dpkg', '-e', $mod, "$tmp/ctl") == 0 or die "dpkg -e $mod failed\n";

my $so = "$root/usr/lib/nginx/modules/ngx_http_ddbm_module.so";
my $avail = '/usr/share/nginx/modules-available/mod-http-ddbm.conf';
my $enabled = '/etc/nginx/modules-enabled/50-mod-http-ddbm.conf';
my $example = "$root/usr/share/doc/libnginx-mod-http-ddbm/examples/"
            . 'nginx.conf.example';
ok(-f $so, 'the module is in /usr/lib/nginx/modules');
# built with NGINX's flags plus dpkg-buildflags' (-D_FORTIFY_SOURCE=2):
# the core's bounded copies into fixed buffers become checked ones
like(scalar `nm -D $so`, qr/ U __\w+_chk\@/,
     'the module is built with the hardening flags (fortified calls)');
is(slurp("$root$avail"), "load_module modules/ngx_http_ddbm_module.so;\n",
   "$avail loads it from nginx's modules directory");
ok(-f $example, 'the example configuration is in /usr/share/doc');
ok(-f "$root/usr/share/doc/libnginx-mod-http-ddbm/README.md.gz",
   '... with the README');
ok(-x "$root/usr/bin/ddbm", 'ddbm is in /usr/bin');
ok(-f "$root/usr/share/man/man1/ddbm.1.gz", 'ddbm(1) is installed');

# ---- the maintainer scripts --------------------------------------------

# nginx-common's part of the tree: the directories the scripts use and
# the prefix's modules link
mkdir "$root/etc";
mkdir "$root/etc/nginx";
mkdir "$root/etc/nginx/modules-enabled";
symlink('../../lib/nginx/modules', "$root/usr/share/nginx/modules")
    or die "symlink: $!";

# dpkg-trigger (called by the scripts) only records its arguments
mkdir "$tmp/bin";
spew("$tmp/bin/dpkg-trigger",
     "#!/bin/sh\necho \"\$*\" >> '$tmp/triggers'\n");
chmod 0755, "$tmp/bin/dpkg-trigger";

my $real_before = join(' ', sort glob('/etc/nginx/modules-enabled/*'));

# maint(SCRIPT, ARGS...): the packaged script, unchanged, with the
# scratch etc/nginx mounted on /etc/nginx in a mount namespace of its own
sub maint {
    my ($script, @args) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        $ENV{PATH} = "$tmp/bin:$ENV{PATH}";
        {
            exec 'unshare', '--mount', '--propagation', 'private', 'sh',
                 '-c', 'mount --bind "$0/etc/nginx" /etc/nginx && exec sh "$@"',
                 $root, "$tmp/ctl/$script", @args;
        }
        POSIX::_exit(127);
    }
    my $o = do { local $/; <$fh> } // '';
    close $fh;
    is($?, 0, "$script " . join(' ', map { "'$_'" } @args) . ' runs')
        or diag($o);
}

my $link = "$root$enabled";
maint('postinst', 'configure', '');
ok(-l $link, "postinst (new install) makes the $enabled link");
is(readlink($link), $avail, "... to $avail");
is(slurp("$tmp/triggers"), "--no-await nginx-reload\n",
   '... and triggers an nginx reload');

maint('prerm', 'remove');
ok(!-e $link && -l "$link.removed", 'prerm remove sets the link aside');
maint('postrm', 'remove');
ok(-l "$link.removed", 'postrm remove keeps it aside');
maint('postinst', 'configure', '0.1.0');
is(readlink($link), $avail, 'reinstalling after a remove puts it back');

unlink $link;
maint('postinst', 'configure', '0.1.0');
ok(!-e $link, 'an upgrade leaves an administrator\'s disabling alone');

maint('postinst', 'configure', '');
maint('postrm', 'purge');
ok(!-e $link && !-e "$link.removed", 'postrm purge removes the link');

is(join(' ', sort glob('/etc/nginx/modules-enabled/*')), $real_before,
   'the machine\'s /etc/nginx/modules-enabled is unchanged');

maint('postinst', 'configure', '');

# ---- nginx -t ----------------------------------------------------------

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
# the installed tree as nginx's prefix: "modules/" is the scratch tree's
# /usr/lib/nginx/modules through nginx-common's link
my $prefix = "$root/usr/share/nginx/";
mkdir "$tmp/logs";
mkdir "$tmp/run";

# the packaged modules-enabled link, followed inside the scratch tree
my $target = readlink($link) // '';
my $load = <<"CONF";
include $root$target;
pid $tmp/run/nginx.pid;
error_log $tmp/logs/error.log;
events {}
CONF
spew("$tmp/load.conf", $load);
$out = `$nginx -t -p $prefix -c $tmp/load.conf 2>&1`;
is($?, 0, 'nginx -t with the packaged load_module line') or diag($out);

# the packaged example, prepared as scripts/run.sh prepares it: this
# DynamoDB Local, a free port, a key pair made by the installed ddbm, a
# table of our own; its load_module line is the packaged one
$ENV{DDBM_CLI} = "$root/usr/bin/ddbm";
delete $ENV{$_} for grep { /^AWS_/ } keys %ENV;
$ENV{AWS_EC2_METADATA_DISABLED} = 'true';
delete @ENV{qw(DDBM_ENDPOINT DDBM_TABLE)};
$ENV{HOME} = $tmp;

ddbm_cli('dev-keys', '--dir', "$tmp/jwt");
my $http = ddbm_free_port();
$table = sprintf('ddbm-deb-test-%d-%d', $$, time());

my $conf = slurp($example);
like($conf, qr{^load_module modules/ngx_http_ddbm_module\.so;$}m,
     'the example loads the module as the packaged line does');
$conf =~ s/127\.0\.0\.1:8000/127.0.0.1:$port/g;
$conf =~ s/listen 127\.0\.0\.1:8080/listen 127.0.0.1:$http/;
$conf =~ s|^( *ddbm_jwt_jwks +).*;|$1$tmp/jwt/jwks.json;|m;
$conf =~ s|^( *ddbm_table +)\S+;|$1$table;|m;
$conf =~ s|^http \{|http {\n    client_body_temp_path $tmp/run/body;|m;
$conf =~ s|^http \{|http {\n    proxy_temp_path $tmp/run/proxy;|m;
$conf .= "\ndaemon off;\npid $tmp/run/nginx.pid;\n"
       . "error_log $tmp/logs/error.log info;\n";
spew("$tmp/nginx.conf", $conf);
$out = `$nginx -t -p $prefix -c $tmp/nginx.conf 2>&1`;
is($?, 0, 'nginx -t with the packaged example configuration')
    or diag($out);

# ---- serving -----------------------------------------------------------

ddbm_cli('--table', $table, 'schema-load');
$drop_table = 1;
like(ddbm_cli('--table', $table, 'seed'), qr/seeded 3 users/,
     'the installed ddbm makes and seeds a table');

$nginx_pid = fork() // die "fork: $!\n";
if ($nginx_pid == 0) {
    open STDOUT, '>', "$tmp/logs/stdout.log";
    open STDERR, '>&', \*STDOUT;
    open STDIN, '<', '/dev/null';
    { exec $nginx, '-p', $prefix, '-c', "$tmp/nginx.conf"; }
    POSIX::_exit(127);
}

my $ua = HTTP::Tiny->new(timeout => 10);
my $res;
for (1 .. 100) {
    $res = $ua->get("http://127.0.0.1:$http/health");
    last if $res->{status} != 599;
    last if waitpid($nginx_pid, POSIX::WNOHANG()) != 0;
    sleep 0.1;
}
is($res->{status}, 200, 'the installed module serves /health')
    or diag(slurp("$tmp/logs/error.log") . slurp("$tmp/logs/stdout.log"));

my $group = '5ae290ed-55d1-47a0-bc6d-fe2bc2700399';
my $token = ddbm_cli('--table', $table, 'mint-token', '--dir', "$tmp/jwt",
                     '--handle', 'andrewbrown');
chomp $token;
$res = $ua->get("http://127.0.0.1:$http/api/messages/$group",
                { headers => { Authorization => "Bearer $token" } });
is($res->{status}, 200, 'and a conversation\'s messages')
    or diag($res->{content});
my $list = eval { decode_json($res->{content}) } || [];
ok(ref $list eq 'ARRAY' && @$list > 0
   && !(grep { !defined $_->{message} || !defined $_->{handle} } @$list),
   'a list of messages: ' . scalar(ref $list eq 'ARRAY' ? @$list : 0));
stop_nginx();

# ---- ddbm and its man page ---------------------------------------------

$out = `$root/usr/bin/ddbm --help 2>&1`;
is($?, 0, 'ddbm --help exits 0');
like($out, qr/^usage: ddbm /m, '... with the usage');

$out = `MANPATH=$root/usr/share/man MANWIDTH=80 man ddbm 2>&1`;
is($?, 0, 'man ddbm finds the installed page') or diag($out);
like($out, qr/ddbm - manage the DynamoDB table/, '... its NAME line');
like($out, qr/mint-token/, '... and the commands');
$out = `man --warnings -l $root/usr/share/man/man1/ddbm.1.gz 2>&1 >/dev/null`;
is($out, '', 'man -l renders it without warnings');

done_testing();
