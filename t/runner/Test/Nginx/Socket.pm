package Test::Nginx::Socket;

# A small, project-local stand-in for Test::Nginx::Socket (openresty's
# test-nginx), which Debian does not package.  It runs the same
# "=== TEST / --- section" suites with the same semantics for the sections
# this project uses, so every suite in t/ must also pass, unchanged, under
# the real Test::Nginx (select it with PERL5LIB=/path/to/test-nginx/lib).
#
# Block parsing, section filters (eval, chomp, ...) and the ONLY/SKIP/LAST
# markers come from Debian's Test::Base; everything else (nginx.conf
# generation, nginx start/stop, raw-socket HTTP client, response and error
# log checks) is implemented here.  What it supports, and how it differs
# from the real one: see the POD at the end (perldoc t/runner/Test/Nginx/Socket.pm).

use strict;
use warnings;

use Test::Base ();     # no import: the test file's `use` selects us as class
our @ISA = ('Test::Base');

use Test::More ();
use Carp qw(croak);
use Cwd ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX qw(WNOHANG EAGAIN EWOULDBLOCK EINTR);
use Time::HiRes qw(sleep time);

our $VERSION = '0.1';

our @EXPORT = qw(
    run_tests run_test repeat_each no_shuffle add_block_preprocessor
    log_level no_long_string env_to_nginx master_on master_off
    master_process_enabled workers worker_connections timeout
    server_port server_port_for_client server_addr server_name
    server_root html_dir no_root_location config_preamble
    check_accum_error_log bail_out is_str add_cleanup_handler
    add_test_cleanup_handler
);

# ---------------------------------------------------------------- settings

our $Verbose        = $ENV{TEST_NGINX_VERBOSE};
our $NginxBinary    = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Timeout        = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $LogLevel       = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess  = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Workers        = 1;
our $WorkerConnections = 64;
our $RepeatEach     = 1;
our $NoShuffle      = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString;
our $NoRootLocation = 0;
our $ConfigPreamble = '';
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ServerAddr     = '127.0.0.1';
our $ServerName     = 'localhost';
our $SleepTime      = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ForceRestart   = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                      ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;

# Valgrind mode (TEST_NGINX_USE_VALGRIND): nginx runs in the foreground
# (daemon off) under memcheck, its report is checked whenever it stops (see
# t/lib/DdbmValgrind.pm, shared with DdbmServer).  Valgrind slows nginx
# down many times, so the waits scale: startup and shutdown get
# $ValgrindStartTimeout, a block's own --- timeout is multiplied by
# $ValgrindScale (not with --- abort: there the client giving up early is
# the scenario).
our $UseValgrind;
our $ValgrindScale = $ENV{TEST_NGINX_VALGRIND_TIMEOUT_SCALE} || 3;
our $ValgrindStartTimeout = $ENV{TEST_NGINX_VALGRIND_START_TIMEOUT} || 60;
BEGIN {
    my $v = $ENV{TEST_NGINX_USE_VALGRIND};
    if (defined $v && $v ne '' && $v ne '0') {
        # DdbmValgrind lives in t/lib, next to t/runner; loaded before our
        # END block so that its own END (the per-file count) runs last
        if (!eval { require DdbmValgrind; 1 }) {
            my $lib = Cwd::abs_path(__FILE__);
            $lib =~ s{/runner/Test/Nginx/Socket\.pm\z}{/lib};
            push @INC, $lib;
            require DdbmValgrind;
        }
        $UseValgrind = 1;
    }
}

our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers,
     @TestCleanupHandlers);

# The port nginx listens on: TEST_NGINX_SERVER_PORT / TEST_NGINX_PORT when
# given, else a free loopback port chosen now (so `prove -j` works), which
# is published in both variables before any config is expanded.
our $PortPicked = 0;
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT};
if (!$ServerPort) {
    $ServerPort = pick_free_port();
    $PortPicked = 1;
}
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
$ENV{TEST_NGINX_PORT}        = $ServerPort;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;

our $ServRoot = File::Spec->rel2abs(
    $ENV{TEST_NGINX_SERVROOT}
    || ($PortPicked ? "t/servroot_$$" : 't/servroot'));
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

# ------------------------------------------------------------------- state

our $MainPid = $$;
our $NginxPid;          # pid of the nginx we started (master or single)
our $NginxChild;        # ... when it is our child (valgrind: no daemon)
our @NginxBlocks;       # the blocks that ran on it (valgrind reports)
our $PrevConfText;      # nginx.conf of the running nginx
our $ErrLogPos = 0;     # error.log offset already examined by this block
our $RandPorts = {};    # $TEST_NGINX_RAND_PORT_N of the current block
our $NginxVersion;      # e.g. 1022001
our $ConnectFailures = 0;
our $CleanedUp = 0;

# Stop our nginx however the test process ends: normal end, die, BAIL_OUT
# (all via END) or a signal (the handlers exit, which runs END).
for my $sig (qw(INT TERM HUP QUIT)) {
    my $num = { INT => 2, TERM => 15, HUP => 1, QUIT => 3 }->{$sig};
    $SIG{$sig} = sub {
        if ($$ == $MainPid) {
            Test::More::diag("caught SIG$sig, stopping nginx");
            cleanup();
        }
        POSIX::_exit(128 + $num) if $$ != $MainPid;
        exit(128 + $num);
    };
}

END {
    if (defined $MainPid && $$ == $MainPid) {
        local $?;
        cleanup();
        if ($PortPicked && !$ENV{TEST_NGINX_SERVROOT} && -d $ServRoot
            && $ServRoot =~ m{/t/servroot_\d+$})
        {
            my $tb = Test::More->builder;
            my $ok = !grep { !$_ } $tb->summary;
            if ($ok && $tb->is_passing) {
                remove_tree($ServRoot);
            } else {
                Test::More::diag("nginx server root kept for inspection: "
                                 . $ServRoot);
            }
        }
    }
}

# ------------------------------------------------------ exported functions

