package DdbmFake;

# A scripted fake DynamoDB for the fault suites (t/130-faults.t,
# t/140-slow-network.t): a forked Perl server on a loopback port that
# answers each call as the request path says.
#
#   use DdbmFake;
#   DdbmFake::start();        # sets $ENV{TEST_NGINX_SCRIPT_PORT}
#   # an internal location to it, signed like /_ddbm:
#   my $loc = DdbmFake::location('64k');   # /_fake/<path> -> the fake
#   # then, in a block:  ddbm_backend /_fake/<mode>/<actions>/<id>;
#
# <mode> is "all" (every call of the path takes the next action), "tx"
# (only TransactWriteItems does; the other calls get canned answers),
# "txreal" (likewise, but the other calls are relayed to DynamoDB Local),
# "batchreal" (only BatchGetItem does, the others are relayed), or
# an operation (GetItem, Query, DescribeTable, TransactWriteItems): only
# its calls do, the others are canned (calls made in parallel reach the
# fake in no fixed order, so "all" cannot single one of them out).
# <actions>, comma separated, are used in turn, per path: so give every
# block its own <id>.  Actions:
#   real        DynamoDB Local's own answer ($TEST_NGINX_DDB_PORT), relayed
#   canned      what DynamoDB would answer from the seeded data (canned())
#   throttle, e500, condition, validation     DynamoDB errors
#   txthrottle  a transaction canceled by throttling (ThrottlingError)
#               of its GRPMETA# put; txthrottle1: of its first action
#   txconflict1 a transaction canceled because another one held its first
#               action's item (TransactionConflict)
#   throttle-ra a ThrottlingException with x-amz-retry-after: 150 (ms)
#   commit-e500 relayed to DynamoDB Local (so it is applied), but
#               answered 500: the answer lost on its way back
#   unprocessed-half  a BatchGetItem: its first half of keys (rounded
#               down) relayed to DynamoDB Local, the rest answered in
#               UnprocessedKeys, as DynamoDB does when it is busy
#   unprocessed-all   a BatchGetItem with every key unprocessed
#   reversed    a BatchGetItem relayed whole, its items answered in the
#               reverse of the order of their keys in the request
#               (DynamoDB answers them in no particular order)
# With $ENV{DDBM_FAKE_REQUESTS} set, the body of every BatchGetItem the
# fake receives is appended to that file, one per line.
#   hang, stall, truncated, garbage, cut-json, json-array, not-http
#               broken answers (see fake_answer())
# An action may carry how its answer travels, after a colon, joined by
# "+" (e.g. "canned:chunked+drip"):
#   drip        every byte written on its own, 1-5 ms apart (the pauses
#               of one answer add up to at most $DRIP_BUDGET seconds, then
#               the bytes still go one per write, without pauses)
#   chunked     Transfer-Encoding: chunked (chunks of 1 to 7 bytes)
#   cut         (chunked) the connection closes half-way through the body
#   noend       (chunked) the whole body, but never the last chunk: the
#               connection closes instead
#
# The soak (bench/soak.sh) uses a mode of its own: /random/<p>/<id> relays
# every call to DynamoDB Local, except that with probability <p> (0..1) it
# answers with a fault drawn from @RANDOM_FAULTS instead (a fault that only
# a transaction can have is given to TransactWriteItems only).  With
# $ENV{DDBM_FAKE_STATS} set, what it did (calls per operation and action,
# seconds spent relaying) is written to that file, at most 0.5 s late;
# with $ENV{DDBM_FAKE_LOG} set, one line per fault is appended to it;
# $ENV{DDBM_FAKE_FAULTS} (comma separated) keeps only those faults.
# Plain Perl with no Test::Nginx in it, so it works under both runners.

use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes ();
use DdbmModule ();

our $DRIP_BUDGET = 1.5;     # seconds of pauses per answer, at most

my $GROUP = $DdbmModule::GROUP;
my %BY_SUB = map { $DdbmModule::SUB{$_} => $_ } keys %DdbmModule::SUB;
my %BY_HANDLE = map { $_ => 1 } keys %DdbmModule::SUB;
my $LAST = $#DdbmModule::SEED;
our $LAST_SK = DdbmModule::seed_time($LAST);

