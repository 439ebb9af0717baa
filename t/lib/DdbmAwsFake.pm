package DdbmAwsFake;

# Loopback fakes of the AWS credential sources the SDKs' default chain
# reads, and a SigV4-verifying front for DynamoDB Local, for
# t/250-credentials-auto.t (`ddbm_credentials auto`).  Plain Perl (Debian's
# perl only); each runs as a forked child in a process group of its own on
# a free 127.0.0.1 port, and is stopped (the whole group) by stop(), by
# DESTROY and at exit of the process that started it; a fake whose parent
# is gone exits by itself within a second.
#
#   my $imds = DdbmAwsFake->imds(lifetime => 8);
#   $ENV{AWS_EC2_METADATA_SERVICE_ENDPOINT} = $imds->url;
#   my $ecs = DdbmAwsFake->container(lifetime => 8, token_file => $f);
#   $ENV{AWS_CONTAINER_CREDENTIALS_FULL_URI} = $ecs->url;   # .../v2/creds
#   my $sts = DdbmAwsFake->sts(lifetime => 8, token_file => $f,
#                              role_arn => 'arn:aws:iam::...:role/x');
#   $ENV{AWS_ENDPOINT_URL_STS} = $sts->url;
#   $fake->control(fail => 1);      # every answer 500 from now on (0: back)
#   $fake->control(delay => 0.8);   # every answer waits 0.8 s (IMDS: the
#                                   # token, the role and the credentials)
#   $fake->control(lifetime => 20);
#   $fake->control(sticky => 0);    # (IMDS) new keys at every fetch
#   my $st = $fake->stats;   # { fetches => [{t, id, exp}] (new keys),
#                            #   repeats => [{t, id, exp}] (the same again),
#                            #   failures => [{t, why}] (answered 500),
#                            #   refused => [{t, why}] (bad requests: 4xx),
#                            #   requests => N }
#   DdbmAwsFake->imds(lifetime => 8, sticky => 3): as the real IMDS, the
#   same keys are handed out again until less than 3 s are left
#
#   my $front = DdbmAwsFake->front(ddb_port => $ENV{TEST_NGINX_DDB_PORT});
#   # ddbm_endpoint_host $front->host ; upstream server $front->host
#   my $fs = $front->stats;  # { ok, rejected, by_type => {..},
#                            #   rejects => [{t, type, id, why}], ids => {} }
#
# The credentials: AccessKeyId "ASIAFAKE" + the fake's letter (I, C, S) +
# an 11-digit counter (20 characters, as AWS's), SecretAccessKey 40
# characters of base64(hmac_sha256(id, $MASTER)), session token
# "FQoG<id>.<expiry epoch>.<hex hmac_sha256(id.expiry, $MASTER)>.<filler>"
# (about 700 characters of the base64 alphabet, as long as a real one), so
# the front checks any of them without shared state.  Expiration is the
# issue time + lifetime, cut to whole seconds (the wire format has no
# fraction): a key lives lifetime-1 to lifetime seconds.
#
# The front: an HTTP/1.1 keep-alive server (a child per connection) that
# recomputes every request's SigV4 signature from what it received (method,
# path, query, the headers listed in SignedHeaders, the body's SHA-256),
# derives the secret from the access key id, checks the session token
# belongs to that id and is not expired (exact time, no grace), the
# credential scope (date of X-Amz-Date, region, service, aws4_request),
# X-Amz-Date within 15 minutes, and only then relays the request to
# DynamoDB Local and its answer back.  Otherwise 403 with DynamoDB's JSON
# error (UnrecognizedClientException: unknown key, bad token;
# ExpiredTokenException; InvalidSignatureException;
# IncompleteSignatureException; MissingAuthenticationTokenException), one
# line per request in its stats file.  Static keys (no session token) are
# refused unless static => [id, secret] is given.  GET /__front_stats
# answers the stats as JSON.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256 hmac_sha256_hex sha256_hex);
use File::Temp ();
use HTTP::Tiny ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 ();
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Scalar::Util ();
use Time::HiRes ();
use Time::Local ();

# the secret behind every key of this test run (the fakes and the front
# are forked from the test, so they share it)
our $MASTER = 'ddbm-aws-fake-' . join('', map { int rand 10 } 1 .. 16);
our $REGION = 'us-east-1';
our $ROLE = 'ddbm-test-role';
# bytes behind the session token's filler (base64: 4/3 as many characters)
our $FILLER_BYTES = 512;

my $JSON = JSON::PP->new->canonical;
my @started;

# ---- keys ------------------------------------------------------------------

sub secret_for {
    my ($id) = @_;
    return substr(MIME::Base64::encode_base64(hmac_sha256($id, $MASTER), ''),
                  0, 40);
}

sub _filler {
    my ($mac) = @_;
    my $raw = '';
    $raw .= hmac_sha256("$mac/$_", $MASTER)
        for 1 .. int(($FILLER_BYTES + 31) / 32);
    return MIME::Base64::encode_base64(substr($raw, 0, $FILLER_BYTES), '');
}

