# The notes application (examples/notes/): a second API with no C, only
# declarations in nginx.conf.  The suite includes the example's own files
# (notes-http.conf, notes-locations.conf) unchanged, and creates the table
# from the example's table.json, so what is tested is what is shipped.
#
# Callers come from the X-Test-Sub header (DdbmModule's ddbm_identity
# ... unsafe_client_supplied).  Data: alice has five notes (ids in
# ascending order, for paging), bob one, carol two (for update and
# delete); dave and erin start with none and create theirs here; fred
# and gina create notes with slugs (a TransactWriteItems); ivan has four
# notes updated at four times (GET /notes/recent: a Query on a keys-only
# index, then a BatchGetItem), judy none.

use Test::Nginx::Socket 'no_plan';
use Test::More;
use Cwd ();
use DdbmTest qw(:DEFAULT slurp);
use DdbmModule;
use DdbmFake;
use JSON::PP ();
use File::Temp ();

our %U = (
    alice => '3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01',
    bob   => '5a2e3b01-7d5c-4f9b-8c2d-1e3f5a7b9c12',
    carol => '7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23',
    dave  => '9c405d23-9f7e-4b1d-ae4f-3a5b7c9d1e34',
    erin  => 'bd516e34-a08f-4c2e-bf50-4b6c8d0e2f45',
    fred  => 'ce627f45-b190-4d3f-8061-5c7d9e1f3056',
    gina  => 'df738056-c2a1-4e40-9172-6d8eaf204167',
    hank  => 'e0849167-d3b2-4f51-a283-7e9fb0315278',
    ivan  => 'f195a278-e4c3-4a62-b394-8fa0c1426389',
    judy  => '02a6b389-f5d4-4b73-84a5-90b1d253749a',
    zed   => '13b7c49a-06e5-4c84-95b6-a1c2e364850b',
);

# the BatchGetItem bodies the fake receives (one a line), checked below
our $BATCH_LOG = File::Temp->new(TEMPLATE => 'ddbm-t600-batch-XXXXXX',
                                 TMPDIR => 1);
$ENV{DDBM_FAKE_REQUESTS} = $BATCH_LOG->filename;

# the scripted fake DynamoDB, for a transaction whose answer is lost
DdbmFake::start();
our $FAKE = DdbmFake::location('64k');

# alice's notes in ascending id order, as the list pages them
our @A = (
    ['0b6f3c52-8e1d-4a7b-9c2e-1f3a5b7c9d01', 'Standup notes', 'work'],
    ['2c7e4d63-9f2e-4b8c-8d3f-2a4b6c8d0e12', 'Paint the fence', 'home'],
    ['4d8f5e74-a03f-4c9d-9e40-3b5c7d9e1f23', 'Books to read', 'general'],
    ['6e906f85-b140-4dae-af51-4c6d8e0f2034', 'Quarterly plan', 'work'],
    ['8fa17096-c251-4ebf-b062-5d7e9f103145', 'A better mousetrap', 'ideas'],
);
our $B1 = 'a0b281a7-d362-4fc0-8173-6e8f0a214256';    # bob's, tag work
our $C1 = 'b1c392b8-e473-4ad1-9284-7f9a1b325367';    # carol's, version 3
our $C2 = 'c2d4a3c9-f584-4be2-a395-80ab2c436478';    # carol's, to delete

our $T0 = '2026-03-01T09:00:00.000000+00:00';
our $T1 = '2026-03-02T17:30:00.000000+00:00';

# ivan's notes: [id, title, tag, updated at HH:00 on 2026-03-05]; newest
# first they are 1, 2, 0, 3 (not their ids' order, nor the order written)
our @I = (
    ['e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a51', 'Ivan one', 'work', 10],
    ['1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c52', 'Ivan two', 'home', 12],
    ['c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e53', 'Ivan three', 'ideas', 11],
    ['5d6e7f80-9a1b-4c2d-9e3f-4a5b6c7d8e54', 'Ivan four', 'general', 9],
);
# a row that names ivan as its owner in another partition (no route
# writes one): the index lists it, ivan's partition has no such note
our $STRAY = 'f7a8b9c0-d1e2-4f3a-8b4c-5d6e7f8a9b55';
sub ivan_time { sprintf '2026-03-05T%02d:00:00.000000+00:00', $_[0] }

our $NOTES = Cwd::abs_path('examples/notes')
    or die "600-notes.t: run from the repository's top directory\n";
$ENV{TEST_NGINX_NOTES_DIR} = $NOTES;

# the messaging API's table (DdbmModule's http config names one), unused
ddbm_fresh_table('ddbm_t600');

# the notes table, from the example's CreateTable input, as the README
# says to create it
my $spec = JSON::PP::decode_json(slurp("$NOTES/table.json"));
our $TABLE = $spec->{TableName};
my ($out, $status, $err) = ddbm_run('--table', $TABLE, '--yes', 'drop');
die "600-notes.t: dropping $TABLE failed:\n$out$err"
    if $status != 0 && "$out$err" !~ /ResourceNotFound|not found|does not exist/i;