sub repeat_each (@) { $RepeatEach = shift if @_; return $RepeatEach }
sub no_shuffle ()    { $NoShuffle = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub log_level (@)    { $LogLevel = shift if @_; return $LogLevel }
sub workers (@)      { $Workers = shift if @_; return $Workers }
sub worker_connections (@) {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}
sub master_on ()     { $MasterProcess = 'on' }
sub master_off ()    { $MasterProcess = 'off' }
sub master_process_enabled (@) {
    $MasterProcess = (shift() ? 'on' : 'off') if @_;
    return $MasterProcess;
}
sub timeout (@)      { $Timeout = shift if @_; return $Timeout }
sub server_port (@)  { $ServerPort = shift if @_; return $ServerPort }
sub server_port_for_client (@) {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient;
}
sub server_addr (@)  { $ServerAddr = shift if @_; return $ServerAddr }
sub server_name (@)  { $ServerName = shift if @_; return $ServerName }
sub server_root ()   { return $ServRoot }
sub html_dir ()      { return $HtmlDir }
sub config_preamble ($) { $ConfigPreamble = shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" if !@_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# is() for strings: Test::LongString's is_string when it is installed
# (it shows where long strings differ), unless no_long_string().
my $HaveLongString = eval { require Test::LongString; 1 };

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString || !$HaveLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

sub run_tests () {
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }

    cleanup();
}

sub cleanup () {
    return if $$ != $MainPid;
    $_->() for @CleanupHandlers;
    stop_nginx('cleanup');
    undef $PrevConfText;
}

# ------------------------------------------------------------ small helpers

# A section's (filtered) value: blocks store each section as an array.
sub sec ($$) {
    my ($block, $name) = @_;
    my $v = $block->{$name};
    return undef if !defined $v;
    return ref $v eq 'ARRAY' ? $v->[0] : $v;
}

sub parse_time ($) {
    my $t = shift;
    return undef if !defined $t;
    $t =~ s/^\s+|\s+$//g;
    return $1 / 1000 if $t =~ /^([\d.]+)ms$/;
    return $1 if $t =~ /^([\d.]+)s?$/;
    return $t;
}

sub pick_free_port {
    my %avoid = map { $_ => 1 } grep { defined } @_;
    # below Linux's default ephemeral range (32768-60999), so outgoing
    # connections (e.g. nginx to DynamoDB Local) never take it meanwhile
    for (1 .. 500) {
        my $port = 20000 + int(rand(12000));
        next if $avoid{$port};
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => $port, Proto => 'tcp',
            Listen => 1, ReuseAddr => 1,
        ) or next;
        close $s;
        return $port;
    }
    die "Test::Nginx::Socket: no free loopback TCP port found\n";
}

sub expand_env_in_text ($$) {
    my ($text, $name) = @_;
    return $text if !defined $text || ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $RandPorts->{$var} //= pick_free_port($ServerPort,
                                                  values %$RandPorts);
            $val = $RandPorts->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n")
                if !defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub nginx_binary () {
    my $b = $NginxBinary;
    return $b if $b =~ m{/};
    for my $dir (split(/:/, $ENV{PATH} || ''), '/usr/sbin', '/usr/local/sbin',
                 '/sbin', '/usr/local/nginx/sbin')
    {
        return "$dir/$b" if -f "$dir/$b" && -x _;
    }
    return $b;
}

sub nginx_version () {
    return $NginxVersion if defined $NginxVersion;
    my $bin = nginx_binary();
    my $out = `'$bin' -v 2>&1`;
    if ($out =~ m{nginx/(\d+)\.(\d+)\.(\d+)}) {
        $NginxVersion = $1 * 1000000 + $2 * 1000 + $3;
    } else {
        $NginxVersion = 0;
    }
    return $NginxVersion;
}

# ------------------------------------------------------- nginx management

sub pid_alive ($) {
    my $pid = shift;
    return 0 if !$pid || !kill(0, $pid);
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        close $fh;
        return 0 if $stat =~ /^\d+ \(.*\) [ZX]/s;   # zombie / dead
    }
    return 1;
}

sub read_pid_file () {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef if !defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub is_our_nginx ($) {
    my $pid = shift;
    return 0 if !pid_alive($pid);
    if (open my $fh, '<', "/proc/$pid/cmdline") {
        my $cmd = do { local $/; <$fh> } // '';
        close $fh;
        return $cmd =~ /nginx/;
    }
    return 1;   # no /proc: trust our own pid file
}

sub stop_nginx ($) {
    my ($why) = @_;
    my $pid = $NginxPid // read_pid_file();
    my $child = $NginxChild;
    undef $NginxPid;
    undef $NginxChild;
    my @blocks = splice @NginxBlocks;
    return if !$pid || !is_our_nginx($pid);

    warn "stopping nginx $pid ($why)\n" if $Verbose;
    my $status;
    my $reap = sub {
        return if !$child;
        $status = $? if waitpid($child, WNOHANG) == $child;
    };
    # valgrind checks for leaks at exit, which takes a while
    my $wait = $UseValgrind ? $ValgrindStartTimeout : $Timeout;
    kill 'QUIT', $pid;
    my $deadline = time + $wait;
    while (pid_alive($pid) && time < $deadline) {
        $reap->();
        sleep 0.02;
    }
    if (pid_alive($pid)) {
        warn "$why - nginx $pid did not quit in ${wait}s, killing it\n";
        kill 'TERM', $pid;
        $deadline = time + 1;
        sleep 0.02 while pid_alive($pid) && time < $deadline;
        if (pid_alive($pid)) {
            # a daemonized nginx (or our valgrind child, see start_nginx)
            # leads its own process group (workers too)
            kill 'KILL', (getpgrp($pid) == $pid ? -$pid : $pid);
            sleep 0.05;
        }
    }
    $reap->();
    waitpid($pid, WNOHANG);

    check_valgrind(\@blocks, $status) if $UseValgrind;
}

# Fails a test when the valgrind report of the nginx that just stopped has
# findings, named after the blocks that ran on it; no assertion otherwise,
# so plans count the same with and without valgrind.
sub check_valgrind ($$) {
    my ($blocks, $status) = @_;
    my $r = DdbmValgrind::check_dir($LogDir, $status);
    my $name = @$blocks ? join(', ', @$blocks) : "$0 (nginx)";
    if (@{ $r->{errors} }) {
        local $Test::Builder::Level = $Test::Builder::Level + 1;
        Test::More::fail("$name - " . DdbmValgrind::summary($r));
        Test::More::diag($r->{report});
    } elsif ($r->{report} ne '' && $Verbose) {
        warn "$name - $r->{report}";
    }
}

sub setup_server_root () {
    if (-d $ServRoot) {
        remove_tree($ConfDir, $LogDir, $HtmlDir, glob("$ServRoot/*_temp"),
                    glob("$ServRoot/*_cache"));
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $d;
        make_path($d) or bail_out("Failed to create directory $d: $!");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't write $HtmlDir/index.html: $!");
    print $out '<html><head><title>It works!</title></head>'
             . '<body>It works!</body></html>';
    close $out;
}

# --- user_files: ">>> name" headers, each followed by the file's content
sub write_user_files ($) {
    my ($block) = @_;
    my $name = $block->name;
    my $files = sec($block, 'user_files');
    return if !defined $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    }
    bail_out("$name - user_files must be a string or an array")
        if ref $files ne 'ARRAY';

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/}) {
            make_path($1) if !-d $1;
        }
        $body = expand_env_in_text($body // '', $name);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - touch -t $date $path failed");
        }
    }
}

