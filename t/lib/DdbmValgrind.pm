package DdbmValgrind;

# NGINX under valgrind memcheck for the tests, and the one parser of its
# reports.  Used by our Test::Nginx runner (t/runner) and by DdbmServer
# (plain Perl tests), so both start valgrind the same way and fail on the
# same findings.
#
#   if (DdbmValgrind::enabled()) {
#       exec DdbmValgrind::command("$dir/logs"), $nginx, @args;
#   }
#   ...after nginx exited:
#   my $r = DdbmValgrind::check_dir("$dir/logs", $exit_status);
#   Test::More::fail("valgrind: ...") and Test::More::diag($r->{report})
#       if @{ $r->{errors} };
#
# What fails a test: every memcheck error (invalid read/write/free, use of
# uninitialised values, bad syscall arguments, overlapping copies, a fatal
# signal), and a "definitely lost" block whose allocation stack passes
# through the module or the core (ngx_http_ddbm*, dm_*, their .so).  Leaks
# elsewhere (NGINX frees most of its memory only by exiting) are counted
# and shown, never fatal.
#
# Environment: TEST_NGINX_USE_VALGRIND (on unless empty or 0),
# TEST_NGINX_VALGRIND_OPTS (extra valgrind options, e.g.
# --track-origins=yes), TEST_NGINX_VALGRIND_SUPPRESS (default
# t/valgrind.suppress), TEST_NGINX_VALGRIND_COUNTS (a file to which each
# test file appends "file count" at its end, for scripts/test.sh).

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use File::Spec ();

our $ExitCode = 99;     # --error-exitcode
our $Tally = 1;         # count the findings in this file's total

# frames of our own code: the module's and the core's functions, or any
# frame inside the module's .so (static functions inlined or unnamed)
our $OwnFrame = qr{
      \b(?:ngx_http_ddbm\w*|dm_\w+)\s\(
    | \(in\s[^)]*ngx_http_ddbm_module\.so\)
    | \((?:ngx_http_ddbm\w*|dm_\w+)\.[ch]:\d+\)
}x;

my $MainPid = $$;
my ($Checked, $Count, $Ignored) = (0, 0, 0);

sub enabled () {
    my $v = $ENV{TEST_NGINX_USE_VALGRIND};
    return defined $v && $v ne '' && $v ne '0';
}

sub suppressions () {
    my $f = $ENV{TEST_NGINX_VALGRIND_SUPPRESS};
    return $f if defined $f && $f ne '';
    # t/lib/DdbmValgrind.pm -> t/valgrind.suppress
    my $dir = File::Basename::dirname(Cwd::abs_path(__FILE__));
    return File::Spec->catfile($dir, File::Spec->updir, 'valgrind.suppress');
}

# The command prefix: valgrind and its options; one log file per process
# (a master's workers are forked, so they get logs of their own) in $dir.
sub command ($) {
    my ($dir) = @_;
    my @cmd = ('valgrind', '--tool=memcheck', '--leak-check=full',
               '--show-possibly-lost=no', '--errors-for-leak-kinds=definite',
               '--num-callers=30', '--keep-debuginfo=yes',
               "--error-exitcode=$ExitCode", '--gen-suppressions=all',
               "--log-file=$dir/valgrind.%p.log");
    my $supp = suppressions();
    push @cmd, "--suppressions=$supp" if -f $supp;
    push @cmd, split ' ', $ENV{TEST_NGINX_VALGRIND_OPTS}
        if $ENV{TEST_NGINX_VALGRIND_OPTS};
    return @cmd;
}