sub token_for {
    my ($id, $exp) = @_;
    my $mac = hmac_sha256_hex("$id.$exp", $MASTER);
    return "FQoG$id.$exp.$mac." . _filler($mac);
}

# a key set as the fakes issue it: { id, secret, token, exp }
sub mint {
    my ($id, $exp) = @_;
    return { id => $id, secret => secret_for($id), token => token_for($id, $exp),
             exp => $exp };
}

# undef if the token is one of ours for $id, else why not
sub token_problem {
    my ($id, $token) = @_;
    my ($tid, $exp, $mac, $filler) = $token =~
        /\AFQoG([A-Z0-9]+)\.(\d+)\.([0-9a-f]{64})\.([A-Za-z0-9+\/=]+)\z/
        or return 'not a token of ours';
    return 'the token belongs to another key' if $tid ne $id;
    return 'the token\'s signature is wrong'
        if $mac ne hmac_sha256_hex("$id.$exp", $MASTER)
        || $filler ne _filler($mac);
    return undef;
}

sub token_expiry {
    my ($token) = @_;
    my ($exp) = $token =~ /\AFQoG[A-Z0-9]+\.(\d+)\./;
    return $exp;
}

sub iso8601 {
    my ($t) = @_;
    return POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $t);
}

# ---- SigV4 -----------------------------------------------------------------