sub gen_nginx_conf ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text(sec($block, 'http_config') // '',
                                         $name);
    my $main_config = expand_env_in_text(sec($block, 'main_config') // '',
                                         $name);
    my $post_main_config =
        expand_env_in_text(sec($block, 'post_main_config') // '', $name);

    if (my $mods = $ENV{TEST_NGINX_LOAD_MODULES}) {
        $main_config = join(' ', map { "load_module $_;" } grep { length }
                            split(/\s+/, $mods)) . "\n$main_config";
    }

    my $temp_paths = '';
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $http_config =~ /\b${t}_temp_path\b/;
        $temp_paths .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }

    my $env = join '', map { my $v = $_; $v = "'$v'" if $v =~ /\s/;
                             "env $v;\n" } @EnvToNginx;

    my $daemon = $UseValgrind ? 'off' : 'on';

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    # main_config goes right after the core directives and before any
    # block, so load_module is accepted there; events comes last.
    my $conf = <<"_EOC_";
worker_processes  $Workers;
daemon $daemon;
master_process $MasterProcess;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env ASAN_OPTIONS;
$env
$main_config

http {
    access_log $AccLogFile;
$temp_paths
    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config

    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$ServerName';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
_EOC_

    $conf .= "user root;\n" if $> == 0;
    return $conf;
}

sub error_log_tail (;$) {
    my $n = shift || 20;
    open my $in, '<', $ErrLogFile or return "(no $ErrLogFile)";
    my @lines = <$in>;
    close $in;
    splice @lines, 0, @lines - $n if @lines > $n;
    return join '', @lines;
}

# Runs nginx (which daemonizes once its listening socket is bound) and
# waits for it; returns the exit status.  fork/exec rather than system()
# so our INT/TERM handlers stay active meanwhile.
sub run_nginx_cmd (@) {
    my @cmd = @_;
    my $pid = fork();
    bail_out("fork() failed: $!") if !defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    my $r;
    do { $r = waitpid($pid, 0) } while ($r == -1 && $!{EINTR});
    return $?;
}

sub start_nginx ($$) {
    my ($block, $conf_text) = @_;
    my $name = $block->name;

    stop_nginx($name);
    setup_server_root();
    write_user_files($block);

    open my $out, '>', $ConfFile
        or bail_out("$name - Can't open $ConfFile for writing: $!");
    print $out $conf_text;
    close $out;

    my $bin = nginx_binary();
    if (!-x $bin) {
        bail_out("$name - Cannot find the nginx executable "
                 . "(TEST_NGINX_BINARY=$NginxBinary)");
    }
    my @cmd = ($bin, '-p', "$ServRoot/", '-c', $ConfFile);
    # -e (nginx >= 1.19.5): log startup errors to our error.log too, not to
    # a compiled-in path such as /var/log/nginx/error.log
    push @cmd, '-e', $ErrLogFile if nginx_version() >= 1019005;

    return start_nginx_valgrind($block, $conf_text, @cmd) if $UseValgrind;

    my $status;
    for my $try (1 .. 4) {
        warn "starting nginx: @cmd\n" if $Verbose;
        $status = run_nginx_cmd(@cmd);
        last if $status == 0;
        last if error_log_tail(50) !~ /Address already in use/;
        sleep 0.5 * $try;
    }

    if ($status != 0) {
        Test::More::fail("$name - nginx failed to start (status "
                         . ($status >> 8) . "): @cmd");
        Test::More::diag("error.log tail:\n" . error_log_tail());
        undef $PrevConfText;
        return 0;
    }

    # the daemonized child writes the pid file just after the parent exits
    my $deadline = time + 3;
    my $pid;
    until (($pid = read_pid_file()) || time > $deadline) {
        sleep 0.01;
    }
    if (!$pid) {
        Test::More::fail("$name - nginx wrote no pid file $PidFile");
        undef $PrevConfText;
        return 0;
    }
    $NginxPid = $pid;
    $PrevConfText = $conf_text;
    sleep $SleepTime;
    return 1;
}

