package DdbmServer;

# An NGINX with the module, started by a plain Perl test (for what a
# Test::Nginx block cannot express: parallel clients, values carried from
# one request to the next).  Same configuration as the Test::Nginx suites
# (DdbmModule); stopped in DESTROY and at exit.
#
# With TEST_NGINX_USE_VALGRIND, nginx runs under valgrind memcheck and its
# report is checked when it stops, as our Test::Nginx runner does
# (DdbmValgrind): a finding is a failed test with the report as diagnostics.
#
#   my $srv = DdbmServer->start();    # options: workers => N,
#       config, http_config, log_level, env => { NAME => value } (nginx's)
#   my $res = $srv->request('POST', '/api/messages',
#                           { 'X-Test-Sub' => $sub }, $json);
#   $res->{status}, $res->{headers}{'x-next-cursor'}, $res->{body}

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);
use DdbmModule;
use DdbmTest qw(ddbm_free_port);
use DdbmValgrind;

# valgrind is slow to start nginx and slower to stop it (the leak check)
my $Wait = DdbmValgrind::enabled()
           ? ($ENV{TEST_NGINX_VALGRIND_START_TIMEOUT} || 60) : 5;

my @running;

sub _expand {
    my ($text) = @_;
    $text =~ s/\$(TEST_NGINX_\w+)/
        defined $ENV{$1} ? $ENV{$1} : die "DdbmServer: \$$1 is not set\n"/ge;
    return $text;
}

sub start {
    my ($class, %opt) = @_;

    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $dir = tempdir('ddbm-srv-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $port = ddbm_free_port();

    mkdir "$dir/logs";
    my $conf = _expand(
          "load_module \$TEST_NGINX_MODULE;\n"
        . "daemon off;\n"
        . ($opt{workers}
           ? "master_process on;\nworker_processes $opt{workers};\n"
           : "master_process off;\nworker_processes 1;\n")
        . ($opt{main_config} || '')
        . "pid $dir/logs/nginx.pid;\n"
        . "error_log $dir/logs/error.log " . ($opt{log_level} || 'info')
        . ";\n"
        . "events { worker_connections 1024; }\n"
        . "http {\n"
        . "    access_log off;\n"
        . "    client_body_temp_path $dir/body;\n"
        . "    proxy_temp_path $dir/proxy;\n"
        . ddbm_http_config() . ($opt{http_config} || '')
        . "    server {\n"
        . "        listen 127.0.0.1:$port;\n"
        . ddbm_internal_location() . ($opt{config} || ddbm_api_config())
        . "    }\n"
        . "}\n");

    open my $fh, '>', "$dir/nginx.conf" or die "DdbmServer: $dir: $!\n";
    print $fh $conf;
    close $fh;

    my $pid = fork() // die "DdbmServer: fork: $!\n";
    if ($pid == 0) {
        $ENV{$_} = $opt{env}{$_} for keys %{ $opt{env} || {} };
        open STDOUT, '>', "$dir/logs/stdout.log";
        open STDERR, '>&', \*STDOUT;
        my @cmd = ($nginx, '-p', $dir, '-c', "$dir/nginx.conf");
        unshift @cmd, DdbmValgrind::command("$dir/logs")
            if DdbmValgrind::enabled();
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }

    my $self = bless { pid => $pid, port => $port, dir => $dir }, $class;
    push @running, $self;

    for (1 .. $Wait * 20) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        if ($s) {
            close $s;
            return $self;
        }
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $self->{pid} = undef;
            die "DdbmServer: nginx did not start:\n"
                . `cat $dir/logs/stdout.log $dir/logs/error.log 2>/dev/null`;
        }
        sleep 0.05;
    }

    die "DdbmServer: nginx did not listen on $port\n";
}

sub port { $_[0]{port} }

# reloads the configuration (start with workers => N): SIGHUP to the
# master, then waits until the old workers are gone
sub reload {
    my ($self) = @_;
    my @old = $self->workers;
    kill 'HUP', $self->{pid};
    for (1 .. $Wait * 20) {
        my %now = map { $_ => 1 } $self->workers;
        return 1 if %now && !grep { $now{$_} } @old;
        sleep 0.05;
    }
    return 0;
}

# the worker processes' pids (a master's children)
sub workers {
    my ($self) = @_;
    my $pid = $self->{pid} or return ();
    open my $fh, '<', "/proc/$pid/task/$pid/children" or return ();
    my $list = <$fh> // '';
    return grep { /^\d+$/ } split ' ', $list;
}

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/logs/error.log" or return '';
    local $/;
    return <$fh>;
}

# one request on its own connection; returns { status, headers, body }
sub request {
    my ($self, $method, $path, $headers, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
                                  Timeout => 30)
        or die "DdbmServer: connect: $!\n";

    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n";
    for my $k (sort keys %{ $headers || {} }) {
        $req .= "$k: $headers->{$k}\r\n";
    }
    if (defined $body) {
        $req .= "Content-Length: " . length($body) . "\r\n";
    }
    $req .= "\r\n" . (defined $body ? $body : '');

    print $s $req;

    my $raw = '';
    local $/;
    $raw = <$s> // '';
    close $s;

    my ($head, $content) = split /\r\n\r\n/, $raw, 2;
    my ($status_line, @lines) = split /\r\n/, $head // '';
    my ($status) = ($status_line // '') =~ m{^HTTP/1\.\d (\d{3})};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }

    return { status => $status // 0, headers => \%h,
             body => $content // '' };
}

sub stop {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    $self->{pid} = undef;
    kill 'QUIT', $pid;
    my $status;
    for (1 .. $Wait * 20) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $status = $?;
            last;
        }
        sleep 0.05;
    }
    if (!defined $status) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    $self->_check_valgrind($status) if DdbmValgrind::enabled();
}

# no assertion when clean, so plans count the same without valgrind
sub _check_valgrind {
    my ($self, $status) = @_;
    my $r = DdbmValgrind::check_dir("$self->{dir}/logs", $status);
    return if !@{ $r->{errors} };
    require Test::More;
    Test::More::fail("$0: nginx on port $self->{port} - "
                     . DdbmValgrind::summary($r));
    Test::More::diag($r->{report});
}

sub DESTROY { $_[0]->stop }

END { $_->stop for @running }

1;