# Parses one valgrind log.  Returns a list of findings:
#   { head => first line, text => whole report (with the suggested
#     suppression), kind => 'error' | 'leak' | 'leak-ignored' }
sub parse_file ($) {
    my ($path) = @_;
    open my $in, '<', $path or return ();
    my (@blocks, $cur);

    while (my $line = <$in>) {
        chomp $line;
        if ($line =~ /^==\d+==(?: (.*))?$/) {
            my $text = $1 // '';
            if ($text =~ /^\s*$/) {
                undef $cur;
                next;
            }
            if (!$cur) {
                $cur = { head => $text, lines => [] };
                push @blocks, $cur;
            }
            push @{ $cur->{lines} }, $text;
        } elsif (@blocks) {
            # --gen-suppressions: the suggested suppression of the
            # report just above, outside the ==pid== prefix
            push @{ $blocks[-1]{lines} }, $line;
        }
    }
    close $in;

    my @found;
    for my $b (@blocks) {
        my $head = $b->{head};
        my $text = join "\n", @{ $b->{lines} };
        my $kind;
        if ($head =~ /\bare (definitely|indirectly|possibly) lost in loss record\b/) {
            my $how = $1;
            # the allocation stack: the frames of the report itself
            my @frames = grep { /^\s+(?:at|by) 0x/ } @{ $b->{lines} };
            $kind = $how eq 'definitely' && grep({ $_ =~ $OwnFrame } @frames)
                    ? 'leak' : 'leak-ignored';
        } elsif ($head =~ /^Process terminating with default action of signal \d+ \(SIG(\w+)\)/) {
            # a crash; a signal we sent to stop it is not a finding
            next if $1 =~ /^(?:TERM|KILL|INT|QUIT|HUP)$/;
            $kind = 'error';
        } elsif (grep { /^\s+(?:at|by) 0x/ } @{ $b->{lines} }) {
            # every other report with a stack is a memcheck error: invalid
            # read/write/free, uninitialised values, syscall params, ...
            $kind = 'error';
        } else {
            next;   # banners, summaries, warnings
        }
        push @found, { head => $head, text => $text, kind => $kind,
                       file => $path };
    }
    return @found;
}

# Checks every valgrind.*.log in $dir, then renames it *.log.checked (kept
# for inspection, never counted twice).  $status: the exit status of the
# valgrind process we waited for, if any.  Returns
# { errors => [findings that fail], ignored => n, report => text }.
sub check_dir ($;$) {
    my ($dir, $status) = @_;
    my (@errors, $ignored);
    $ignored = 0;
    for my $f (sort glob("$dir/valgrind.*.log")) {
        for my $e (parse_file($f)) {
            if ($e->{kind} eq 'leak-ignored') {
                $ignored++;
            } else {
                $e->{file} .= '.checked';
                push @errors, $e;
            }
        }
        rename $f, "$f.checked";
    }
    if ($Tally) {
        $Checked = 1;
        $Count += @errors;
        $Ignored += $ignored;
    }

    my $report = '';
    for my $e (@errors) {
        $report .= "--- $e->{file}\n$e->{text}\n";
    }
    if (defined $status && ($status >> 8) == $ExitCode && !@errors) {
        $report .= "valgrind exited with $ExitCode for findings that are not "
                 . "failures (leaks outside the module): see $dir\n";
    }
    return { errors => \@errors, ignored => $ignored, report => $report };
}

# the findings of a check, as one line for a test name
sub summary ($) {
    my ($r) = @_;
    my %n;
    $n{ $_->{head} =~ /^(\S+(?: \S+)?)/ ? $1 : 'error' }++
        for @{ $r->{errors} };
    return scalar(@{ $r->{errors} }) . ' valgrind error(s): '
         . join(', ', map { "$n{$_} x $_" } sort keys %n);
}

sub count () { return $Count }

# At the end of a test file: its count, on stderr and in the counts file.
END {
    if ($$ == $MainPid && $Checked) {
        local $?;
        my $name = $0;
        print STDERR "# valgrind: $Count error(s) in $name"
            . ($Ignored ? " ($Ignored leak report(s) outside the module "
                          . "ignored)" : '') . "\n";
        if (my $f = $ENV{TEST_NGINX_VALGRIND_COUNTS}) {
            if (open my $out, '>>', $f) {
                print $out "$name $Count\n";
                close $out;
            }
        }
    }
}

1;