# nginx under valgrind, in the foreground (daemon off, as the real
# Test::Nginx runs it): our child, in a process group of its own (with its
# workers, if master_on()), ready once it has written its pid file (its
# listening sockets are bound by then; connections wait in the backlog).
sub start_nginx_valgrind ($$@) {
    my ($block, $conf_text, @cmd) = @_;
    my $name = $block->name;
    @cmd = (DdbmValgrind::command($LogDir), @cmd);

    my ($pid, $status);
    for my $try (1 .. 4) {
        warn "starting nginx: @cmd\n" if $Verbose;
        unlink $PidFile;
        $pid = fork();
        bail_out("fork() failed: $!") if !defined $pid;
        if ($pid == 0) {
            setpgrp(0, 0);
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>>', "$LogDir/stderr.log";
            { no warnings 'exec'; exec { $cmd[0] } @cmd; }
            print STDERR "cannot exec $cmd[0]: $!\n";
            POSIX::_exit(127);
        }
        undef $status;
        my $deadline = time + $ValgrindStartTimeout;
        while (time < $deadline) {
            my $p = read_pid_file();
            last if $p && $p == $pid;
            if (waitpid($pid, WNOHANG) == $pid) {
                $status = $?;
                last;
            }
            sleep 0.05;
        }
        last if !defined $status;
        last if error_log_tail(50) !~ /Address already in use/;
        DdbmValgrind::check_dir($LogDir);   # a bind failure: not a finding
        sleep 0.5 * $try;
    }

    my $p = read_pid_file();
    if (defined $status || !$p || $p != $pid) {
        my $how = 'no pid file in ' . $ValgrindStartTimeout . 's';
        if (!defined $status) {
            kill 'KILL', -$pid;
            waitpid($pid, 0);
            $status = $?;
        } else {
            $how = $status & 127 ? 'signal ' . ($status & 127)
                                 : 'exit ' . ($status >> 8);
        }
        Test::More::fail("$name - nginx failed to start under valgrind "
                         . "($how): @cmd");
        Test::More::diag("error.log tail:\n" . error_log_tail()
                         . "\nstderr:\n" . `cat '$LogDir/stderr.log' 2>&1`
                         . "\nvalgrind:\n"
                         . DdbmValgrind::check_dir($LogDir, $status)->{report});
        undef $PrevConfText;
        return 0;
    }

    $NginxPid = $NginxChild = $pid;
    $PrevConfText = $conf_text;
    sleep $SleepTime;
    return 1;
}

# ------------------------------------------------------ running one block

