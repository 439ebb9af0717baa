# The valgrind checker of the test runs (t/lib/DdbmValgrind.pm) finds what
# it must: a small C program with one known memory error per mode runs
# under valgrind with the options and suppressions the suites use, and the
# parser must report exactly that error, ignore a leak outside our code
# and stay quiet on a clean run.  So the valgrind pass of `make test`
# cannot pass silently because the checker went blind.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use FindBin ();
use lib "$FindBin::Bin/../../t/lib";
use DdbmValgrind;

plan skip_all => 'valgrind is not installed'
    if system('valgrind --version >/dev/null 2>&1') != 0;

# these findings are the test's own, not the suites': keep them out of the
# valgrind pass's count
$DdbmValgrind::Tally = 0;

my $dir = tempdir('ddbm-vg-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);

open my $c, '>', "$dir/bad.c" or die "$dir/bad.c: $!";
print $c <<'_EOC_';
#include <stdlib.h>
#include <string.h>

#define NOINLINE  __attribute__((noinline))

/* named like the core, so its leak is one of ours */
NOINLINE void *dm_selftest_alloc(size_t n) { return malloc(n); }
NOINLINE void *other_alloc(size_t n) { return malloc(n); }

/* the pointer to a leaked block must not stay in a dead stack slot */
NOINLINE static void scrub(void) { volatile char b[4096]; memset((char *) b, 0, sizeof(b)); }

NOINLINE static int uaf(void) {
    char *p = malloc(16);
    strcpy(p, "hello");
    free(p);
    return ((volatile char *) p)[1];
}

NOINLINE static int uninit(void) {
    int *p = malloc(sizeof(int));
    int  r = *p > 0 ? 1 : 2;
    free(p);
    return r;
}

NOINLINE static void double_free(void) {
    void *volatile p = malloc(8);
    free(p);
    free(p);
}

NOINLINE static void leak(int ours) {
    void *volatile p = ours ? dm_selftest_alloc(32) : other_alloc(32);
    p = NULL;
    (void) p;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "clean";
    int r = 0;
    if (strcmp(m, "uaf") == 0) r = uaf();
    if (strcmp(m, "uninit") == 0) r = uninit();
    if (strcmp(m, "double-free") == 0) double_free();
    if (strcmp(m, "leak-ours") == 0) leak(1);
    if (strcmp(m, "leak-other") == 0) leak(0);
    scrub();
    return r > 100;
}
_EOC_
close $c;

my $cc = $ENV{CC} || 'cc';
is(system($cc, '-O0', '-g', '-Wno-free-nonheap-object', '-o', "$dir/bad",
          "$dir/bad.c"), 0, 'the test program builds')
    or BAIL_OUT('no C compiler');

# mode => [expected headline patterns of the failing findings, ignored]
my %case = (
    clean        => [[], 0],
    uaf          => [[qr/^Invalid read of size 1$/], 0],
    uninit       => [[qr/^Conditional jump or move depends on uninitialised value/], 0],
    'double-free' => [[qr/^Invalid free\(\)/], 0],
    'leak-ours'  => [[qr/^32 bytes in 1 blocks are definitely lost/], 0],
    'leak-other' => [[], 1],
);

for my $mode (sort keys %case) {
    my ($want, $ignored) = @{ $case{$mode} };
    my $logs = "$dir/$mode";
    mkdir $logs or die "$logs: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$logs/stderr";
        my @cmd = (DdbmValgrind::command($logs), "$dir/bad", $mode);
        exec { $cmd[0] } @cmd;
        die "exec $cmd[0]: $!";
    }
    waitpid($pid, 0);
    my $status = $?;

    my $r = DdbmValgrind::check_dir($logs, $status);
    my @heads = map { $_->{head} } @{ $r->{errors} };
    is(scalar @heads, scalar @$want, "$mode: " . scalar(@$want)
       . ' finding(s)') or diag(join("\n", @heads), "\n", $r->{report});
    for my $i (0 .. $#$want) {
        like($heads[$i] // '', $want->[$i], "$mode: finding $i")
            or diag($r->{report});
    }
    is($r->{ignored}, $ignored, "$mode: $ignored leak(s) outside our code");
    if (@$want) {
        like($r->{report}, qr/\bbad\.c:\d+\)/, "$mode: the report has the "
             . 'stack') ;
        is($status >> 8, $DdbmValgrind::ExitCode,
           "$mode: valgrind exits with --error-exitcode");
    }
}

# frames that make a leak ours, whatever the allocator above them
my $leak = <<'_EOL_';
==7== 64 bytes in 1 blocks are definitely lost in loss record 2 of 9
==7==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x154CFE: ngx_alloc (in /usr/sbin/nginx)
==7==    by 0x12F8E1: ??? (in /work/build/ngx_http_ddbm_module.so)
==7==    by 0x15B2B5: ngx_single_process_cycle (in /usr/sbin/nginx)
==7== 
==7== 8 bytes in 1 blocks are definitely lost in loss record 1 of 9
==7==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x12E404: ngx_set_environment (in /usr/sbin/nginx)
==7== 
==7== Process terminating with default action of signal 11 (SIGSEGV)
==7==  Access not within mapped region at address 0x0
==7==    at 0x5477FF3: ngx_http_ddbm_wake (ngx_http_ddbm_module.c:493)
==7== 
_EOL_
mkdir "$dir/synthetic";
open my $l, '>', "$dir/synthetic/valgrind.7.log" or die $!;
print $l $leak;
close $l;
my $r = DdbmValgrind::check_dir("$dir/synthetic");
is_deeply([ map { $_->{kind} } @{ $r->{errors} } ], ['leak', 'error'],
          'a leak through the module .so and a crash are findings');
is($r->{ignored}, 1, "NGINX's own leak is not");
ok(-f "$dir/synthetic/valgrind.7.log.checked"
   && !-f "$dir/synthetic/valgrind.7.log", 'a checked log is renamed');
is(scalar @{ DdbmValgrind::check_dir("$dir/synthetic")->{errors} }, 0,
   '... and never counted twice');

done_testing();