ddbm_cli('create-table', "$NOTES/table.json");

sub put_note {
    my ($owner, $id, $title, $body, $tag, $version) = @_;
    ddbm_ddb('PutItem', { TableName => $TABLE, Item => {
        pk => { S => "USER#$owner" }, sk => { S => $id },
        owner_id => { S => $owner }, title => { S => $title },
        body => { S => $body }, tag => { S => $tag },
        version => { N => "$version" },
        created_at => { S => $T0 }, updated_at => { S => $T1 },
    } });
}

put_note($U{alice}, $_->[0], $_->[1], "about: $_->[1]", $_->[2], 1) for @A;
put_note($U{bob}, $B1, "Bob's standup", 'not for alice', 'work', 1);
put_note($U{carol}, $C1, 'Draft', 'first words', 'draft', 3);
put_note($U{carol}, $C2, 'Scratch', 'to be deleted', 'draft', 1);

sub put_row {
    my ($pk_owner, $owner, $id, $title, $tag, $updated) = @_;
    ddbm_ddb('PutItem', { TableName => $TABLE, Item => {
        pk => { S => "USER#$pk_owner" }, sk => { S => $id },
        owner_id => { S => $owner }, title => { S => $title },
        body => { S => "about: $title" }, tag => { S => $tag },
        version => { N => '1' },
        created_at => { S => $T0 }, updated_at => { S => $updated },
    } });
}

put_row($U{ivan}, $U{ivan}, $_->[0], $_->[1], $_->[2], ivan_time($_->[3]))
    for @I;
# the newest row of the index: no note of ivan's
put_row($U{zed}, $U{ivan}, $STRAY, 'Not ivan\'s', 'work', ivan_time(13));
# the oldest: the id of ivan's third note, asked once
put_row($U{zed}, $U{ivan}, $I[2][0], 'Not ivan\'s either', 'work',
        ivan_time(8));