sub run_test ($) {
    my ($block) = @_;
    my $name = $block->name;
    return if defined $block->{SKIP};

    # --- skip_eval: N: perl code -- when the code is true, N skipped
    # assertions per repetition instead of the block (nginx not started)
    if (defined(my $se = sec($block, 'skip_eval'))) {
        $se =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - --- skip_eval must be \"N: perl code\"");
        my ($n, $code) = ($1, $2);
        my $skip = eval $code;
        bail_out("$name - skip_eval - failed to eval the Perl code "
                 . "\"$code\": $@") if $@;
        if ($skip) {
            for (1 .. $RepeatEach) {
                SKIP: { Test::More::skip("$name - skip_eval", $n) }
            }
            return;
        }
    }

    $RandPorts = {};
    local $LogLevel = $LogLevel;
    my $ll = sec($block, 'log_level');
    if (defined $ll) {
        $ll =~ s/^\s+|\s+$//g;
        $LogLevel = $ll;
    }

    my $config = sec($block, 'config');
    if (!defined $config) {
        # like the real one: a block without --- config reuses the
        # previous block's nginx as it is
        if (!defined $PrevConfText) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one.");
        }
    } else {
        $config = expand_env_in_text($config, $name);
        my $conf_text = gen_nginx_conf($block, $config);
        if ($ForceRestart || !defined $PrevConfText
            || $conf_text ne $PrevConfText || !pid_alive($NginxPid // 0))
        {
            start_nginx($block, $conf_text) or return;
        }
    }

    if (defined(my $init = sec($block, 'init'))) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    push @NginxBlocks, $name if $UseValgrind;

    $ErrLogPos = 0;
    for my $rep (0 .. $RepeatEach - 1) {
        write_user_files($block) if $rep > 0;
        run_requests($block, $rep);
    }
}

sub parse_more_headers ($) {
    my ($in) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $in // '') {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        next if !defined $key || $key eq '';
        $val //= '';
        $chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URI [VERSION]]" on the first line, the body (if any) after it;
# adds Host, Connection and Content-Length like the real one.
sub build_request ($$$$) {
    my ($name, $req, $more_headers, $conn) = @_;
    my ($hdr, $chunked) = parse_more_headers($more_headers);

    my ($first, $content) = $req =~ /\A([^\n]*\n?)(.*)\z/s;
    if (!defined $first || $first !~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/) {
        bail_out("$name - Request line is not valid. Should be "
                 . "'meth [url [version]]' but got \"" . ($first // '') . '"');
    }
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $content //= '';

    my $len_header = '';
    if (!$chunked && $content ne '' && $hdr !~ /(?:^|\n)Content-Length:/i) {
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $hdr !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n" if $hdr !~ /(?:^|\n)Connection/i;
    return "$meth $url $ver\r\n$headers$hdr$len_header\r\n$content";
}

sub more_headers_for ($$$) {
    my ($name, $more, $i) = @_;
    return $more if !ref $more;
    if (ref $more eq 'ARRAY') {
        my $h = $more->[$i];
        bail_out("$name - --- more_headers lacks data for request $i")
            if !defined $h;
        return $h;
    }
    bail_out("$name - --- more_headers must be a string or an array");
}

# Returns a list of requests; each request is a list of packets
# ({value => bytes, delay_before => secs}) sent over one connection.
sub requests_from_block ($) {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = sec($block, 'raw_request'))) {
        if (ref $raw eq 'ARRAY') {
            return [[ map { ref $_ ? $_ : { value => $_ } } @$raw ]];
        }
        return [[ { value => $raw } ]];
    }

    my $more = sec($block, 'more_headers') // '';

    if (defined(my $reqs = sec($block, 'pipelined_requests'))) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            if ref $reqs ne 'ARRAY';
        my $data = '';
        for my $i (0 .. $#$reqs) {
            my $r = expand_env_in_text($reqs->[$i], $name);
            $data .= build_request($name, $r, more_headers_for($name, $more, $i),
                                   $i == $#$reqs ? 'close' : 'keep-alive');
        }
        return [[ { value => $data } ]];
    }

    my $request = sec($block, 'request');
    bail_out("$name - request empty") if !defined $request;
    my $strip = sub {
        my $r = shift;
        1 while $r =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
        return $r;
    };

    if (!ref $request) {
        return [[ { value => build_request($name, $strip->($request),
                                 more_headers_for($name, $more, 0), 'close') } ]];
    }
    bail_out("$name - invalid --- request: must be a string or an array")
        if ref $request ne 'ARRAY';

    my @list;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my $hdrs = more_headers_for($name, $more, $i);
        if (!ref $one) {
            push @list, [ { value => build_request($name, $strip->($one),
                                                   $hdrs, 'close') } ];
            next;
        }
        bail_out("$name - a request must be a string or an array of packets")
            if ref $one ne 'ARRAY';
        # packets: build the request from their concatenation, then cut it
        # again so each packet but the first keeps its original length
        my @pk = map { ref $_ ? { %$_ } : { value => $_ } } @$one;
        my $whole = build_request($name, join('', map { $_->{value} } @pk),
                                  $hdrs, 'close');
        my @sizes = map { length $_->{value} } @pk[1 .. $#pk];
        my $tail = 0;
        $tail += $_ for @sizes;
        $tail = length($whole) if $tail > length($whole);
        my $pos = length($whole) - $tail;
        $pk[0]{value} = substr($whole, 0, $pos);
        for my $j (1 .. $#pk) {
            my $len = $sizes[$j - 1];
            $pk[$j]{value} = substr($whole, $pos, $len) // '';
            $pos += $len;
        }
        push @list, \@pk;
    }
    return \@list;
}

# Sends the packets over one connection and reads until the server closes
# it.  Returns (raw response, timed_out).
sub send_request ($$$$) {
    my ($block, $packets, $timeout, $middle_delay) = @_;
    my $name = $block->name;
    my $addr = sec($block, 'server_addr_for_client') // $ServerAddr;

    my $sock;
    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $addr, PeerPort => $ServerPortForClient,
            Proto => 'tcp', Timeout => $timeout,
        );
        last if $sock;
        my $wait = ($SleepTime + $SleepTime * $try) * $try / 2;
        $wait = 1 if $wait > 1;
        warn "$name - Can't connect to $addr:$ServerPortForClient: $@; "
             . "retrying in $wait sec\n" if $wait >= 0.6;
        sleep $wait;
    }
    if (!$sock) {
        my $msg = "$name - Can't connect to $addr:$ServerPortForClient: "
                . "$@ (aborted)";
        bail_out($msg) if ++$ConnectFailures >= 3;
        Test::More::fail($msg);
        return ('', 0);
    }

    local $SIG{PIPE} = 'IGNORE';
    $sock->blocking(0);
    my @queue = @$packets;
    my $first = shift @queue;
    my ($wbuf, $woff) = ($first->{value} // '', 0);
    my $writing = 1;
    my $resp = '';
    my $shutdown = sec($block, 'shutdown');

    while (1) {
        my $rsel = IO::Select->new($sock);
        my $wsel = $writing ? IO::Select->new($sock) : undef;
        my ($r, $w) = IO::Select->select($rsel, $wsel, undef, $timeout);
        if (!$r && !$w) {
            close $sock;
            return ($resp, 1);
        }

        if ($writing && $w && @$w) {
            while (1) {
                if ($woff >= length $wbuf) {
                    my $next = shift @queue;
                    if (!$next) {
                        $writing = 0;
                        if (defined $shutdown) {
                            shutdown($sock, $shutdown =~ /^\s*(\d)/ ? $1 : 1);
                        }
                        last;
                    }
                    my $delay = $next->{delay_before} // $middle_delay;
                    sleep $delay if $delay;
                    ($wbuf, $woff) = ($next->{value} // '', 0);
                    next;
                }
                my $n = syswrite($sock, $wbuf, length($wbuf) - $woff, $woff);
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                    warn "$name - write failed: $!\n";
                    $writing = 0;
                    last;
                }
                $woff += $n;
            }
        }

        if ($r && @$r) {
            while (1) {
                my $n = sysread($sock, my $buf, 16384);
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                    warn "$name - HTTP response read failure: $!\n"
                        if $resp eq '';
                    close $sock;
                    return ($resp, 0);
                }
                if ($n == 0) {
                    close $sock;
                    return ($resp, 0);
                }
                $resp .= $buf;
            }
        }
    }
}

# A parsed response: { code, status_line, headers => [[name, value], ...],
# body }.  header() joins repeated fields with ", ".
sub res_header ($$) {
    my ($res, $key) = @_;
    return undef if !$res;
    (my $k = lc $key) =~ tr/_/-/;
    my @v = map { $_->[1] } grep { lc($_->[0]) eq $k } @{ $res->{headers} };
    return @v ? join(', ', @v) : undef;
}