my $JSON = JSON::PP->new->canonical;

sub ddb_s { return { S => $_[0] } }

sub ddb_error {
    my ($status, $type, $message, %more) = @_;
    return ($status, $JSON->encode({
        __type => "com.amazonaws.dynamodb.v20120810#$type",
        ($message ? (message => $message) : ()), %more }));
}

sub user_item {
    my ($pk, $h) = @_;
    return { pk => ddb_s($pk), sk => ddb_s('USER'),
             user_uuid => ddb_s($DdbmModule::UUID{$h}),
             user_handle => ddb_s($h),
             user_display_name => ddb_s($DdbmModule::NAME{$h}),
             cognito_user_id => ddb_s($DdbmModule::SUB{$h}) };
}

# the seeded messages as DynamoDB holds them (fixed uuids: the fake's own)
sub message_items {
    my @items;
    for my $i (0 .. $LAST) {
        my ($h, $text) = @{ $DdbmModule::SEED[$i] };
        push @items, {
            pk => ddb_s("MSG#$GROUP"), sk => ddb_s(DdbmModule::seed_time($i)),
            message_group_uuid => ddb_s($GROUP),
            message_uuid => ddb_s(sprintf 'a0000000-0000-4000-8000-%012d',
                                  $i),
            message => ddb_s($text), user_uuid => ddb_s($DdbmModule::UUID{$h}),
            user_display_name => ddb_s($DdbmModule::NAME{$h}),
            user_handle => ddb_s($h) };
    }
    return @items;
}

# a member's conversation row: the other member, the last message
sub group_rows {
    my ($uuid) = @_;
    my %who = (andrewbrown => 'bayko', bayko => 'andrewbrown');
    my ($me) = grep { $DdbmModule::UUID{$_} eq $uuid } keys %who
        or return ();
    my $o = $who{$me};
    return { pk => ddb_s("GRP#$uuid"), sk => ddb_s($LAST_SK),
             message_group_uuid => ddb_s($GROUP),
             message => ddb_s($DdbmModule::SEED[$LAST][1]),
             user_uuid => ddb_s($DdbmModule::UUID{$o}),
             user_display_name => ddb_s($DdbmModule::NAME{$o}),
             user_handle => ddb_s($o) };
}