sub _uri_encode {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub _uri_decode {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub _canonical_query {
    my ($q) = @_;
    return '' if !defined $q || $q eq '';
    my @p = map {
        my ($k, $v) = split /=/, $_, 2;
        [_uri_encode(_uri_decode($k)), _uri_encode(_uri_decode($v // ''))]
    } grep { length } split /&/, $q;
    return join '&', map { "$_->[0]=$_->[1]" }
                     sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] } @p;
}

sub _canonical_value {
    my ($v) = @_;
    $v =~ s/\A\s+|\s+\z//g;
    $v =~ s/\s+/ /g;
    return $v;
}

# the canonical request: $headers is { lower-case name => [values] }
sub canonical_request {
    my ($method, $path, $query, $headers, $signed, $body) = @_;
    my $creq = "$method\n$path\n" . _canonical_query($query) . "\n";
    for my $h (@$signed) {
        my $vals = $headers->{$h} or return undef;
        $creq .= "$h:" . join(',', map { _canonical_value($_) } @$vals)
               . "\n";
    }
    return $creq . "\n" . join(';', @$signed) . "\n" . sha256_hex($body);
}

sub _signature {
    my ($secret, $date, $region, $service, $amz_date, $creq) = @_;
    my $scope = "$date/$region/$service/aws4_request";
    my $sts = "AWS4-HMAC-SHA256\n$amz_date\n$scope\n" . sha256_hex($creq);
    my $k = hmac_sha256($date, "AWS4$secret");
    $k = hmac_sha256($region, $k);
    $k = hmac_sha256($service, $k);
    $k = hmac_sha256('aws4_request', $k);
    return hmac_sha256_hex($sts, $k);
}

# Signs a DynamoDB call as the module does (POST /, content-type, host,
# x-amz-date, x-amz-security-token with a token, x-amz-target); returns
# the headers to send, Authorization included.
#   sign(key => {id, secret, token}, host => 'h:p', target => 'ListTables',
#        body => '{}', [time => epoch], [region => ...], [service => ...])
sub sign {
    my (%a) = @_;
    my $t = $a{time} // time;
    my $amz_date = POSIX::strftime('%Y%m%dT%H%M%SZ', gmtime $t);
    my $date = substr $amz_date, 0, 8;
    my $region = $a{region} // $REGION;
    my $service = $a{service} // 'dynamodb';
    my %h = ('content-type' => 'application/x-amz-json-1.0',
             'host' => $a{host}, 'x-amz-date' => $amz_date,
             'x-amz-target' => "DynamoDB_20120810.$a{target}");
    $h{'x-amz-security-token'} = $a{key}{token} if $a{key}{token};
    my @signed = sort keys %h;
    my $creq = canonical_request('POST', '/', '',
                                 { map { $_ => [$h{$_}] } keys %h },
                                 \@signed, $a{body});
    my $sig = _signature($a{key}{secret}, $date, $region, $service,
                         $amz_date, $creq);
    $h{authorization} = "AWS4-HMAC-SHA256 Credential=$a{key}{id}/$date/"
        . "$region/$service/aws4_request, SignedHeaders="
        . join(';', @signed) . ", Signature=$sig";
    return \%h;
}

# One request on its own connection, with the headers exactly as given
# (Host included: HTTP::Tiny sets its own); returns { status, headers,
# content }
sub http_raw {
    my ($port, $method, $path, $headers, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 30)
        or return { status => 599, headers => {}, content => "connect: $!" };
    my $req = "$method $path HTTP/1.1\r\nConnection: close\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %$headers;
    $req .= 'Content-Length: ' . length($body // '') . "\r\n\r\n"
          . ($body // '');
    _write_all($s, $req);
    my $raw = do { local $/; <$s> } // '';
    close $s;
    my ($head, $content) = split /\r\n\r\n/, $raw, 2;
    my $r = _parse_answer_head($head // '');
    $r->{content} = $content // '';
    return $r;
}

sub _parse_answer_head {
    my ($head) = @_;
    my ($line, @lines) = split /\r\n/, $head;
    my ($status) = ($line // '') =~ m{^HTTP/1\.\d (\d{3})};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }
    return { status => $status // 0, headers => \%h };
}

# ---- processes -------------------------------------------------------------

sub _listen {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 128,
                                  ReuseAddr => 1)
        or die "DdbmAwsFake: cannot listen: $!\n";
    return $l;
}

# forks $run->($listen, $owner) in a process group of its own
sub _spawn {
    my ($class, $kind, $self, $run) = @_;
    my $listen = _listen();
    $self->{port} = $listen->sockport;
    $self->{kind} = $kind;
    $self->{owner} = $$;
    $self->{dir} //= File::Temp::tempdir("ddbm-$kind-XXXXXX", TMPDIR => 1,
                                         CLEANUP => 1);
    $self->{stats_file} = "$self->{dir}/stats";
    my $owner = $$;
    bless $self, $class;
    my $pid = fork() // die "DdbmAwsFake: fork: $!\n";
    if ($pid == 0) {
        setpgrp(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP QUIT);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';   # never hold prove's TAP pipe
        if ($ENV{TEST_FAKE_VERBOSE}) {
            open STDERR, '>>', "$self->{dir}/stderr.log";
        } else {
            open STDERR, '>', '/dev/null';
        }
        eval { $run->($self, $listen, $owner); 1 }
            or print STDERR "DdbmAwsFake $kind: $@";
        POSIX::_exit(0);
    }
    close $listen;
    $self->{pid} = $pid;
    push @started, $self;
    Scalar::Util::weaken($started[-1]);
    return $self;
}

sub port { $_[0]{port} }
sub host { "127.0.0.1:$_[0]{port}" }
sub dir  { $_[0]{dir} }

sub stop {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    return if $$ != $self->{owner};
    $self->{pid} = undef;
    kill 'TERM', -$pid;
    kill 'TERM', $pid;
    for (1 .. 40) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    if (kill 0, $pid) {
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    kill 'KILL', -$pid;     # connection children left in the group
}

sub DESTROY { local ($., $@, $!, $^E, $?); $_[0]->stop }

END { local $?; $_ && $_->stop for @started }

# ---- a small HTTP/1.1 server loop (the credential fakes) --------------------

sub _parse_head {
    my ($head) = @_;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $target) = ($line // '') =~ /^(\S+) (\S+) HTTP\/1\.\d$/
        or return;
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:\s]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @{ $h{lc $k} }, $v;
    }
    my ($path, $query) = split /\?/, $target, 2;
    return { method => $method, target => $target, path => $path,
             query => $query // '', headers => \%h };
}

sub _hdr {
    my ($req, $name) = @_;
    my $v = $req->{headers}{lc $name} or return undef;
    return join ',', @$v;
}

sub _answer_bytes {
    my ($status, $headers, $body, $close) = @_;
    my %reason = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
                  403 => 'Forbidden', 404 => 'Not Found',
                  405 => 'Method Not Allowed', 500 => 'Internal Server Error');
    my $out = "HTTP/1.1 $status " . ($reason{$status} // 'Fake') . "\r\n";
    for (my $i = 0; $i < @$headers; $i += 2) {
        $out .= "$headers->[$i]: $headers->[$i + 1]\r\n";
    }
    $out .= "Content-Length: " . length($body) . "\r\n";
    $out .= "Connection: close\r\n" if $close;
    return "$out\r\n$body";
}

sub _write_all {
    my ($fh, $data) = @_;
    my $blocking = $fh->blocking;
    $fh->blocking(1);
    while (length $data) {
        my $n = syswrite($fh, $data);
        last if !$n;
        substr($data, 0, $n, '');
    }
    $fh->blocking($blocking);
}

# one complete request at the head of $$buf: (request, consumed) or ()
sub _take_request {
    my ($buf, $fh, $continued) = @_;
    my $end = index($$buf, "\r\n\r\n");
    return if $end < 0;
    my $req = _parse_head(substr($$buf, 0, $end)) or return ('bad');
    my $len = _hdr($req, 'content-length') // 0;
    if (length($$buf) < $end + 4 + $len) {
        # libcurl waits (1 s) for this before a body over 1 KB
        if (!$$continued && (_hdr($req, 'expect') // '') =~ /100-continue/i) {
            _write_all($fh, "HTTP/1.1 100 Continue\r\n\r\n");
            $$continued = 1;
        }
        return;
    }
    $req->{body} = substr($$buf, $end + 4, $len);
    substr($$buf, 0, $end + 4 + $len, '');
    $$continued = 0;
    return $req;
}

sub _serve_loop {
    my ($listen, $owner, $handler, $tick) = @_;
    my %c;
    $listen->blocking(0);
    my $sel = IO::Select->new($listen);
    while (1) {
        POSIX::_exit(0) if getppid() != $owner;
        $tick->() if $tick;
        my @ready = $sel->can_read(0.5);
        for my $fh (@ready) {
            if ($fh == $listen) {
                while (my $s = $listen->accept) {
                    $s->blocking(0);
                    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
                    $c{ fileno $s } = { fh => $s, in => '', cont => 0 };
                    $sel->add($s);
                }
                next;
            }
            my $cn = $c{ fileno $fh } or next;
            my $n = sysread($fh, my $buf, 65536);
            next if !defined $n && $!{EAGAIN};
            if (!$n) {
                $sel->remove($fh);
                delete $c{ fileno $fh };
                close $fh;
                next;
            }
            $cn->{in} .= $buf;
            while (my $req = _take_request(\$cn->{in}, $fh, \$cn->{cont})) {
                my ($status, $headers, $body);
                if (!ref $req) {
                    ($status, $headers, $body) = (400, [], "bad request\n");
                } else {
                    ($status, $headers, $body) = $handler->($req);
                }
                my $close = !ref $req
                    || (_hdr($req, 'connection') // '') =~ /close/i;
                _write_all($fh, _answer_bytes($status, $headers, $body,
                                              $close));
                if ($close) {
                    $sel->remove($fh);
                    delete $c{ fileno $fh };
                    close $fh;
                    last;
                }
            }
        }
    }
}

# ---- the credential fakes ----------------------------------------------------

sub _new_fake {
    my ($class, $kind, $letter, %o) = @_;
    my $self = { lifetime => $o{lifetime} // 8, letter => $letter, %o };
    return $class->_spawn($kind, $self, sub {
        my ($self, $listen, $owner) = @_;
        my $state = { fail => 0, delay => 0, lifetime => $self->{lifetime},
                      sticky => $self->{sticky} // 0,
                      n => 0, fetches => [], repeats => [], failures => [],
                      refused => [], requests => 0, tokens => {} };
        $self->{state} = $state;
        $self->_write_stats;
        _serve_loop($listen, $owner, sub { $self->_fake_request($_[0]) });
    });
}

sub imds      { my $c = shift; $c->_new_fake('imds', 'I', @_) }
sub container { my $c = shift; $c->_new_fake('container', 'C', @_) }
sub sts       { my $c = shift; $c->_new_fake('sts', 'S', @_) }

# what the test sets in the environment
sub url {
    my ($self) = @_;
    return "http://127.0.0.1:$self->{port}/v2/credentials/ddbm-test"
        if $self->{kind} eq 'container';
    return "http://127.0.0.1:$self->{port}";
}

sub _write_stats {
    my ($self) = @_;
    my $s = $self->{state};
    my $file = $self->{stats_file};
    open my $fh, '>', "$file.tmp" or return;
    print $fh $JSON->encode({ map { $_ => $s->{$_} }
        qw(fail delay lifetime sticky fetches repeats failures refused
           requests) });
    close $fh;
    rename "$file.tmp", $file;
}

sub _issue {
    my ($self) = @_;
    my $s = $self->{state};
    my $now = Time::HiRes::time();
    # as the real IMDS: the same keys until less than `sticky` s are left
    my $cur = $s->{current};
    if ($s->{sticky} && $cur && $cur->{exp} - $now >= $s->{sticky}) {
        push @{ $s->{repeats} }, { t => $now, id => $cur->{id},
                                   exp => $cur->{exp} };
        $self->_write_stats;
        return mint($cur->{id}, $cur->{exp});
    }
    my $id = sprintf 'ASIAFAKE%s%011d', $self->{letter}, ++$s->{n};
    my $exp = int($now) + $s->{lifetime};
    $s->{current} = { id => $id, exp => $exp };
    push @{ $s->{fetches} }, { t => $now, id => $id, exp => $exp };
    $self->_write_stats;
    return mint($id, $exp);
}

sub _failed {
    my ($self, $why) = @_;
    push @{ $self->{state}{failures} },
        { t => Time::HiRes::time(), why => $why };
    $self->_write_stats;
}

sub _refused {
    my ($self, $why) = @_;
    push @{ $self->{state}{refused} },
        { t => Time::HiRes::time(), why => $why };
    $self->_write_stats;
}

sub _json_creds {
    my ($k, %more) = @_;
    return $JSON->encode({ %more, AccessKeyId => $k->{id},
                           SecretAccessKey => $k->{secret},
                           Token => $k->{token},
                           Expiration => iso8601($k->{exp}) });
}

sub _read_file {
    my ($path) = @_;
    open my $f, '<', $path or return undef;
    local $/;
    my $t = <$f>;
    return $t;
}

sub _fake_request {
    my ($self, $req) = @_;
    my $s = $self->{state};
    my %q = map { my ($k, $v) = split /=/, $_, 2;
                  (_uri_decode($k) => _uri_decode($v // '')) }
            grep { length } split /&/, $req->{query};
    (my $path = $req->{path}) =~ s{//+}{/}g;

    if ($path eq '/__control') {
        for my $k (qw(fail delay lifetime sticky)) {
            $s->{$k} = $q{$k} + 0 if defined $q{$k};
        }
        $self->_write_stats;
        return (200, ['Content-Type', 'application/json'],
                $JSON->encode({ map { $_ => $s->{$_} }
                                qw(fail delay lifetime sticky) }));
    }
    if ($path eq '/__stats') {
        return (200, ['Content-Type', 'application/json'],
                _read_file($self->{stats_file}) // '{}');
    }

    $s->{requests}++;
    $self->_write_stats;
    # every exchange of a fetch waits (IMDS: three; a source's timeout is
    # per exchange)
    Time::HiRes::sleep($s->{delay}) if $s->{delay};
    my %answer = (imds => \&_answer_imds, container => \&_answer_container,
                  sts => \&_answer_sts);
    return $answer{ $self->{kind} }->($self, $req, $path, \%q);
}

# IMDSv2: PUT /latest/api/token, then GET the role, then its credentials
sub _answer_imds {
    my ($self, $req, $path) = @_;
    my $s = $self->{state};
    my $text = ['Content-Type', 'text/plain'];

    if ($path eq '/latest/api/token') {
        return (405, $text, '') if $req->{method} ne 'PUT';
        if ($s->{fail}) {
            $self->_failed('token');
            return (500, $text, 'Internal Server Error');
        }
        my $ttl = _hdr($req, 'x-aws-ec2-metadata-token-ttl-seconds');
        if (!defined $ttl || $ttl !~ /^\d+$/ || $ttl < 1 || $ttl > 21600) {
            $self->_refused('token PUT without a valid TTL header');
            return (400, $text, 'Bad Request');
        }
        my $tok = 'AQAEA' . MIME::Base64::encode_base64(
            hmac_sha256(Time::HiRes::time() . rand(), $MASTER), '');
        $s->{tokens}{$tok} = time + $ttl;
        return (200, ['Content-Type', 'text/plain',
                      'X-aws-ec2-metadata-token-ttl-seconds', $ttl], $tok);
    }

    return (404, $text, 'Not Found')
        if $path !~ m{^/latest/meta-data/iam/security-credentials/?(.*)$};
    my $role = $1;
    return (405, $text, '') if $req->{method} ne 'GET';
    my $tok = _hdr($req, 'x-aws-ec2-metadata-token');
    if (!defined $tok || !$s->{tokens}{$tok} || $s->{tokens}{$tok} < time) {
        $self->_refused(defined $tok ? 'unknown or expired IMDS token'
                                     : 'IMDSv1 (no token)');
        return (401, $text, 'Unauthorized');
    }
    if ($s->{fail}) {
        $self->_failed($role eq '' ? 'role' : 'credentials');
        return (500, $text, 'Internal Server Error');
    }
    return (200, $text, $ROLE) if $role eq '';
    if ($role ne $ROLE) {
        $self->_refused("unknown role $role");
        return (404, $text, 'Not Found');
    }
    my $k = $self->_issue;
    return (200, $text, _json_creds($k, Code => 'Success',
                                     LastUpdated => iso8601(time),
                                     Type => 'AWS-HMAC'));
}

# ECS / EKS Pod Identity: GET <path> with Authorization: <token>
sub _answer_container {
    my ($self, $req, $path) = @_;
    my $s = $self->{state};
    my $json = ['Content-Type', 'application/json'];
    if ($path ne '/v2/credentials/ddbm-test') {
        $self->_refused("unknown path $path");
        return (404, $json, '{"code":"NotFound","message":"not found"}');
    }
    return (405, $json, '{}') if $req->{method} ne 'GET';
    my $want = defined $self->{token_file}
             ? _read_file($self->{token_file}) : $self->{token};
    my $got = _hdr($req, 'authorization');
    # a file's final newline cannot go in a header: without it counts too
    if (!defined $got || !defined $want
        || ($got ne $want && $got ne ($want =~ s/\s+\z//r)))
    {
        $self->_refused(defined $got ? 'wrong Authorization'
                                     : 'no Authorization');
        return (defined $got ? 403 : 401, $json,
                '{"code":"AccessDeniedException",'
                . '"message":"Invalid authorization token"}');
    }
    if ($s->{fail}) {
        $self->_failed('credentials');
        return (500, $json, '{"code":"InternalServerError",'
                            . '"message":"fake failure"}');
    }
    my $k = $self->_issue;
    return (200, $json, _json_creds($k,
        RoleArn => "arn:aws:iam::123456789012:role/$ROLE"));
}

sub _sts_error {
    my ($status, $type, $code, $message) = @_;
    return ($status, ['Content-Type', 'text/xml'], <<"_XML_");
<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>$type</Type>
    <Code>$code</Code>
    <Message>$message</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>
_XML_
}

# STS AssumeRoleWithWebIdentity (a form POST, or the same as a query)
sub _answer_sts {
    my ($self, $req, $path, $q) = @_;
    my $s = $self->{state};
    my %p = %$q;
    if ($req->{method} eq 'POST') {
        for (grep { length } split /&/, $req->{body}) {
            my ($k, $v) = split /=/, $_, 2;
            $p{ _uri_decode($k) } = _uri_decode($v // '');
        }
    }
    if (($p{Action} // '') ne 'AssumeRoleWithWebIdentity') {
        $self->_refused('Action ' . ($p{Action} // '(none)'));
        return _sts_error(400, 'Sender', 'InvalidAction',
                          'Could not find operation');
    }
    if (($p{Version} // '') ne '2011-06-15') {
        $self->_refused('Version ' . ($p{Version} // '(none)'));
        return _sts_error(400, 'Sender', 'InvalidParameterValue',
                          'Version must be 2011-06-15');
    }
    my $session = $p{RoleSessionName} // '';
    if ($session !~ /\A[\w+=,.\@-]{2,64}\z/) {
        $self->_refused("RoleSessionName '$session'");
        return _sts_error(400, 'Sender', 'ValidationError',
                          'Invalid RoleSessionName');
    }
    if (($p{RoleArn} // '') ne ($self->{role_arn} // '')) {
        $self->_refused('RoleArn ' . ($p{RoleArn} // '(none)'));
        return _sts_error(403, 'Sender', 'AccessDenied',
                          'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    }
    my $want = _read_file($self->{token_file});
    if (!defined $p{WebIdentityToken} || !defined $want
        || ($p{WebIdentityToken} ne $want
            && $p{WebIdentityToken} ne ($want =~ s/\s+\z//r)))
    {
        $self->_refused('wrong WebIdentityToken');
        return _sts_error(400, 'Sender', 'InvalidIdentityToken',
                          'The web identity token that was passed could '
                          . 'not be validated by AWS. Get a new identity '
                          . 'token from the identity provider and then '
                          . 'retry the request.');
    }
    if ($s->{fail}) {
        $self->_failed('credentials');
        return _sts_error(500, 'Receiver', 'InternalFailure',
                          'fake failure');
    }
    my $k = $self->_issue;
    my $exp = iso8601($k->{exp});
    return (200, ['Content-Type', 'text/xml'], <<"_XML_");
<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:$session</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/$ROLE/$session</Arn>
    </AssumedRoleUser>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE</Provider>
    <Credentials>
      <SessionToken>$k->{token}</SessionToken>
      <SecretAccessKey>$k->{secret}</SecretAccessKey>
      <Expiration>$exp</Expiration>
      <AccessKeyId>$k->{id}</AccessKeyId>
    </Credentials>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:ddbm</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
_XML_
}

# ---- the test's side of a fake -------------------------------------------------

my $Http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub control {
    my ($self, %set) = @_;
    my $q = join '&', map { "$_=$set{$_}" } sort keys %set;
    my $r = $Http->get("http://127.0.0.1:$self->{port}/__control?$q");
    die "DdbmAwsFake: control $q: $r->{status} $r->{content}\n"
        if !$r->{success};
    return $JSON->decode($r->{content});
}

# read from the stats file (works while the fake is busy)
sub stats {
    my ($self) = @_;
    my $text = _read_file($self->{stats_file});
    if ($self->{kind} eq 'front') {
        return _front_summary($text // '');
    }
    return defined $text ? $JSON->decode($text) : {};
}

# ---- the SigV4-verifying front -------------------------------------------------

# front(ddb_port => N, [static => [id, secret]], [region => 'us-east-1'],
#       [check_host => 1]: the Host header must be the front's host:port)
sub front {
    my ($class, %o) = @_;
    my $self = { region => $REGION, %o };
    return $class->_spawn('front', $self, \&_front_main);
}

sub _front_main {
    my ($self, $listen, $owner) = @_;
    open my $fh, '>', $self->{stats_file};
    close $fh;
    $SIG{CHLD} = 'IGNORE';          # children reaped by the kernel
    my $master = $$;
    my $sel = IO::Select->new($listen);
    while (1) {
        POSIX::_exit(0) if getppid() != $owner;
        next if !$sel->can_read(0.5);
        my $c = $listen->accept or next;
        my $pid = fork();
        if (!defined $pid) {
            close $c;
            next;
        }
        if ($pid == 0) {
            close $listen;
            eval { $self->_front_connection($c, $master); 1 }
                or print STDERR "front: $@";
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub _front_log {
    my ($self, @f) = @_;
    open my $fh, '>>', $self->{stats_file} or return;
    my $line = join("\t", sprintf('%.6f', Time::HiRes::time()),
                    map { s/[\t\n]/ /gr } @f) . "\n";
    syswrite $fh, $line;    # one write, O_APPEND: lines never mix
    close $fh;
}

sub _front_summary {
    my ($text) = @_;
    my %s = (ok => 0, rejected => 0, upstream_errors => 0, by_type => {},
             rejects => [], ids => {});
    for (split /\n/, $text) {
        my ($t, $what, $type, $id, $why) = split /\t/;
        next if !defined $what;
        if ($what eq 'ok') {
            $s{ok}++;
            $s{ids}{$id}++ if defined $id && $id ne '-';
        } elsif ($what eq 'reject') {
            $s{rejected}++;
            $s{by_type}{$type}++;
            push @{ $s{rejects} }, { t => $t, type => $type, id => $id,
                                     why => $why };
        } elsif ($what eq 'upstream') {
            $s{upstream_errors}++;
        }
    }
    return \%s;
}

sub _ddb_error {
    my ($type, $message) = @_;
    my $body = $JSON->encode({
        __type => "com.amazon.coral.service#$type", message => $message });
    return (403, ['Content-Type', 'application/x-amz-json-1.0',
                  'x-amzn-RequestId', 'FAKEFRONT' . int(rand 1e9)], $body);
}

# undef when the request is signed right, else [type, message, key id, why]
sub verify {
    my ($self, $req) = @_;
    my $authz = _hdr($req, 'authorization');
    return ['MissingAuthenticationTokenException',
            'Request is missing Authentication Token', '-', 'no Authorization']
        if !defined $authz;
    my ($id, $date, $region, $service, $term, $signed, $sig) = $authz =~
        m{\AAWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/([^/,\s]+),\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})\z}
        or return ['IncompleteSignatureException',
                   'Authorization header requires \'Credential\', '
                   . '\'Signature\' and \'SignedHeaders\'', '-',
                   'malformed Authorization'];
    my @signed = split /;/, $signed;
    my $invalid_sig = 'The request signature we calculated does not match '
        . 'the signature you provided. Check your AWS Secret Access Key and '
        . 'signing method. Consult the service documentation for details.';

    # the key and its token
    my ($secret, $token) = (undef, _hdr($req, 'x-amz-security-token'));
    if ($self->{static} && $id eq $self->{static}[0]) {
        $secret = $self->{static}[1];
        return ['UnrecognizedClientException',
                'The security token included in the request is invalid.',
                $id, 'a session token with static keys']
            if defined $token;
    } elsif ($id =~ /\AASIAFAKE[A-Z]\d{11}\z/) {
        $secret = secret_for($id);
        return ['UnrecognizedClientException',
                'The security token included in the request is invalid.',
                $id, 'no session token'] if !defined $token;
        my $problem = token_problem($id, $token);
        return ['UnrecognizedClientException',
                'The security token included in the request is invalid.',
                $id, $problem] if $problem;
        my $exp = token_expiry($token);
        my $now = Time::HiRes::time();
        return ['ExpiredTokenException',
                'The security token included in the request is expired',
                $id, sprintf('expired %.3f s ago', $now - $exp)]
            if $now >= $exp;
        return ['InvalidSignatureException', $invalid_sig, $id,
                'x-amz-security-token is not signed']
            if !grep { $_ eq 'x-amz-security-token' } @signed;
    } else {
        return ['UnrecognizedClientException',
                'The security token included in the request is invalid.',
                $id, 'unknown access key id'];
    }

    # the scope and the date
    my $amz_date = _hdr($req, 'x-amz-date') // '';
    return ['IncompleteSignatureException', 'X-Amz-Date is missing or '
            . 'malformed', $id, "X-Amz-Date '$amz_date'"]
        if $amz_date !~ /\A(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z\z/;
    my $t = Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1);
    return ['InvalidSignatureException', 'Signature expired: '
            . "$amz_date is now earlier or later than 15 min of now", $id,
            'X-Amz-Date off by more than 15 min']
        if abs(time - $t) > 900;
    return ['InvalidSignatureException',
            "Credential should be scoped to a valid date: "
            . substr($amz_date, 0, 8), $id, "scope date $date"]
        if $date ne substr($amz_date, 0, 8);
    return ['InvalidSignatureException', 'Credential should be scoped to a '
            . "valid region, not '$region'.", $id, "scope region $region"]
        if $region ne $self->{region};
    return ['InvalidSignatureException', 'Credential should be scoped to '
            . "correct service: 'dynamodb'.", $id, "scope service $service"]
        if $service ne 'dynamodb';
    return ['InvalidSignatureException', 'Credential should be scoped with '
            . "a valid terminator: 'aws4_request', not '$term'.", $id,
            "scope terminator $term"] if $term ne 'aws4_request';
    for my $need (qw(host x-amz-date)) {
        return ['InvalidSignatureException', "'$need' must be a signed "
                . 'header', $id, "$need not signed"]
            if !grep { $_ eq $need } @signed;
    }
    return ['InvalidSignatureException', $invalid_sig, $id,
            'SignedHeaders not sorted or repeated']
        if join(';', sort { $a cmp $b } @signed) ne $signed
        || keys(%{{ map { $_ => 1 } @signed }}) != @signed;
    # what the module signs as Host must be this front's address
    if ($self->{check_host}
        && (_hdr($req, 'host') // '') ne "127.0.0.1:$self->{port}")
    {
        return ['InvalidSignatureException', $invalid_sig, $id,
                'Host is ' . (_hdr($req, 'host') // '(none)')
                . ", not 127.0.0.1:$self->{port}"];
    }

    my $creq = canonical_request($req->{method}, $req->{path},
                                 $req->{query}, $req->{headers}, \@signed,
                                 $req->{body});
    return ['InvalidSignatureException', $invalid_sig, $id,
            'a signed header is missing'] if !defined $creq;
    my $want = _signature($secret, $date, $region, $service, $amz_date,
                          $creq);
    return ['InvalidSignatureException', $invalid_sig, $id,
            'signature mismatch'] if $want ne $sig;
    return undef;
}

sub _front_connection {
    my ($self, $c, $master) = @_;
    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
    my $ddb = {};
    my $sel = IO::Select->new($c);
    my ($in, $cont) = ('', 0);
    while (1) {
        POSIX::_exit(0) if getppid() != $master;
        if (!$sel->can_read(0.5)) {
            next;
        }
        my $n = sysread($c, my $buf, 65536);
        return if !$n;
        $in .= $buf;
        while (my $req = _take_request(\$in, $c, \$cont)) {
            return if !ref $req;
            my ($status, $headers, $body) = $self->_front_request($req, $ddb);
            my $close = (_hdr($req, 'connection') // '') =~ /close/i;
            _write_all($c, _answer_bytes($status, $headers, $body, $close));
            return if $close;
        }
    }
}

sub _front_request {
    my ($self, $req, $ddb) = @_;
    if ($req->{path} eq '/__front_stats') {
        return (200, ['Content-Type', 'application/json'],
                $JSON->encode(_front_summary(
                    _read_file($self->{stats_file}) // '')));
    }
    if (my $bad = $self->verify($req)) {
        my ($type, $message, $id, $why) = @$bad;
        $self->_front_log('reject', $type, $id, $why);
        return _ddb_error($type, $message);
    }
    my ($id) = (_hdr($req, 'authorization') // '') =~ /Credential=([^\/]+)/;
    my $fwd = "$req->{method} $req->{target} HTTP/1.1\r\n"
            . "Host: 127.0.0.1:$self->{ddb_port}\r\n";
    for my $h (qw(content-type x-amz-target x-amz-date x-amz-security-token
                  authorization)) {
        my $v = _hdr($req, $h);
        $fwd .= "$h: $v\r\n" if defined $v;
    }
    $fwd .= 'Content-Length: ' . length($req->{body}) . "\r\n\r\n"
          . $req->{body};
    my ($r, $err);
    for my $try (1, 2) {
        # the kept connection may have been closed meanwhile: once more
        ($r, $err) = $self->_ddb_exchange($ddb, $fwd);
        last if $r;
    }
    if (!$r) {
        $self->_front_log('upstream', '-', $id // '-', $err);
        return (500, ['Content-Type', 'application/x-amz-json-1.0'],
                '{"__type":"com.amazonaws.dynamodb.v20120810#'
                . 'InternalServerError","message":"front: DynamoDB Local '
                . 'unreachable"}');
    }
    $self->_front_log('ok', '-', $id // '-', $r->{status});
    my @h;
    for my $k (qw(content-type x-amzn-requestid x-amz-crc32)) {
        my $v = $r->{headers}{$k} // next;
        push @h, $k, $v;
    }
    return ($r->{status}, \@h, $r->{content});
}

# one request to DynamoDB Local on the kept connection ($ddb->{sock});
# returns ({ status, headers, content }) or (undef, why)
sub _ddb_exchange {
    my ($self, $ddb, $bytes) = @_;
    if (!$ddb->{sock}) {
        $ddb->{sock} = IO::Socket::INET->new(
            PeerAddr => "127.0.0.1:$self->{ddb_port}", Timeout => 10)
            or return (undef, "connect: $!");
        setsockopt($ddb->{sock}, IPPROTO_TCP, TCP_NODELAY, 1);
        $ddb->{in} = '';
    }
    my $s = $ddb->{sock};
    my $fail = sub { close $s; delete $ddb->{sock}; return (undef, $_[0]) };
    defined syswrite($s, $bytes) or return $fail->("write: $!");
    my $in = '';
    my ($r, $end);
    while (1) {
        if (!$r && ($end = index($in, "\r\n\r\n")) >= 0) {
            $r = _parse_answer_head(substr($in, 0, $end));
            substr($in, 0, $end + 4, '');
        }
        if ($r) {
            my $te = $r->{headers}{'transfer-encoding'} // '';
            if ($te =~ /chunked/i) {
                my ($body, $pos) = ('', 0);
                my $complete;
                while (1) {
                    my $nl = index($in, "\r\n", $pos);
                    last if $nl < 0;
                    my $size = hex substr($in, $pos, $nl - $pos);
                    if ($size == 0) {
                        my $fin = index($in, "\r\n\r\n", $nl - 2 < 0 ? 0
                                                              : $nl - 2);
                        $complete = 1 if $fin >= 0;
                        last;
                    }
                    last if length($in) < $nl + 2 + $size + 2;
                    $body .= substr($in, $nl + 2, $size);
                    $pos = $nl + 2 + $size + 2;
                }
                if ($complete) {
                    $r->{content} = $body;
                    last;
                }
            } else {
                my $len = $r->{headers}{'content-length'} // 0;
                if (length($in) >= $len) {
                    $r->{content} = substr($in, 0, $len);
                    last;
                }
            }
        }
        my $n = sysread($s, my $buf, 65536);
        return $fail->($n // 0 ? "read: $!" : 'closed') if !$n;
        $in .= $buf;
    }
    $fail->('close') if ($r->{headers}{connection} // '') =~ /close/i;
    return ($r);
}

1;