# Parses the first response in $raw; returns ($res, $raw_headers, $left)
# where $left holds the bytes after it (pipelined responses).
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;
    my $res = { code => undef, headers => [], body => '' };

    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';

    my ($head, $rest);
    if ($raw =~ /\A(.*?)\r?\n\r?\n/s) {
        ($head, $rest) = ($1, substr($raw, $+[0]));
    } else {
        ($head, $rest) = ($raw, '');
    }

    my @lines = split /\r?\n/, $head;
    my $status = shift(@lines) // '';
    if ($status =~ m{^HTTP/\d+(?:\.\d+)?\s+(\d{3})\b}) {
        $res->{code} = $1;
        $res->{status_line} = $status;
    }
    for my $l (@lines) {
        if ($l =~ /^[ \t]+(.*)/ && @{ $res->{headers} }) {
            $res->{headers}[-1][1] .= " $1";
        } elsif ($l =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/) {
            push @{ $res->{headers} }, [$1, $2];
        }
    }

    my $code = $res->{code} // 0;
    if ($head_req || $code == 204 || $code == 304 || ($code >= 100 && $code < 200)) {
        return ($res, $raw_headers, $rest);
    }

    my $te  = res_header($res, 'Transfer-Encoding');
    my $len = res_header($res, 'Content-Length');
    my $left;

    if (defined $te && $te =~ /\bchunked\b/i) {
        my ($body, $pos) = ('', 0);
        while (1) {
            pos($rest) = $pos;
            if ($rest !~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc) {
                Test::More::fail("$name - invalid chunked body received: "
                                 . fmt_str(substr($rest, $pos, 80)));
                $res->{body} = $body;
                return ($res, $raw_headers, undef);
            }
            my $size = hex $1;
            $pos = pos($rest);
            if ($size == 0) {
                # trailer fields, then the empty line
                while (1) {
                    pos($rest) = $pos;
                    if ($rest =~ /\G\r\n/gc) { $pos = pos($rest); last }
                    if ($rest =~ /\G[^\r\n]+\r\n/gc) { $pos = pos($rest); next }
                    Test::More::fail("$name - no last chunk terminator found");
                    last;
                }
                last;
            }
            if (length($rest) - $pos < $size + 2
                || substr($rest, $pos + $size, 2) ne "\r\n")
            {
                Test::More::fail("$name - invalid chunked data received "
                                 . "(truncated chunk or missing CRLF)");
                $res->{body} = $body . substr($rest, $pos);
                return ($res, $raw_headers, undef);
            }
            $body .= substr($rest, $pos, $size);
            $pos += $size + 2;
        }
        $res->{body} = $body;
        $left = substr($rest, $pos) if $pos < length $rest;

    } elsif (defined $len && $len =~ /^\s*(\d+)/) {
        $len = $1;
        if (length($rest) < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got " . length($rest) . "\n";
            $res->{body} = $rest;
        } else {
            $res->{body} = substr($rest, 0, $len);
            $left = substr($rest, $len) if length($rest) > $len;
        }

    } else {
        $res->{body} = $rest;
    }

    return ($res, $raw_headers, $left);
}

# A check section's value for request $idx: an array (one element per
# request) when the block sends several requests.
sub indexed_value ($$$$) {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value && ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return $value->[0] if ref $value && ref $value eq 'ARRAY';
    return $value;
}

sub check_error_code ($$$$) {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->{code}) || '';
    if (defined(my $like = sec($block, 'error_code_like'))) {
        my $pat = indexed_value($name, $like, $idx, $need_array);
        Test::More::like($got, qr/$pat/sm, "$name - status code ok");
    } elsif (defined(my $code = sec($block, 'error_code'))) {
        Test::Base::is($got, indexed_value($name, $code, $idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::Base::is($got, 200, "$name - status code ok");
    }
}

sub parse_header_spec ($) {
    my ($spec) = @_;
    my @out;
    for my $line (split /\n/, $spec // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @out, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @out, [$k, $v // ''];
        }
    }
    return @out;
}

sub check_response_headers ($$$$$) {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined(my $rhl = sec($block, 'raw_response_headers_like'))) {
        my $pat = indexed_value($name, $rhl, $idx, $need_array);
        Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined(my $rhu = sec($block, 'raw_response_headers_unlike'))) {
        my $pat = indexed_value($name, $rhu, $idx, $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s,
                           "$name - raw resp headers unlike");
    }

    if (defined(my $spec = sec($block, 'response_headers'))) {
        for my $h (parse_header_spec(indexed_value($name, $spec, $idx,
                                                   $need_array)))
        {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/msi,
                    "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            Test::Base::is(res_header($res, $key) // '', $val,
                           "$name - header $key ok");
        }
    } elsif (defined(my $like = sec($block, 'response_headers_like'))) {
        for my $h (parse_header_spec(indexed_value($name, $like, $idx,
                                                   $need_array)))
        {
            my ($key, $val) = @$h;
            $val //= '';
            Test::More::like(res_header($res, $key) // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub check_response_body ($$$$$) {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->{body} : undef;

    if (defined(my $exp_sec = sec($block, 'response_body'))) {
        my $expected = indexed_value($name, $exp_sec, $idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected = expand_env_in_text($expected, $name);
        }
        my $desc = "$name - response_body - response is expected "
                 . "(repeated req $rep, req $idx)";
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $rep, req $idx)");
        } else {
            is_str($content, $expected, $desc);
        }
        return;
    }

    my ($pats, $type);
    if (defined(my $l = sec($block, 'response_body_like'))) {
        ($pats, $type) = ($l, 'like');
    } elsif (defined(my $u = sec($block, 'response_body_unlike'))) {
        ($pats, $type) = ($u, 'unlike');
    } else {
        return;
    }
    my $pat = indexed_value($name, $pats, $idx, $need_array);
    if (!ref $pat) {
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
    }
    my $summary = $content // '';
    $summary =~ s/^\s+|\s+$//g;
    $summary =~ s/\s+/ /g;
    $summary = substr($summary, 0, 200) . '...' if length $summary > 200;
    my $desc = "$name - response_body_$type - response is expected ($summary)";
    if ($type eq 'like') {
        Test::More::like($content, qr/$pat/s, $desc);
    } else {
        Test::More::unlike($content, qr/$pat/s, $desc);
    }
}