# ivan's notes as GET /notes/recent answers them, by index into @I
sub ivan_recent {
    return '[' . join(',', map {
        qq({"id":"$I[$_][0]","title":"$I[$_][1]","body":"about: $I[$_][1]",)
      . qq("tag":"$I[$_][2]","version":1,"updated_at":")
      . ivan_time($I[$_][3]) . '"}' } @_) . ']';
}

sub ivan_tags {
    return '[' . join(',', map { qq({"id":"$I[$_][0]","tag":"$I[$_][2]"}) }
                           @_) . ']';
}

# TESTS 41-44: "when missing" naming a BatchGetItem, and one_of over its
# items and over the fallback's.  The route is the suite's own, not the
# example's: the notes the keys-only index names, else (the BatchGetItem
# found none) the caller's partition; the tag asked must be one of theirs
our $RECENT_TAG = <<'_EOC_';
    add_header X-Calls $ddbm_calls always;
    location = /t600/recent-tag {
        ddbm_table  ddbm-notes;
        ddbm_route recent_tag GET {
            validate arg:limit note_page optional *=invalid_limit@400;
            validate arg:tag   note_tag  *=invalid_tag@400;

            step recent Query note {
                index  notes-by-update;
                key    owner_id=identity;
                order  desc;
                limit  arg:limit|10;
            }
            step full BatchGetItem note {
                key      user=identity id=recent[].id;
                project  sk tag;
            }
            step mine Query note {
                when missing full;
                key      user=identity;
                limit    10;
                project  sk tag;
            }
            check found full|mine else 404 no_notes "no note at all";
            check one_of arg:tag full[].tag mine[].tag
                  else 404 tag_not_found "no such tag among the notes";

            answer full {
                array;
                field id sk;
                field tag tag;
            }
        }
    }
_EOC_

# the answers' shapes: every field, and the list's (projected) fields
sub note_json {
    my ($id, $title, $body, $tag, $version, $created, $updated) = @_;
    return qq({"id":"$id","title":"$title","body":"$body","tag":"$tag",)
         . qq("version":$version,"created_at":"$created",)
         . qq("updated_at":"$updated"});
}

sub row_json {
    my ($id, $title, $tag, $version, $updated) = @_;
    return qq({"id":"$id","title":"$title","tag":"$tag",)
         . qq("version":$version,"updated_at":"$updated"});
}

# alice's notes $from..$to as GET /notes lists them
sub alice_rows {
    my ($from, $to) = @_;
    return '[' . join(',', map { row_json($A[$_][0], $A[$_][1], $A[$_][2],
                                          1, $T1) } $from .. $to) . ']';
}

sub exact_re {
    my ($s) = @_;
    return qr/^\Q$s\E$/s;
}

# an array holding exactly these ids, in any order (an index's order
# among equal keys is DynamoDB's choice)
sub ids_in_any_order_re {
    my @ids = @_;
    my $n = @ids;
    my $re = '^\[(?=(?:.*?"id":){' . $n . '}(?!.*?"id":))';
    $re .= "(?=.*\"id\":\"\Q$_\E\")" for @ids;
    return qr/$re/s;
}

sub preprocess {
    my $block = shift;
    $block->set_value('http_config',
                      "    include \$TEST_NGINX_NOTES_DIR/notes-http.conf;\n")
        if !defined $block->http_config;
    $block->set_value('config',
                      "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n")
        if !defined $block->config;
    DdbmModule::preprocess($block);
}

no_shuffle();
add_block_preprocessor(\&preprocess);

run_tests();

# What the routes wrote, read straight from DynamoDB: the layout the
# declarations promise (and the index needs), with typed attributes.
my $scan = ddbm_ddb('Scan', { TableName => $TABLE, ConsistentRead =>
                              JSON::PP::true() });
my @dave = grep { $_->{pk}{S} eq "USER#$U{dave}" } @{ $scan->{Items} };
is(scalar @dave, 2, 'dave has the two notes he created, no more');
for my $item (@dave) {
    like($item->{sk}{S}, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
         'a created note: sk is a uuid4');
    is($item->{owner_id}{S}, $U{dave}, 'a created note: owner_id is its owner');
    is($item->{version}{N}, '1', 'a created note: version 1, a number');
}
my ($c1) = grep { $_->{sk}{S} eq $C1 } @{ $scan->{Items} };
is($c1 && $c1->{version}{N}, '4', "carol's note: one update applied, not two");
ok(!grep({ $_->{sk}{S} eq $C2 } @{ $scan->{Items} }), "carol's deleted note is gone");
ok(scalar(grep { $_->{sk}{S} eq $A[4][0] } @{ $scan->{Items} }),
   "alice's note survived carol's delete");

# POST /notes/slugs: the transaction wrote both items or neither.  fred's
# second note with the same slug was cancelled: no note of his second
# title, and the slug row still holds the first title.
my @fred = grep { $_->{pk}{S} eq "USER#$U{fred}" } @{ $scan->{Items} };
is(scalar @fred, 1, 'fred: one note, none left by the cancelled transaction');
is($fred[0] && $fred[0]{slug}{S}, 'groceries', 'fred: the note has its slug');
is($fred[0] && $fred[0]{title}{S}, 'Groceries', 'fred: the first title');
my @fslug = grep { $_->{pk}{S} eq "SLUG#$U{fred}" } @{ $scan->{Items} };
is(scalar @fslug, 1, 'fred: one slug row');
is($fslug[0] && $fslug[0]{sk}{S}, 'groceries', 'fred: the slug row is keyed by the slug');
is($fslug[0] && $fslug[0]{title}{S}, 'Groceries',
   'fred: the slug row is the first transaction\'s, not overwritten');
ok(!grep({ ($_->{title}{S} // '') eq 'Not groceries' } @{ $scan->{Items} }),
   'the cancelled transaction wrote nothing');
is(scalar(grep { $_->{pk}{S} eq "SLUG#$U{gina}"
                 && $_->{sk}{S} eq 'groceries' } @{ $scan->{Items} }), 1,
   'gina: her own slug "groceries"');
my @hank = grep { $_->{pk}{S} eq "USER#$U{hank}" } @{ $scan->{Items} };
is(scalar(grep { $_->{title}{S} eq 'Retried' } @hank), 1,
   'hank: the transaction retried after its lost answer was applied once');
is(scalar(grep { $_->{title}{S} eq 'Contended' } @hank), 1,
   'hank: the transaction retried after a conflict was applied once');
is(scalar @hank, 2, 'hank: no note of the throttled or ever-conflicting '
                    . 'transactions');
ok(!grep({ $_->{pk}{S} =~ /^SLUG#/ && exists $_->{owner_id} } @{ $scan->{Items} }),
   'slug rows have no owner_id: never in the notes-by-tag index');

# GET /notes/recent's BatchGetItem requests, as the fake received them
# (TESTS 36, 37 and 37b, in that order): typed keys, every one in ivan's
# partition, the projection and ConsistentRead; the second call of TEST
# 36 asks only what the first left unprocessed
my @batch = map { JSON::PP::decode_json($_) }
            grep { /\S/ } split /\n/, slurp($BATCH_LOG->filename);
my @asked = map { [ map { $_->{sk}{S} } @{ $_->{RequestItems}{$TABLE}{Keys} } ] }
            @batch;
my @ids = ($STRAY, map { $I[$_][0] } 1, 2, 0, 3);
is(scalar @batch, 8, 'the fake: 2 BatchGetItem calls, then 4, then 2');
is_deeply($asked[0], \@ids, 'recent: the keys in the Query\'s order, '
                            . 'each once');
is_deeply($asked[1], [@ids[2 .. 4]], 'recent: the second call asks the '
                                    . 'three keys left unprocessed');
is_deeply($asked[$_], \@ids, "throttled: call $_ asks every key again")
    for 2 .. 5;
is_deeply([ @asked[6, 7] ], [ \@ids, [@ids[2 .. 4]] ],
          'metrics: the same two calls as TEST 36');
my $first = $batch[0]{RequestItems}{$TABLE} // {};
is(scalar(grep { $_->{pk}{S} ne "USER#$U{ivan}" } @{ $first->{Keys} }), 0,
   'recent: every key in the caller\'s partition');
is(join(',', map { $first->{ExpressionAttributeNames}{$_} }
             split /, /, $first->{ProjectionExpression} // ''),
   'sk,title,body,tag,version,updated_at,pk',
   'recent: the projection, and pk to match items to keys');
ok($first->{ConsistentRead}, 'recent: ConsistentRead');

__DATA__

=== TEST 1: create: 201, the note as written, a new id, version 1
--- request
POST /notes
{"title":"Groceries","body":"milk, eggs","tag":"Home"}
--- more_headers
X-Test-Sub: 9c405d23-9f7e-4b1d-ae4f-3a5b7c9d1e34
--- error_code: 201
--- response_headers
Content-Type: application/json
--- response_body_like eval
DdbmModule::json_re('{"id":"<UUID>","title":"Groceries","body":"milk, eggs","tag":"home","version":1,"created_at":"<TIME>","updated_at":"<TIME>"}')
--- no_error_log
[error]



=== TEST 2: create: no tag is "general"; an empty body is a body
--- request
POST /notes
{"title":"Empty","body":""}
--- more_headers
X-Test-Sub: 9c405d23-9f7e-4b1d-ae4f-3a5b7c9d1e34
--- error_code: 201
--- response_body_like eval
DdbmModule::json_re('{"id":"<UUID>","title":"Empty","body":"","tag":"general","version":1,"created_at":"<TIME>","updated_at":"<TIME>"}')



=== TEST 3: create: a title of 200 characters is not too long in bytes
--- request eval
"POST /notes\n" . '{"title":"' . ("\xc3\xa9" x 200) . '","body":"b"}'
--- more_headers
X-Test-Sub: bd516e34-a08f-4c2e-bf50-4b6c8d0e2f45
--- error_code: 201
--- response_body_like eval
qr/^\{"id":"[0-9a-f-]{36}","title":"/



=== TEST 4: create: every failing check answers at once, in one 422
--- request eval
["POST /notes\n" . '{"title":"' . ('x' x 201) . '","tag":"bad tag!"}',
 "POST /notes\n" . '{"title":"","body":"ok","tag":""}',
 "POST /notes\n" . '{"body":"no title"}',
 "POST /notes\n" . '{"title":"' . ("\xc3\xa9" x 201) . '","body":"b","tag":"' . ('t' x 33) . '"}']
--- more_headers
X-Test-Sub: 9c405d23-9f7e-4b1d-ae4f-3a5b7c9d1e34
--- error_code eval
[422, 422, 422, 422]
--- response_body eval
['["title_too_long","body_missing","tag_invalid"]',
 '["title_blank","tag_invalid"]',
 '["title_missing"]',
 '["title_too_long","tag_invalid"]']



=== TEST 5: list: dave's two notes, nothing the 422s refused
--- request
GET /notes
--- more_headers
X-Test-Sub: 9c405d23-9f7e-4b1d-ae4f-3a5b7c9d1e34
--- response_headers
Content-Type: application/json
!X-Next-Cursor
--- response_body_like eval
qr/^\[(?=(?:.*?"id":){2}(?!.*?"id":))(?=.*"title":"Groceries","tag":"home","version":1,)(?=.*"title":"Empty","tag":"general","version":1,)/s



=== TEST 6: tags: the note created with tag "Home" is in the index as "home"
--- request
GET /notes/tags/home
--- more_headers
X-Test-Sub: 9c405d23-9f7e-4b1d-ae4f-3a5b7c9d1e34
--- response_body_like eval
DdbmModule::json_re('[{"id":"<UUID>","title":"Groceries","tag":"home","version":1,"updated_at":"<TIME>"}]')



=== TEST 7: read: one of my notes, every field
--- request eval
"GET /notes/$main::A[0][0]"
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- response_headers
Content-Type: application/json
--- response_body eval
main::note_json($main::A[0][0], 'Standup notes', 'about: Standup notes',
                'work', 1, $main::T0, $main::T1)
--- no_error_log
[error]



=== TEST 8: read: someone else's note, an unknown id, a malformed id: 404
--- request eval
["GET /notes/$main::A[0][0]",
 "GET /notes/0f0e0d0c-0b0a-4908-8706-050403020100",
 "GET /notes/not-a-uuid",
 "GET /notes/$main::A[0][0]%23",
 "GET /notes/" . uc($main::A[0][0])]
--- more_headers
X-Test-Sub: 5a2e3b01-7d5c-4f9b-8c2d-1e3f5a7b9c12
--- error_code eval
[404, 404, 404, 404, 404]
--- response_body_like eval
[ (qr/^\{"error":"note_not_found","message":"no such note[^"]*"\}$/) x 5 ]



=== TEST 9: list: all five of alice's notes by id, no cursor
--- request
GET /notes
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- response_headers
!X-Next-Cursor
--- response_body eval
main::alice_rows(0, 4)



=== TEST 10: paging: two, then two after the cursor, then the last one
--- request eval
["GET /notes?limit=2",
 "GET /notes?limit=2&cursor=$main::A[1][0]",
 "GET /notes?limit=2&cursor=$main::A[3][0]"]
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Next-Cursor: $main::A[1][0]",
 "X-Next-Cursor: $main::A[3][0]",
 "!X-Next-Cursor"]
--- response_body eval
[main::alice_rows(0, 1), main::alice_rows(2, 3), main::alice_rows(4, 4)]



=== TEST 11: paging: a bad limit or cursor is 400, not a page
--- request eval
["GET /notes?limit=0", "GET /notes?limit=101", "GET /notes?limit=abc",
 "GET /notes?cursor=not-a-uuid"]
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[qr/^\{"error":"invalid_limit",/, qr/^\{"error":"invalid_limit",/,
 qr/^\{"error":"invalid_limit",/, qr/^\{"error":"invalid_cursor",/]



=== TEST 12: tags: the index gives my notes with the tag, not bob's
--- request eval
["GET /notes/tags/work", "GET /notes/tags/WORK", "GET /notes/tags/ideas",
 "GET /notes/tags/nothing"]
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[main::ids_in_any_order_re($main::A[0][0], $main::A[3][0]),
 main::ids_in_any_order_re($main::A[0][0], $main::A[3][0]),
 main::exact_re('[' . main::row_json($main::A[4][0], 'A better mousetrap',
                                      'ideas', 1, $main::T1) . ']'),
 qr/^\[\]$/]



=== TEST 13: tags: bob sees only his own "work" note
--- request
GET /notes/tags/work
--- more_headers
X-Test-Sub: 5a2e3b01-7d5c-4f9b-8c2d-1e3f5a7b9c12
--- response_body eval
qq([{"id":"$main::B1","title":"Bob's standup","tag":"work","version":1,"updated_at":"$main::T1"}])



=== TEST 14: tags: a tag that is not one is 400
--- request eval
["GET /notes/tags/bad%20tag", "GET /notes/tags/" . ('t' x 33),
 "GET /notes/tags/a%23b"]
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- error_code eval
[400, 400, 400]
--- response_body_like eval
[ (qr/^\{"error":"invalid_tag",/) x 3 ]



=== TEST 15: update: the version read is current: saved, version 4
--- request eval
"PUT /notes/$main::C1\n"
. '{"title":"Final","body":"last words","tag":"Done","version":3}'
--- more_headers
X-Test-Sub: 7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like eval
DdbmModule::json_re(main::note_json($main::C1, 'Final', 'last words',
                                    'done', 4, $main::T0, '<TIME>'))
--- no_error_log
[error]



=== TEST 16: update: the same version again is a conflict, 409
--- request eval
"PUT /notes/$main::C1\n"
. '{"title":"Stale","body":"written from an old copy","version":3}'
--- more_headers
X-Test-Sub: 7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23
--- error_code: 409
--- response_body_like eval
qr/^\{"error":"version_conflict"/



=== TEST 17: update: after the conflict the note is the first update's
--- request eval
"GET /notes/$main::C1"
--- more_headers
X-Test-Sub: 7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23
--- response_body_like eval
DdbmModule::json_re(main::note_json($main::C1, 'Final', 'last words',
                                    'done', 4, $main::T0, '<TIME>'))



=== TEST 18: update: an unknown note, or someone else's, is 404, not 409
--- request eval
["PUT /notes/0f0e0d0c-0b0a-4908-8706-050403020100\n"
 . '{"title":"t","body":"b","version":1}',
 "PUT /notes/$main::A[0][0]\n" . '{"title":"t","body":"b","version":1}',
 "PUT /notes/nope\n" . '{"title":"t","body":"b","version":1}']
--- more_headers
X-Test-Sub: 7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23
--- error_code eval
[404, 404, 404]
--- response_body_like eval
[ (qr/^\{"error":"note_not_found",/) x 3 ]



=== TEST 19: update: every failing check at once, 422, nothing written
--- request eval
["PUT /notes/$main::C1\n" . '{"title":"","version":"x"}',
 "PUT /notes/$main::C1\n" . '{"title":"t","body":"b","tag":"no way","version":0}',
 "PUT /notes/$main::C1\n" . '{"title":"t","body":"b"}']
--- more_headers
X-Test-Sub: 7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23
--- error_code eval
[422, 422, 422]
--- response_body eval
['["title_blank","body_missing","version_invalid"]',
 '["tag_invalid","version_invalid"]',
 '["version_missing"]']



=== TEST 20: delete: 204, then the note is gone, then deleting it is 404
--- request eval
["DELETE /notes/$main::C2", "GET /notes/$main::C2", "DELETE /notes/$main::C2"]
--- more_headers
X-Test-Sub: 7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23
--- error_code eval
[204, 404, 404]
--- response_body_like eval
[qr/^$/, qr/^\{"error":"note_not_found",/, qr/^\{"error":"note_not_found",/]



=== TEST 21: delete: someone else's note is 404, and it stays
--- request eval
["DELETE /notes/$main::A[4][0]", "DELETE /notes/not-a-uuid"]
--- more_headers
X-Test-Sub: 7b3f4c12-8e6d-4a0c-9d3e-2f4a6b8c0d23
--- error_code eval
[404, 404]
--- response_body_like eval
[qr/^\{"error":"note_not_found",/, qr/^\{"error":"note_not_found",/]



=== TEST 22: delete: the owner still reads the note carol could not delete
--- request eval
"GET /notes/$main::A[4][0]"
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- error_code: 200
--- response_body eval
main::note_json($main::A[4][0], 'A better mousetrap',
                'about: A better mousetrap', 'ideas', 1, $main::T0,
                $main::T1)



=== TEST 23: no identity: 401 {} on every route, before any check
--- request eval
["POST /notes\n" . '{"title":"t","body":"b"}',
 "GET /notes",
 "GET /notes/$main::A[0][0]",
 "PUT /notes/$main::A[0][0]\n" . '{"title":"t","body":"b","version":1}',
 "DELETE /notes/$main::A[0][0]",
 "GET /notes/tags/work"]
--- error_code eval
[401, 401, 401, 401, 401, 401]
--- response_body eval
[('{}') x 6]



=== TEST 24: a method no route declares: 405
--- request eval
["PATCH /notes/$main::A[0][0]\n{}", "DELETE /notes"]
--- more_headers
X-Test-Sub: 3f1d2a90-6c4b-4e8a-9b1c-0d2e4f6a8b01
--- error_code eval
[405, 405]




=== TEST 25: slugs: a note and its slug in one transaction: 201, the note
--- request
POST /notes/slugs
{"slug":"Groceries","title":"Groceries","body":"milk"}
--- more_headers
X-Test-Sub: ce627f45-b190-4d3f-8061-5c7d9e1f3056
--- error_code: 201
--- response_body_like eval
DdbmModule::json_re('{"id":"<UUID>","slug":"groceries","title":"Groceries","body":"milk","tag":"general","version":1,"created_at":"<TIME>","updated_at":"<TIME>"}')
--- no_error_log
[error]



=== TEST 26: slugs: the same slug again cancels the transaction: 409
--- request
POST /notes/slugs
{"slug":"groceries","title":"Not groceries","body":"bread"}
--- more_headers
X-Test-Sub: ce627f45-b190-4d3f-8061-5c7d9e1f3056
--- error_code: 409
--- response_body_like eval
qr/^\{"error":"slug_taken",/



=== TEST 27: slugs: nothing partial: fred lists the one note, not the second
--- request
GET /notes
--- more_headers
X-Test-Sub: ce627f45-b190-4d3f-8061-5c7d9e1f3056
--- error_code: 200
--- response_body_like eval
DdbmModule::json_re('[{"id":"<UUID>","title":"Groceries","tag":"general","version":1,"updated_at":"<TIME>"}]')



=== TEST 28: slugs: a slug is the caller's own: gina may use it too
--- request
POST /notes/slugs
{"slug":"groceries","title":"Gina's list","body":"","tag":"home"}
--- more_headers
X-Test-Sub: df738056-c2a1-4e40-9172-6d8eaf204167
--- error_code: 201
--- response_body_like eval
DdbmModule::json_re('{"id":"<UUID>","slug":"groceries","title":"Gina\'s list","body":"","tag":"home","version":1,"created_at":"<TIME>","updated_at":"<TIME>"}')



=== TEST 29: slugs: every check before the transaction, in one 422
--- request eval
["POST /notes/slugs\n" . '{"title":"t","body":"b"}',
 "POST /notes/slugs\n" . '{"slug":"no spaces","title":"","body":"b"}']
--- more_headers
X-Test-Sub: df738056-c2a1-4e40-9172-6d8eaf204167
--- error_code eval
[422, 422]
--- response_body eval
['["slug_missing"]',
 '["slug_invalid","title_blank"]']




=== TEST 30: slugs: the transaction applied but its answer lost (500): the retry carries the same ClientRequestToken, 201, one note
The fake relays the TransactWriteItems to DynamoDB Local, which applies
it, and answers 500; the module sends the same body again.  Without the
token DynamoDB would run it again and its conditions would fail: 409.
--- config eval
$main::FAKE
. "    ddbm_backend /_fake/TransactWriteItems/commit-e500,real/t600-30;\n"
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
--- request
POST /notes/slugs
{"slug":"retried","title":"Retried","body":"once"}
--- more_headers
X-Test-Sub: e0849167-d3b2-4f51-a283-7e9fb0315278
--- error_code: 201
--- response_body_like eval
DdbmModule::json_re('{"id":"<UUID>","slug":"retried","title":"Retried","body":"once","tag":"general","version":1,"created_at":"<TIME>","updated_at":"<TIME>"}')
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB TransactWriteItems: 500 InternalServerError, retry 1 in/]



=== TEST 31: slugs: a transaction cancelled by throttling is 503, not a taken slug
DynamoDB cancels it with ThrottlingError and no failed condition, every
time: the database is busy, so the engine sends it again (ddbm_retries),
then the route answers as a ThrottlingException (503, Retry-After), and
its TransactionCanceledException line (409 slug_taken) is not used.
--- config eval
$main::FAKE
. "    ddbm_backend /_fake/TransactWriteItems/txthrottle1/t600-31;\n"
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
--- request
POST /notes/slugs
{"slug":"throttled","title":"Throttled","body":"never"}
--- more_headers
X-Test-Sub: e0849167-d3b2-4f51-a283-7e9fb0315278
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body eval
'{"error":"dynamodb_throttled","message":"the database call failed"}'
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB TransactWriteItems: 400 transaction cancelled: throttled, retry 1 in/]




=== TEST 32: recent: ivan's notes, whole, newest first (the Query's order, not the BatchGetItem's); a note the index names under another partition is absent, one it names twice is answered once; 2 calls
--- config
    add_header X-Calls $ddbm_calls always;
    include $TEST_NGINX_NOTES_DIR/notes-locations.conf;
--- request
GET /notes/recent
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code: 200
--- response_headers
X-Calls: 2
--- response_body eval
main::ivan_recent(1, 2, 0, 3)
--- no_error_log
[error]



=== TEST 33: recent: limit=2: the two newest rows of the index, one of them no note of ivan's: one note
--- config
    add_header X-Calls $ddbm_calls always;
    include $TEST_NGINX_NOTES_DIR/notes-locations.conf;
--- request
GET /notes/recent?limit=2
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code: 200
--- response_headers
X-Calls: 2
--- response_body eval
main::ivan_recent(1)



=== TEST 34: recent: judy has no note: [], the Query alone (no BatchGetItem of no key)
--- config
    add_header X-Calls $ddbm_calls always;
    include $TEST_NGINX_NOTES_DIR/notes-locations.conf;
--- request
GET /notes/recent
--- more_headers
X-Test-Sub: 02a6b389-f5d4-4b73-84a5-90b1d253749a
--- error_code: 200
--- response_headers
X-Calls: 1
--- response_body: []



=== TEST 35: recent: a limit over 100 (what one BatchGetItem takes) is 400
--- request
GET /notes/recent?limit=101
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code: 400
--- response_body_like: "error":"invalid_limit"



=== TEST 36: recent: DynamoDB leaves three keys unprocessed: they are asked again, the answer is whole and in order; 3 calls
The fake relays the first two keys to DynamoDB Local and answers the
other three in UnprocessedKeys; the second BatchGetItem is relayed whole
and its items answered last first: the answer keeps the Query's order.
--- config eval
$main::FAKE
. "    ddbm_backend /_fake/batchreal/unprocessed-half,reversed/t600-36;\n"
. "    add_header X-Calls \$ddbm_calls always;\n"
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
--- request
GET /notes/recent
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code: 200
--- response_headers
X-Calls: 3
--- response_body eval
main::ivan_recent(1, 2, 0, 3)
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB BatchGetItem: 3 of 5 key\(s\) unprocessed, asked again in \d+ms/]
--- no_error_log
[error]



=== TEST 37: recent: keys still unprocessed after ddbm_retries (3) more calls: 503 with Retry-After, never a partial list
--- config eval
$main::FAKE
. "    ddbm_backend /_fake/batchreal/unprocessed-all/t600-37;\n"
. "    add_header X-Calls \$ddbm_calls always;\n"
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
--- request
GET /notes/recent
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code: 503
--- response_headers
Retry-After: 1
X-Calls: 5
--- response_body eval
'{"error":"dynamodb_throttled","message":"the database call failed"}'
--- error_log eval
[qr/\[error\] .* ddbm: DynamoDB BatchGetItem: 5 of 5 key\(s\) still unprocessed after 4 call\(s\): answered as throttled/]



=== TEST 37b: recent: the metrics count the BatchGetItem's two attempts under its own name, the second a retry of unprocessed keys
--- config eval
$main::FAKE
. "    ddbm_backend /_fake/batchreal/unprocessed-half,reversed/t600-37b;\n"
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
. "    location = /_status { ddbm_status; }\n"
--- pipelined_requests eval
['GET /notes/recent', 'GET /_status']
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code eval
[200, 200]
--- response_body_like eval
[main::exact_re(main::ivan_recent(1, 2, 0, 3)),
 qr/(?=.*^ddbm_dynamodb_attempts_total\{operation="BatchGetItem",table="\Q$main::TABLE\E"\} 2$)(?=.*^ddbm_dynamodb_retries_total\{operation="BatchGetItem",table="\Q$main::TABLE\E"\} 1$)(?=.*^ddbm_dynamodb_errors_total\{operation="BatchGetItem",table="\Q$main::TABLE\E",type="unprocessed_keys"\} 1$)(?=.*^ddbm_dynamodb_attempts_total\{operation="Query",table="\Q$main::TABLE\E"\} 1$)(?=.*^ddbm_dynamodb_attempts_total\{operation="other",table="\Q$main::TABLE\E"\} 0$)/ms]



=== TEST 38: slugs: a transaction cancelled by a conflict with another one is sent again: 201, one note
DynamoDB cancels it with TransactionConflict (another transaction held
the note's item) and no failed condition: nothing was written and the
request is not at fault, so the engine sends the same body again, which
DynamoDB Local applies.  Before, this answered the route's 409
slug_taken for a slug nobody had.
--- config eval
$main::FAKE
. "    ddbm_backend /_fake/TransactWriteItems/txconflict1,real/t600-38;\n"
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
--- request
POST /notes/slugs
{"slug":"contended","title":"Contended","body":"once"}
--- more_headers
X-Test-Sub: e0849167-d3b2-4f51-a283-7e9fb0315278
--- error_code: 201
--- response_body_like eval
DdbmModule::json_re('{"id":"<UUID>","slug":"contended","title":"Contended","body":"once","tag":"general","version":1,"created_at":"<TIME>","updated_at":"<TIME>"}')
--- error_log eval
[qr/\[warn\] .* ddbm: DynamoDB TransactWriteItems: 400 transaction cancelled: conflict, retry 1 in/]



=== TEST 39: slugs: the retried transaction wrote one note, and its slug is taken now
hank lists his notes: the ones of TEST 30 and TEST 38, once each; the
slug of TEST 32 again is the route's 409 (a condition failed, not a
conflict: never retried).
--- config eval
$main::FAKE
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
--- pipelined_requests eval
['GET /notes',
 "POST /notes/slugs\n{\"slug\":\"contended\",\"title\":\"Again\",\"body\":\"twice\"}"]
--- more_headers
X-Test-Sub: e0849167-d3b2-4f51-a283-7e9fb0315278
--- error_code eval
[200, 409]
--- response_body_like eval
[qr/\A\[(?=.*"title":"Retried")(?=.*"title":"Contended")(?!.*"title":"Retried".*"title":"Retried")(?!.*"title":"Contended".*"title":"Contended")[^\]]*\]\z/,
 qr/\A\{"error":"slug_taken"/]
--- no_error_log eval
[qr/transaction cancelled: conflict, retry/]



=== TEST 40: slugs: a conflict that outlasts the retries is 503 transaction_conflict, not a taken slug
--- config eval
$main::FAKE
. "    ddbm_backend /_fake/TransactWriteItems/txconflict1/t600-40;\n"
. "    include \$TEST_NGINX_NOTES_DIR/notes-locations.conf;\n"
--- request
POST /notes/slugs
{"slug":"forever","title":"Forever","body":"never"}
--- more_headers
X-Test-Sub: e0849167-d3b2-4f51-a283-7e9fb0315278
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body eval
'{"error":"transaction_conflict","message":"another request was changing the same items"}'
--- error_log eval
[qr/transaction cancelled: conflict, retry 1 in/,
 qr/transaction cancelled: conflict, retry 2 in/]



=== TEST 41: when missing, one_of: a BatchGetItem that found items skips the Query that stands in for it; its items are one_of's candidates: 2 calls
An engine route of this suite's own (not the example's): the notes of
the keys-only index, else (when the BatchGetItem finds none) the
caller's partition; the tag asked must be one of theirs.  ivan's
newest notes are found, so "mine" never runs; "general" is the tag of
the last of them, so every item is a candidate, not the first only.
--- config eval
$main::RECENT_TAG
--- request
GET /t600/recent-tag?tag=general
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code: 200
--- response_headers
X-Calls: 2
--- response_body eval
main::ivan_tags(1, 2, 0, 3)
--- no_error_log
[error]



=== TEST 42: one_of over a BatchGetItem's items: a tag none of them has is the check's 404, after the same 2 calls
--- config eval
$main::RECENT_TAG
--- request
GET /t600/recent-tag?tag=draft
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code: 404
--- response_headers
X-Calls: 2
--- response_body eval
'{"error":"tag_not_found","message":"no such tag among the notes"}'



=== TEST 43: when missing a BatchGetItem: it found nothing (the index's newest row is no note of ivan's), so "mine" runs and its items are the candidates: 3 calls
--- config eval
$main::RECENT_TAG
--- pipelined_requests eval
['GET /t600/recent-tag?limit=1&tag=general',
 'GET /t600/recent-tag?limit=1&tag=draft']
--- more_headers
X-Test-Sub: f195a278-e4c3-4a62-b394-8fa0c1426389
--- error_code eval
[200, 404]
--- response_headers eval
['X-Calls: 3', 'X-Calls: 3']
--- response_body eval
['[]',
 '{"error":"tag_not_found","message":"no such tag among the notes"}']



=== TEST 44: when missing a BatchGetItem of no key: judy's index is empty (no BatchGetItem call), "mine" runs and finds nothing: 404 no_notes, 2 calls
--- config eval
$main::RECENT_TAG
--- request
GET /t600/recent-tag?tag=work
--- more_headers
X-Test-Sub: 02a6b389-f5d4-4b73-84a5-90b1d253749a
--- error_code: 404
--- response_headers
X-Calls: 2
--- response_body eval
'{"error":"no_notes","message":"no note at all"}'