# A Query as DynamoDB runs it on the seeded data: its key condition
# "#a = :x", optional "AND #b < :y" (whatever the placeholders are
# called), newest first, Limit, LastEvaluatedKey when cut by Limit.
sub query {
    my ($req) = @_;
    my $values = $req->{ExpressionAttributeValues} // {};
    my ($kx, $sy) = ($req->{KeyConditionExpression} // '')
        =~ /^\s*#\w+\s*=\s*(:\w+)(?:\s+AND\s+#\w+\s*<\s*(:\w+))?\s*$/;
    my $k = defined $kx ? $values->{$kx}{S} // '' : '';
    my $before = defined $sy ? $values->{$sy}{S} : undef;
    my @items = $k eq "MSG#$GROUP" ? message_items()
              : $k =~ /^GRP#(.+)$/ ? group_rows($1)
              : ();
    @items = grep { $_->{sk}{S} lt $before } @items if defined $before;
    @items = sort { $a->{sk}{S} cmp $b->{sk}{S} } @items;
    @items = reverse @items if !$req->{ScanIndexForward};
    my %out;
    if ($req->{Limit} && @items > $req->{Limit}) {
        splice @items, $req->{Limit};
        $out{LastEvaluatedKey} = { pk => $items[-1]{pk},
                                   sk => $items[-1]{sk} };
    }
    $out{Items} = \@items;
    $out{Count} = $out{ScannedCount} = scalar @items;
    return $JSON->encode(\%out);
}

# what DynamoDB would answer from the seeded data, without DynamoDB
sub canned {
    my ($target, $req) = @_;

    if ($target eq 'GetItem') {
        my $pk = $req->{Key}{pk}{S} // '';
        if ($pk =~ /^USER#SUB#(.+)$/ && $BY_SUB{$1}) {
            return (200, $JSON->encode({ Item => user_item($pk,
                                                           $BY_SUB{$1}) }));
        }
        if ($pk =~ /^USER#HANDLE#(.+)$/ && $BY_HANDLE{$1}) {
            return (200, $JSON->encode({ Item => user_item($pk, $1) }));
        }
        if ($pk eq "GRPMETA#$GROUP") {
            my %m;
            for (['a', 'andrewbrown'], ['b', 'bayko']) {
                my ($x, $h) = @$_;
                $m{"${x}_uuid"} = ddb_s($DdbmModule::UUID{$h});
                $m{"${x}_handle"} = ddb_s($h);
                $m{"${x}_display_name"} = ddb_s($DdbmModule::NAME{$h});
            }
            return (200, $JSON->encode({ Item => {
                pk => ddb_s($pk), sk => ddb_s('META'), %m,
                last_sk => ddb_s($LAST_SK), rev => { N => '7' } } }));
        }
        return (200, '{}');
    }
    return (200, query($req)) if $target eq 'Query';
    return (200, '{"Table":{"TableName":"canned","TableStatus":"ACTIVE"}}')
        if $target eq 'DescribeTable';
    return (200, '{}');
}

# TransactionCanceledException: one reason per action, $code on the
# conversation item (the action guarded by its revision)
sub tx_canceled {
    my ($req, $code, $first) = @_;
    my @reasons;
    for my $a (@{ $req->{TransactItems} || [] }) {
        my $pk = $a->{Put}{Item}{pk}{S} // '';
        if ($code eq 'ValidationError' || $first ? !@reasons
                                                 : $pk =~ /^GRPMETA#/) {
            push @reasons, { Code => $code, Message =>
                $code eq 'ValidationError'
                ? 'One or more parameter values were invalid'
                : $code eq 'TransactionConflict'
                ? 'Transaction is ongoing for the item'
                : $code eq 'ThrottlingError'
                ? 'Throughput exceeds the current capacity for one or more '
                  . 'global secondary indexes'
                : 'The conditional request failed' };
        } else {
            push @reasons, { Code => 'None' };
        }
    }
    return ddb_error(400, 'TransactionCanceledException', undef,
        CancellationReasons => \@reasons,
        Message => 'Transaction cancelled, please refer cancellation '
                 . 'reasons for specific reasons ['
                 . join(', ', map { $_->{Code} } @reasons) . ']');
}

sub http_answer {
    my ($status, $body, $length) = @_;
    $length //= length $body;
    return "HTTP/1.1 $status Fake\r\n"
         . "Content-Type: application/x-amz-json-1.0\r\n"
         . "Content-Length: $length\r\nConnection: close\r\n\r\n$body";
}

# $body in chunks of 1 to 7 bytes (sizes in hex, one with an extension),
# and the last chunk unless told otherwise
sub chunked_answer {
    my ($status, $body, $how) = @_;
    my $out = "HTTP/1.1 $status Fake\r\n"
            . "Content-Type: application/x-amz-json-1.0\r\n"
            . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    my $stop = $how->{cut} ? int(length($body) / 2) : length $body;
    my ($at, $n) = (0, 0);
    while ($at < $stop) {
        my $size = 1 + ($n++ % 7);
        $size = $stop - $at if $at + $size > $stop;
        $out .= sprintf('%x', $size) . ($n == 3 ? ';ext=1' : '') . "\r\n"
              . substr($body, $at, $size) . "\r\n";
        $at += $size;
    }
    $out .= "0\r\n\r\n" if !$how->{cut} && !$how->{noend};
    return $out;
}

# the real DynamoDB Local's answer to the same call (raw HTTP, relayed)
sub forward_real {
    my ($head, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_DDB_PORT},
                                  Proto => 'tcp', Timeout => 5)
        or return http_answer(502, 'fake: DynamoDB Local unreachable');
    $head =~ s/\r\n(?:Connection|Keep-Alive):[^\r]*//gi;
    $head =~ s/\r\n\r\n\z/\r\nConnection: close\r\n\r\n/;
    print $s $head, $body;
    my $sel = IO::Select->new($s);
    my $out = '';
    while ($sel->can_read(5)) {
        my $n = sysread($s, my $buf, 65536);
        last if !$n;
        $out .= $buf;
    }
    close $s;
    return $out;
}