# The part of error.log written since the last look in this block.
sub error_log_lines () {
    sleep $SleepTime * 3;   # let log-phase handlers finish writing
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if !$CheckAccumErrLog && $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell($in) if !$CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub log_patterns ($) {
    my $pats = shift;
    return () if !defined $pats;
    if (!ref $pats) {
        chomp $pats;
        return grep { length } split /\n+/, $pats;
    }
    return ($pats) if ref $pats eq 'Regexp';
    return @$pats if ref $pats eq 'ARRAY';
    return ($pats);
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat eq 'Regexp' ? $line =~ $pat : index($line, $pat) >= 0;
}

sub check_error_log ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines;
    my %skip_warn;

    my @want = log_patterns(sec($block, 'error_log'));
    my @deny = log_patterns(sec($block, 'no_error_log'));
    for my $p (@want, @deny) {
        next if ref $p;
        $skip_warn{$1} = 1 while $p =~ /\[(alert|crit|emerg)/g;
    }

    if (defined sec($block, 'error_log')) {
        $lines ||= error_log_lines();
        my @pending = @want;
        for my $line (@$lines) {
            for my $p (@pending) {
                next if !defined $p;
                if (line_matches($line, $p)) {
                    Test::More::pass("$name - pattern \"$p\" matches a line "
                                     . "in error.log (req $rep)");
                    undef $p;
                }
            }
        }
        for my $p (grep { defined } @pending) {
            Test::More::fail("$name - pattern \"$p\" should match a line in "
                             . "error.log (req $rep)");
        }
    }

    if (defined sec($block, 'no_error_log')) {
        $lines ||= error_log_lines();
        my %found;
        for my $i (0 .. $#$lines) {
            my $line = $lines->[$i];
            for my $p (@deny) {
                next if !line_matches($line, $p);
                $found{$p} = 1;
                my $more = join '', @$lines[$i + 1 .. ($i + 9 < $#$lines
                                                       ? $i + 9 : $#$lines)];
                Test::More::fail("$name - pattern \"" . fmt_str($p)
                    . "\" should not match any line in error.log but matches "
                    . "line \"" . fmt_str($line) . "\" (req $rep)\n" . $more);
            }
        }
        for my $p (@deny) {
            next if $found{$p};
            Test::More::pass("$name - pattern \"" . fmt_str($p)
                             . "\" does not match a line in error.log (req $rep)");
        }
    }

    $lines ||= error_log_lines();
    for my $line (@$lines) {
        if ($line =~ /\[(alert|crit|emerg)\]/ && !$skip_warn{$1}) {
            warn "WARNING: $name - " . fmt_str($line) . "\n";
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
}

sub run_requests ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;

    my $reqs = requests_from_block($block);
    my $timeout = parse_time(sec($block, 'timeout'));
    if (!defined $timeout) {
        $timeout = $Timeout;
    } elsif ($UseValgrind && !defined sec($block, 'abort')) {
        $timeout *= $ValgrindScale;
    }
    my $middle_delay = parse_time(sec($block, 'raw_request_middle_delay'));
    my $wait = parse_time(sec($block, 'wait'));
    my $ignore = defined sec($block, 'ignore_response');
    my $pipelined = sec($block, 'pipelined_requests');

    my $n = $pipelined ? scalar(@$pipelined) : 0;
    my $need_array = $pipelined ? 1 : (@$reqs > 1);
    my $idx = 0;

    for my $ri (0 .. $#$reqs) {
        my $packets = $reqs->[$ri];
        my $all = join '', map { $_->{value} // '' } @$packets;
        my $head_req = $all =~ /^\s*HEAD\s+/ ? 1 : 0;

        my ($raw, $timed_out) = send_request($block, $packets, $timeout,
                                             $middle_delay);
        if ($timed_out && !defined sec($block, 'abort')) {
            Test::More::fail("ERROR: client socket timed out - $name");
        }
        $raw //= '';
        my $left_n = $n;

        while (1) {
            my ($res, $raw_headers, $left);
            if (!$ignore) {
                ($res, $raw_headers, $left) = parse_response($name, $raw,
                                                             $head_req);
            }
            if (!$left_n) {
                if (defined $left && length $left) {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/ge;
                    warn "WARNING: $name - unexpected extra bytes after the "
                         . "response: \"$l\"\n";
                }
            } else {
                $raw = $left // '';
                $left_n--;
            }

            if (!$ignore) {
                check_error_code($block, $res, $idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $idx,
                                       $need_array);
                check_response_body($block, $res, $idx, $rep, $need_array);
            }

            if ($left_n || $ri < $#$reqs) {
                sleep $wait if $wait;
                check_error_log($block, $rep);
            }
            $idx++;
            last if !$left_n;
        }
    }

    sleep $wait if $wait;
    check_error_log($block, $rep);
}

1;

__END__

=head1 NAME

Test::Nginx::Socket - this project's small stand-in for openresty's
Test::Nginx::Socket

=head1 SYNOPSIS

    # PERL5LIB=t/runner:t/lib TEST_NGINX_BINARY=/usr/sbin/nginx prove t/foo.t
    use Test::Nginx::Socket 'no_plan';   # or: plan tests => N

    repeat_each(2);
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- main_config
        load_module $TEST_NGINX_MODULE;
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello
    --- no_error_log
    [error]

=head1 DESCRIPTION

Runs Test::Nginx-style suites with the real one's semantics for the parts
listed here, so that a suite passing here passes under the real
Test::Nginx (select that one with C<PERL5LIB=/path/to/test-nginx/lib>).
Block parsing, section filters (C<eval>, C<chomp>, ...) and the C<ONLY>,
C<SKIP> and C<LAST> markers are Debian's Test::Base (libtest-base-perl).
Test::LongString is used for body comparisons when installed.

Each block with a C<--- config> section gets a freshly started nginx
(C<daemon on> (off under valgrind), C<master_process off>, C<worker_processes 1>, error log at
C<debug> into the server root), as the real one does unless
C<TEST_NGINX_FORCE_RESTART_ON_TEST=0>, in which case nginx is restarted only
when the generated nginx.conf changes.  A block without C<--- config> reuses
the running nginx.  Error-log checks look only at what was written since the
block started (and since the previous check of the same block).  Blocks run
in random order unless C<no_shuffle()>.  nginx is stopped at the end, on
C<die>/C<BAIL_OUT> and on SIGINT/TERM/HUP/QUIT.

=head2 Functions

C<run_tests>, C<repeat_each>, C<no_shuffle>, C<add_block_preprocessor>,
C<log_level>, C<no_long_string>, C<env_to_nginx>, C<master_on>,
C<master_off>, C<master_process_enabled>, C<workers>,
C<worker_connections>, C<timeout>, C<no_root_location>,
C<config_preamble>, C<check_accum_error_log>, C<server_port>,
C<server_port_for_client>, C<server_addr>, C<server_name>, C<server_root>,
C<html_dir>, C<bail_out>, C<is_str>, C<add_cleanup_handler>,
C<add_test_cleanup_handler>, and Test::Base's exports (C<plan>,
C<blocks>, C<is>, C<like>, ...).

=head2 Sections

nginx: C<main_config> (before the C<http> block, where C<load_module> is
accepted), C<http_config>, C<config>, C<post_main_config>, C<log_level>,
C<user_files>, C<init>.

request: C<request> (C<METHOD [URI [VERSION]]>, then an optional body; a
string, or with C<eval> an array of requests, each one connection),
C<more_headers> (a string or an array, one per request),
C<pipelined_requests> (array, one connection), C<raw_request> (a string or
an array of packets), C<raw_request_middle_delay>, C<timeout>, C<abort>,
C<wait>, C<shutdown>, C<server_addr_for_client>, C<ignore_response>.

skipping: C<skip_eval> (C<N: perl code>: when the code is true, N skipped
assertions per repetition instead of the block).

checks: C<error_code>, C<error_code_like>, C<response_headers>
(C<Name: value>, C<!Name> for absent), C<response_headers_like>,
C<raw_response_headers_like>, C<raw_response_headers_unlike>,
C<response_body>, C<response_body_like>, C<response_body_unlike>,
C<error_log>, C<no_error_log> (lines, or C<eval> arrays of strings and
regexes).  With several requests in a block every check section must be an
array with one element per request.  The number of assertions per block is
the real one's, so C<plan tests =E<gt> N> counts agree.

C<$TEST_NGINX_*> variables are expanded (a missing one is a bail-out) in
C<main_config>, C<http_config>, C<config>, C<post_main_config>,
C<user_files>, C<pipelined_requests> and the expected C<response_body>;
C<$TEST_NGINX_RAND_PORT_N> gives a free port.  As in the real one, the
C<request> section is B<not> expanded (use C<--- request eval> with
C<$ENV{...}>).

=head2 Environment

C<TEST_NGINX_BINARY> (default C<nginx>, also looked up in /usr/sbin),
C<TEST_NGINX_SERVER_PORT> / C<TEST_NGINX_PORT> (default: a free random
loopback port in 20000-31999, published in both variables at load time),
C<TEST_NGINX_CLIENT_PORT>, C<TEST_NGINX_SERVROOT>, C<TEST_NGINX_TIMEOUT>
(3), C<TEST_NGINX_LOG_LEVEL>, C<TEST_NGINX_MASTER_PROCESS>,
C<TEST_NGINX_NO_SHUFFLE>, C<TEST_NGINX_SLEEP>,
C<TEST_NGINX_CHECK_ACCUM_ERR_LOG>, C<TEST_NGINX_FORCE_RESTART_ON_TEST>,
C<TEST_NGINX_LOAD_MODULES>, C<TEST_NGINX_VERBOSE>.  C<TEST_NGINX_SERVER_ROOT>
is set to the server root.

=head2 Valgrind

With C<TEST_NGINX_USE_VALGRIND> (any value but 0), every nginx runs under
C<valgrind --tool=memcheck> with the options, suppressions
(F<t/valgrind.suppress>) and report parser of F<t/lib/DdbmValgrind.pm>,
one log per process (C<logs/valgrind.PID.log> in the server root).  As in
the real one, nginx then runs in the foreground (C<daemon off>;
C<master_process> stays as the suite sets it) and is started for each
block with a config.  When it stops (before the next start, at the end),
its report is checked: a memcheck error (invalid read/write/free,
uninitialised value, ...) or a definitely lost block allocated through the
module or the core fails one test, named after the blocks that ran on
that nginx, with the report as diagnostics.  A clean report adds no
assertion, so plans count the same.  The file's count of findings is
printed at its end.  Waits scale: C<TEST_NGINX_VALGRIND_START_TIMEOUT>
(60 s) for startup and shutdown, a block's C<--- timeout> times
C<TEST_NGINX_VALGRIND_TIMEOUT_SCALE> (3) unless the block has C<--- abort>;
C<TEST_NGINX_VALGRIND_OPTS> adds valgrind options.  The real Test::Nginx
shows valgrind's output on stderr without checking it.

=head1 DIFFERENCES FROM THE REAL ONE

=over

=item * nginx listens on 127.0.0.1:PORT only (the real one: C<listen PORT>).

=item * Without a port in the environment a free random port is used and the
server root is F<t/servroot_PID> (so C<prove -j> works); it is removed when
every test passed and kept for inspection otherwise.  The real one uses 1984
and F<t/servroot> unless C<TEST_NGINX_RANDOMIZE> is set.

=item * If nginx fails to start, the block fails (with the error log's tail)
and the next block runs; the real one retries for 30 s and bails out.

=item * C<!Name> in C<response_headers> matches the name case-insensitively
(stricter than the real one); chunked trailers are accepted without a
C<Trailer> header; HEAD, 1xx, 204 and 304 responses are read without a body.

=item * Liveness checks treat zombie processes as gone, so restarts are fast
where the init process reaps slowly.

=item * Under valgrind the report is checked (see L</Valgrind>); the real
one only prints it.

=item * Not supported: HTTP/2 and HTTP/3, curl, stap, check-leak,
benchmark and HUP-reload modes, C<tcp_listen>/C<udp_listen> mock servers,
C<access_log>, C<grep_error_log>, C<shutdown_error_log>, C<must_die>,
C<skip_*> other than C<skip_eval>, C<todo*>, C<response_body_filters>,
C<TEST_NGINX_NO_CLEAN> (nginx is always stopped).  A C<request> given as packets is rebuilt as one request
and cut again so that every packet but the first keeps its length.

=back

=cut

