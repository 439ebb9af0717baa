package DdbmTest;

# Helpers for the t/*.t suites: run the ddbm CLI against the DynamoDB Local
# started by scripts/test.sh.  Plain Perl, so it works under our runner
# (t/runner) and under the real Test::Nginx alike.
#
#   use lib 't/lib';            # or PERL5LIB=...:t/lib
#   use DdbmTest;
#   my $table = ddbm_fresh_table('ddbm_t_messages');   # also sets
#                                   # $ENV{TEST_NGINX_DDB_TABLE}
#   ddbm_cli('--table', $table, 'seed');          # dies if it fails
#   my $out = ddbm_cli('list-tables');            # its stdout
#   my ($out, $status, $err) = ddbm_run('--table', $table, 'drop');
#   my $port = ddbm_free_port();      # a loopback port free right now
#   my $ans = ddbm_ddb('GetItem', { TableName => ..., Key => ... });
#   my @items = ddbm_scan($table);    # every item, { name => value }
#
#   use DdbmTest qw(:DEFAULT slurp spew sh);    # file and shell helpers
#   my $text = slurp($path);          # '' if it cannot be read
#   spew($path, $text);               # dies if it cannot be written
#   my $out = sh($command);           # its output; dies if it fails
#
# Environment: DDBM_CLI (path of build/ddbm), TEST_NGINX_DDB_PORT (port of
# DynamoDB Local on 127.0.0.1); DDBM_ENDPOINT overrides the endpoint URL.

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use IO::Socket::INET ();
use POSIX ();

our @EXPORT = qw(ddbm_cli ddbm_run ddbm_endpoint ddbm_fresh_table
                 ddbm_free_port ddbm_ddb ddbm_scan once_re absent_re);
our @EXPORT_OK = qw(slurp spew sh);

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $s = <$fh>;
    return defined $s ? $s : '';
}

sub spew {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
}

sub sh {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    die "failed ($?): $cmd\n$out" if $?;
    return $out;
}

# like the runner: below the ephemeral range, free right now
sub ddbm_free_port () {
    for (1 .. 500) {
        my $port = 20000 + int(rand(12000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        return $port;
    }
    die "DdbmTest: no free loopback port\n";
}

sub ddbm_endpoint () {
    return $ENV{DDBM_ENDPOINT} if $ENV{DDBM_ENDPOINT};
    my $port = $ENV{TEST_NGINX_DDB_PORT}
        or die "DdbmTest: TEST_NGINX_DDB_PORT is not set "
             . "(run the suites through scripts/test.sh)\n";
    return "http://127.0.0.1:$port";
}

sub _shell_quote {
    my $s = shift;
    return $s if $s =~ m{^[-\w./:=,@%+]+$};
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

# ddbm_run(@args): runs "$DDBM_CLI --endpoint URL @args" (stdin
# /dev/null) and returns (stdout, exit status, stderr); never dies.
sub ddbm_run {
    my @args = @_;
    my $cli = $ENV{DDBM_CLI}
        or die "DdbmTest: DDBM_CLI is not set (path of build/ddbm)\n";
    die "DdbmTest: DDBM_CLI=$cli is not executable\n" if !-x $cli;

    my @cmd = ($cli, '--endpoint', ddbm_endpoint(), @args);
    my $errf = File::Temp->new(TEMPLATE => 'ddbm-stderr-XXXXXX', TMPDIR => 1);
    my $pid = open(my $fh, '-|') // die "DdbmTest: fork failed: $!\n";
    if ($pid == 0) {
        open STDERR, '>', $errf->filename;
        open STDIN, '<', '/dev/null';
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my $status = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my $err = do { local $/; open my $e, '<', $errf->filename; <$e> } // '';
    return ($out, $status, $err);
}

# ddbm_cli(@args): like ddbm_run, but returns stdout only and dies with
# the command line, its stdout and its stderr when it exits non-zero.
sub ddbm_cli {
    my @args = @_;
    my ($out, $status, $err) = ddbm_run(@args);
    if ($status != 0) {
        die "DdbmTest: command failed (exit $status): "
            . join(' ', map { _shell_quote($_) } $ENV{DDBM_CLI},
                   '--endpoint', ddbm_endpoint(), @args)
            . "\n$out$err";
    }
    return $out;
}

# ddbm_ddb($target, \%body): one DynamoDB call to DynamoDB Local (which
# takes any signature), as the module's tests' own hand on the table; dies
# on an error answer, returns the decoded answer.
sub ddbm_ddb {
    my ($target, $body) = @_;
    require HTTP::Tiny;
    require JSON::PP;
    my $res = HTTP::Tiny->new(timeout => 60)->post(ddbm_endpoint() . '/', {
        headers => {
            'Content-Type' => 'application/x-amz-json-1.0',
            'X-Amz-Target' => "DynamoDB_20120810.$target",
            'X-Amz-Date' => '20260101T000000Z',
            'Authorization' => 'AWS4-HMAC-SHA256 Credential=local/20260101/'
                . 'us-east-1/dynamodb/aws4_request, SignedHeaders=host, '
                . 'Signature=00',
        },
        content => JSON::PP::encode_json($body),
    });
    die "DdbmTest: $target: $res->{status} $res->{content}\n"
        if !$res->{success};
    return JSON::PP::decode_json($res->{content});
}

# every item of $table, each as { attribute => its value as text }
sub ddbm_scan ($) {
    my ($table) = @_;
    my (@items, $start);
    for (1 .. 10000) {
        my $page = ddbm_ddb('Scan', { TableName => $table,
                                      ConsistentRead => JSON::PP::true(),
                                      $start ? (ExclusiveStartKey => $start)
                                             : () });
        for my $item (@{ $page->{Items} || [] }) {
            push @items, { map { $_ => (values %{ $item->{$_} })[0] }
                           keys %$item };
        }
        $start = $page->{LastEvaluatedKey} or last;
    }
    return @items;
}

# A page's body in which the message $text stands exactly once, or not at
# all (blocks call them as main::once_re(...)).
sub once_re ($) {
    my $m = quotemeta shift;
    return qr/^(?!.*$m.*$m).*"message":"$m"/s;
}

sub absent_re ($) {
    my $m = quotemeta shift;
    return qr/^(?!.*$m)/s;
}

# Drops $name (ignoring "does not exist" errors) and creates it again with
# the module's schema; returns the name and exports it as
# $ENV{TEST_NGINX_DDB_TABLE} for use as $TEST_NGINX_DDB_TABLE in configs.
sub ddbm_fresh_table ($) {
    my ($name) = @_;
    die "DdbmTest: ddbm_fresh_table needs a table name\n"
        if !defined $name || $name eq '';

    my ($out, $status, $err) = ddbm_run('--table', $name, '--yes', 'drop');
    if ($status != 0
        && "$out$err" !~ /not\s*found|does\s*n[o']t\s*exist|non-?existent|ResourceNotFound|no such table/i)
    {
        die "DdbmTest: dropping table $name failed (exit $status):\n$out$err";
    }
    ddbm_cli('--table', $name, 'schema-load');
    $ENV{TEST_NGINX_DDB_TABLE} = $name;
    return $name;
}

1;