# the body of an HTTP answer (Content-Length or chunked)
sub http_body {
    my ($raw) = @_;
    my ($head, $body) = $raw =~ /\A(.*?\r\n\r\n)(.*)\z/s or return '';
    return $body if $head !~ /\r\nTransfer-Encoding:\s*chunked/i;
    my $out = '';
    while ($body =~ s/\A([0-9a-fA-F]+)[^\r]*\r\n//) {
        my $n = hex $1;
        last if !$n;
        $out .= substr($body, 0, $n, '');
        $body =~ s/\A\r\n//;
    }
    return $out;
}

# A BatchGetItem whose first $n keys DynamoDB Local answers (the request
# sent again with those keys only), its items reversed if told, and whose
# other keys are unprocessed
sub batch_unprocessed {
    my ($req, $head, $n, $reverse) = @_;
    my ($table) = keys %{ $req->{RequestItems} || {} };
    return (400, 'fake: no RequestItems') if !defined $table;
    my $ask = $req->{RequestItems}{$table};
    my @keys = @{ $ask->{Keys} || [] };
    $n = @keys if $n > @keys;
    my @done = @keys[0 .. $n - 1];
    my @left = @keys[$n .. $#keys];
    my $items = [];
    if (@done) {
        my $part = $JSON->encode({ RequestItems => {
            $table => { %$ask, Keys => \@done } } });
        (my $h = $head) =~ s/(\r\nContent-Length:\s*)\d+/$1 . length $part/ie;
        my $answer = eval { JSON::PP::decode_json(
            http_body(forward_real($h, $part))) }
            or return (502, 'fake: DynamoDB Local answered no JSON');
        $items = $answer->{Responses}{$table} || [];
        if ($reverse) {
            my %at;
            @at{ map { $_->{pk}{S} . "\0" . ($_->{sk}{S} // '') } @done }
                = 0 .. $#done;
            $items = [sort {
                $at{ $b->{pk}{S} . "\0" . ($b->{sk}{S} // '') }
                <=> $at{ $a->{pk}{S} . "\0" . ($a->{sk}{S} // '') }
            } @$items];
        }
    }
    return (200, $JSON->encode({
        Responses => { $table => $items },
        UnprocessedKeys => @left ? { $table => { %$ask, Keys => \@left } }
                                 : {} }));
}

# what the action answers: (status, body) of a well-formed answer, or
# [raw bytes, close after them] for the ones broken at the HTTP level
my %Seen;

sub action_answer {
    my ($action, $target, $req, $head, $body) = @_;

    return [forward_real($head, $body), 1] if $action eq 'real';
    return canned($target, $req) if $action eq 'canned';
    return ddb_error(400, 'ThrottlingException',
                     'Rate of requests exceeds the allowed throughput.')
        if $action eq 'throttle';
    return ddb_error(500, 'InternalServerError', 'Internal server error')
        if $action eq 'e500';
    return tx_canceled($req, 'ConditionalCheckFailed')
        if $action eq 'condition';
    return tx_canceled($req, 'ValidationError') if $action eq 'validation';
    return tx_canceled($req, 'ThrottlingError') if $action eq 'txthrottle';
    return tx_canceled($req, 'ThrottlingError', 1)
        if $action eq 'txthrottle1';
    return tx_canceled($req, 'TransactionConflict', 1)
        if $action eq 'txconflict1';
    if ($action eq 'throttle-ra') {
        my ($status, $body) = ddb_error(400, 'ThrottlingException',
                                        'Rate of requests exceeds the '
                                        . 'allowed throughput.');
        my $raw = http_answer($status, $body);
        $raw =~ s/\r\n\r\n/\r\nx-amz-retry-after: 150\r\n\r\n/;
        return [$raw, 1];
    }
    return batch_unprocessed($req, $head,
                             int(@{ (values %{ $req->{RequestItems} || {} })[0]
                                    ->{Keys} || [] } / 2))
        if $action eq 'unprocessed-half';
    return batch_unprocessed($req, $head, 0) if $action eq 'unprocessed-all';
    return batch_unprocessed($req, $head, 1e9, 1) if $action eq 'reversed';
    if ($action eq 'commit-e500') {
        forward_real($head, $body);
        return ddb_error(500, 'InternalServerError', 'Internal server error');
    }
    # accepts, reads, never answers
    return ['', undef] if $action eq 'hang';
    # the status and headers, a part of the body, then nothing more
    return [http_answer(200, '{"Items":[', 4096), undef]
        if $action eq 'stall';
    # the headers promise more than comes: the connection closes
    return [http_answer(200, '{"Count":1,"Items":[{"pk":{"S":"GR', 400), 1]
        if $action eq 'truncated';
    # a complete HTTP answer whose body is not JSON
    return (200, "<html>\r\n<h1>It works!</h1>\r\n</html>")
        if $action eq 'garbage';
    # a complete HTTP answer whose JSON stops half-way
    return (200, '{"Count":1,"Items":[{"pk":{"S":"GR')
        if $action eq 'cut-json';
    # JSON, but not a DynamoDB answer (an array, not an object)
    return (200, '[{"pk":{"S":"GRP#x"}}]') if $action eq 'json-array';
    # not HTTP at all
    return ["\x00\xffSSH-2.0-OpenSSH_9.2\r\n\x1b[0m\r\n\r\n", 1]
        if $action eq 'not-http';
    return (404, "fake: unknown action $action");
}

# the faults of /random/<p>/<id>: [action, weight, transactions only]
# (no "canned": it answers from the suites' seed, not from the table, so
# a canned transaction would be acknowledged without being stored)
our @RANDOM_FAULTS = (
    ['throttle', 10], ['e500', 10], ['commit-e500', 10],
    ['txthrottle', 6, 1], ['condition', 6, 1], ['validation', 2, 1],
    ['hang', 3], ['stall', 3], ['truncated', 4], ['garbage', 3],
    ['cut-json', 3], ['json-array', 3], ['not-http', 3],
    ['real:chunked', 6], ['real:chunked+cut', 6], ['real:chunked+noend', 4],
    ['real:drip', 2], ['throttle:drip', 1],
);

my %RandomCount;            # "<operation> <action>" => calls
my ($random_busy, $random_since, $random_written) = (0, undef, 0);

sub random_fault {
    my ($target) = @_;
    # $ENV{DDBM_FAKE_FAULTS}: only these (comma separated)
    my %only = map { $_ => 1 } split /,/, $ENV{DDBM_FAKE_FAULTS} // '';
    my @fit = grep { (!$_->[2] || $target eq 'TransactWriteItems')
                     && (!%only || $only{ $_->[0] }) } @RANDOM_FAULTS;
    return 'e500' if !@fit;
    my $total = 0;
    $total += $_->[1] for @fit;
    my $x = rand $total;
    for my $f (@fit) {
        return $f->[0] if ($x -= $f->[1]) < 0;
    }
    return $fit[-1][0];
}

# the counts, for bench/soak.sh: "<operation> <action> <calls>" lines and
# "busy <seconds relaying>" (a fake that relays all the time is the
# bottleneck), replaced atomically
sub random_stats_flush {
    my ($force) = @_;
    my $file = $ENV{DDBM_FAKE_STATS} or return;
    my $now = Time::HiRes::time();
    return if !$force && $now - $random_written < 0.5;
    $random_written = $now;
    open my $fh, '>', "$file.tmp" or return;
    print $fh "$_ $RandomCount{$_}\n" for sort keys %RandomCount;
    printf $fh "busy %.3f\nelapsed %.3f\n", $random_busy,
        $now - ($random_since // $now);
    close $fh;
    rename "$file.tmp", $file;
}

# with $ENV{DDBM_FAKE_LOG}: one line per fault, "<time> <operation>
# <action> <message text of a transaction>", to find what a fault did
my $random_log;
sub random_log {
    my ($target, $action, $body) = @_;
    my $file = $ENV{DDBM_FAKE_LOG} or return;
    if (!$random_log) {
        open $random_log, '>>', $file or return;
        $random_log->autoflush(1);
    }
    my ($text) = $body =~ /"message":\{"S":"((?:[^"\\]|\\.)*)"/;
    printf $random_log "%.6f %s %s %s\n", Time::HiRes::time(),
        $target || '-', $action, $text // '-';
}

# /random/<p>/<id>: DynamoDB Local's answer, or with probability <p> a
# fault, answered as /all/<fault>/random would be
sub random_answer {
    my ($path, $target, $head, $body) = @_;
    my ($p) = $path =~ m{^/random/([0-9.]+)/}
        or return ([[http_answer(404, "fake: bad path $path"), 0]], 1);
    $random_since //= Time::HiRes::time();
    my $action = rand() < $p ? random_fault($target) : 'real';
    $RandomCount{ ($target || '-') . " $action" }++;
    random_log($target, $action, $body) if $action ne 'real';
    my $t0 = Time::HiRes::time();
    my @out;
    if ($action eq 'real') {
        # the common case, without decoding the request
        @out = ([[forward_real($head, $body), 0]], 1);
    } else {
        @out = fake_answer("/all/$action/random", $target, $head, $body);
    }
    $random_busy += Time::HiRes::time() - $t0;
    return @out;
}

# One request on /<mode>/<actions>/<id>: returns the pieces to send
# ([bytes, pause in seconds before them], ...) and whether to close after
# them (undef: send them and never answer more).
sub fake_answer {
    my ($path, $target, $head, $body) = @_;
    return random_answer($path, $target, $head, $body)
        if $path =~ m{^/random/};
    my ($mode, $list) = $path =~ m{^/(all|tx|txreal|batchreal|GetItem|Query|DescribeTable|TransactWriteItems)/([^/]+)} or
        return ([[http_answer(404, "fake: bad path $path"), 0]], 1);
    my $req = eval { JSON::PP::decode_json($body) } || {};

    if ($target eq 'BatchGetItem' && $ENV{DDBM_FAKE_REQUESTS}
        && open my $rq, '>>', $ENV{DDBM_FAKE_REQUESTS})
    {
        print $rq "$body\n";
        close $rq;
    }

    my $spec = $mode =~ /real$/ ? 'real' : 'canned';
    $mode = 'TransactWriteItems' if $mode eq 'tx' || $mode eq 'txreal';
    $mode = 'BatchGetItem' if $mode eq 'batchreal';
    if ($mode eq 'all' || $mode eq $target) {
        my @actions = split /,/, $list;
        $spec = $actions[ $Seen{"$path $mode"}++ % @actions ];
    }
    my ($action, $travel) = split /:/, $spec, 2;
    my %how = map { $_ => 1 } split /\+/, $travel // '';
    if (my @bad = grep { !/^(?:drip|chunked|cut|noend)$/ } keys %how) {
        return ([[http_answer(404, "fake: unknown way @bad"), 0]], 1);
    }

    my @answer = action_answer($action, $target, $req, $head, $body);
    my ($out, $close);
    if (ref $answer[0]) {
        ($out, $close) = @{ $answer[0] };
        if ($how{chunked} && $out =~ /\A(HTTP\/1\.1 (\d+).*?\r\n\r\n)/s) {
            # a relayed answer, framed again
            ($out, $close) = (chunked_answer($2, substr($out, length $1),
                                             \%how), 1);
        }
    } elsif ($how{chunked}) {
        ($out, $close) = (chunked_answer(@answer, \%how), 1);
    } else {
        ($out, $close) = (http_answer(@answer), 1);
    }

    return ([[$out, 0]], $close) if !$how{drip} || $out eq '';

    my $budget = $DRIP_BUDGET;
    my @pieces = map {
        my $pause = $budget > 0 ? (1 + rand 4) / 1000 : 0;
        $budget -= $pause;
        [$_, $pause];
    } split //, $out;
    $pieces[0][1] = 0;
    return (\@pieces, $close);
}

sub serve {
    my ($listen, $parent) = @_;
    my %c;     # fileno => { fh, in, pieces, at, close, done }
    $listen->blocking(0);

    while (1) {
        POSIX::_exit(0) if getppid() != $parent;
        random_stats_flush() if %RandomCount;
        my $now = Time::HiRes::time();
        my $wait = 0.5;
        my @ready;
        for my $cn (values %c) {
            next if !@{ $cn->{pieces} || [] };
            my $due = $cn->{at} + $cn->{pieces}[0][1];
            if ($due <= $now) {
                push @ready, $cn->{fh};
            } elsif ($due - $now < $wait) {
                $wait = $due - $now;
            }
        }
        my $r = IO::Select->new($listen, map { $_->{fh} } values %c);
        my $w = IO::Select->new(@ready);
        my ($rr, $ww) = IO::Select->select($r, @ready ? $w : undef, undef,
                                           $wait);

        for my $fh (@{ $rr || [] }) {
            if ($fh == $listen) {
                while (my $s = $listen->accept) {
                    $s->blocking(0);
                    # a written byte leaves at once, in a segment of its own
                    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
                    $c{ fileno $s } = { fh => $s, in => '', pieces => [] };
                }
                next;
            }
            my $cn = $c{ fileno $fh } or next;
            my $n = sysread($fh, my $buf, 65536);
            next if !defined $n && $!{EAGAIN};
            if (!$n) {
                delete $c{ fileno $fh };
                close $fh;
                next;
            }
            next if $cn->{done};
            $cn->{in} .= $buf;
            my $end = index($cn->{in}, "\r\n\r\n");
            next if $end < 0;
            my $head = substr($cn->{in}, 0, $end + 4);
            my ($len) = $head =~ /\r\nContent-Length:\s*(\d+)/i;
            next if length($cn->{in}) < $end + 4 + ($len // 0);
            my $body = substr($cn->{in}, $end + 4, $len // 0);
            my ($path) = $head =~ m{^\S+ (\S+)};
            my ($target) = $head =~ /\r\nX-Amz-Target:\s*\w+\.(\w+)/i;
            ($cn->{pieces}, $cn->{close}) =
                fake_answer($path // '/', $target // '', $head, $body);
            $cn->{at} = Time::HiRes::time();
            $cn->{done} = 1;
        }

        for my $fh (@{ $ww || [] }) {
            my $cn = $c{ fileno $fh } or next;
            my $piece = $cn->{pieces}[0];
            my $n = length $piece->[0]
                  ? syswrite($fh, $piece->[0]) : 0;
            if (!defined $n) {
                next if $!{EAGAIN};
                delete $c{ fileno $fh };
                close $fh;
                next;
            }
            substr($piece->[0], 0, $n, '');
            if ($piece->[0] eq '') {
                shift @{ $cn->{pieces} };
                $cn->{at} = Time::HiRes::time();
            } else {
                $piece->[1] = 0;   # the rest of a partial write: no pause
            }
            if (!@{ $cn->{pieces} } && $cn->{close}) {
                delete $c{ fileno $fh };
                close $fh;
            }
        }
    }
}

my ($fake_pid, $owner_pid);

# Forks the fake (once) on a free loopback port; returns the port, also
# exported as $ENV{TEST_NGINX_SCRIPT_PORT}.  Stopped when this process
# exits (not when a forked child of it does).
sub start {
    return $ENV{TEST_NGINX_SCRIPT_PORT} if $fake_pid;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Proto => 'tcp',
                                       Listen => 64, ReuseAddr => 1)
        or die "DdbmFake: cannot listen: $!\n";
    $ENV{TEST_NGINX_SCRIPT_PORT} = $listen->sockport;
    $owner_pid = $$;
    $fake_pid = fork() // die "DdbmFake: fork: $!\n";
    if ($fake_pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP QUIT);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';   # never hold prove's TAP pipe
        open STDERR, '>', '/dev/null' if !$ENV{TEST_FAKE_VERBOSE};
        eval { serve($listen, $owner_pid) };
        POSIX::_exit(0);
    }
    close $listen;
    return $ENV{TEST_NGINX_SCRIPT_PORT};
}

END {
    local $?;
    if ($fake_pid && $$ == $owner_pid) {
        kill 'TERM', $fake_pid;
        waitpid($fake_pid, 0);
    }
}

# the internal location /_fake/<path> that reaches the fake, signed like
# /_ddbm; $buffer is its subrequest_output_buffer_size
sub location {
    my ($buffer) = @_;
    return DdbmModule::ddbm_signed_proxy('~ ^/_fake(/.*)$',
        'http://127.0.0.1:$TEST_NGINX_SCRIPT_PORT$1', $buffer // '64k');
}

1;
