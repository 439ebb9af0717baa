# Declared routes (issue 14): nginx -t is the compiler.  A good
# configuration (the three read routes of docs/declared-routes.md,
# section 4) passes; each refusal rule of the issue's item 3, and the
# name checks around them, is refused with the reason, the file and the
# line it is about.
# Plain Test::More: the runners cannot expect a configuration to fail.
# Needs TEST_NGINX_BINARY and TEST_NGINX_MODULE (scripts/test.sh sets them).

use strict;
use warnings;

use Test::More;
use DdbmConfigTest;

my $http = <<'_EOC_';
    ddbm_type  handle     string chars=1..64 charset=A-Za-z0-9_.- lower;
    ddbm_type  sub        string chars=1..128 charset=A-Za-z0-9_-;
    ddbm_type  page_size  int range=1..100;
    ddbm_type  text       string chars=1..1024;
    ddbm_type  name       string chars=0..256;

    ddbm_schema messages cruddur-messages {
        key    pk sk;
        index  message-group-sk-index message_group_uuid sk;

        item conversation_row {
            pk    "GRP#{owner:uuid}";
            sk    "{at:time}";
            attr  message_group_uuid uuid;
            attr  message text;
            attr  user_uuid uuid;
            attr  user_handle handle;
            attr  user_display_name name;
        }
        item message {
            pk    "MSG#{group:uuid}";
            sk    "{at:time}";
            attr  message_uuid uuid;
            attr  message text;
            attr  user_uuid uuid;
            attr  user_handle handle;
            attr  user_display_name name;
        }
        item conversation {
            pk    "GRPMETA#{group:uuid}";
            sk    "META";
            attr  a_uuid uuid;
            attr  a_handle handle;
            attr  a_display_name name;
            attr  b_uuid uuid;
            attr  b_handle handle;
            attr  b_display_name name;
            attr  last_sk time;
            attr  rev int;
        }
        item user_by_sub {
            pk    "USER#SUB#{sub:sub}";
            sk    "USER";
            attr  user_uuid uuid;
            attr  user_handle handle;
            attr  user_display_name name;
        }
        item user_by_handle {
            pk    "USER#HANDLE#{handle:handle}";
            sk    "USER";
            attr  user_uuid uuid;
            attr  user_handle handle;
            attr  user_display_name name;
        }
    }
_EOC_

my $server = <<'_EOC_';
        ddbm_identity $http_x_sub unsafe_client_supplied;

        location = /api/message_groups {
            ddbm_route list_conversations GET HEAD {
                validate arg:limit  page_size optional *=invalid_limit@400;
                validate arg:cursor time      optional *=invalid_cursor@400;

                step caller GetItem user_by_sub {
                    key sub=identity;  consistent on;  cache directory;
                }
                check found caller else 401;

                step rows Query conversation_row {
                    key owner=caller.user_uuid;
                    sort_key < arg:cursor;
                    order desc;  limit arg:limit|20;  consistent on;
                }
                answer rows {
                    array;
                    field uuid message_group_uuid;
                    field display_name user_display_name;
                    field handle user_handle;
                    field message message;
                    field created_at sk time;
                    cursor header X-Next-Cursor sk;
                }
            }
        }

        location ~ ^/api/messages/(?<group>[^/]+)$ {
            ddbm_route list_messages GET HEAD {
                validate path:group uuid *=conversation_not_found@404;
                validate arg:limit  page_size optional *=invalid_limit@400;
                validate arg:cursor time      optional *=invalid_cursor@400;

                step caller GetItem user_by_sub {
                    key sub=identity;  consistent on;  cache directory;
                }
                step meta GetItem conversation {
                    key group=path:group;  consistent on;  cache membership;
                }
                check found caller else 401;

                step rows Query conversation_row {
                    when missing meta;
                    index message-group-sk-index;
                    key message_group_uuid=path:group;
                    project pk;
                }
                check found meta|rows else 404 conversation_not_found "no such conversation";
                check one_of caller.user_uuid meta.a_uuid meta.b_uuid rows[].owner
                      else 403 not_a_participant
                           "only the conversation's participants may read or post to it";

                step page Query message {
                    key group=path:group;
                    sort_key < arg:cursor;
                    order desc;  limit arg:limit|20;  consistent on;
                }
                answer page {
                    array;  reverse;
                    field uuid message_uuid;
                    field display_name user_display_name;
                    field handle user_handle;
                    field message message;
                    field created_at sk time;
                    cursor header X-Next-Cursor sk;
                }
            }
        }

        location ~ ^/api/users/@(?<handle>[^/]+)/short$ {
            ddbm_route user_short GET HEAD {
                validate path:handle handle *=user_not_found@404;
                step user GetItem user_by_handle {
                    key handle=path:handle;  cache directory;
                }
                check found user else 404 user_not_found "no user has this handle";
                answer user {
                    object;
                    field uuid user_uuid;
                    field handle user_handle;
                    field display_name user_display_name;
                }
            }
        }
_EOC_

my ($rc, $out) = nginx_t_route($http, $server);
is($rc, 0, 'nginx -t accepts the three read routes of section 4')
    or diag($out);

# a write route: typed body values, expressions with their :values and
# #names, a nested answer object, a route's own DynamoDB error table
my $write = <<'_EOC_';
        location = /api/messages {
            ddbm_route post_message POST {
                validate body:message text empty=message_blank too_long=message_exceed_max_chars;
                validate body:message_group_uuid uuid optional empty=message_group_uuid_blank
                         invalid=message_group_uuid_invalid;
                step caller GetItem user_by_sub {
                    key sub=identity;  cache directory;
                }
                step meta GetItem conversation {
                    key group=body:message_group_uuid;
                    project a_uuid b_uuid rev;
                }
                check found caller else 401;
                check found meta else 404 conversation_not_found;
                check one_of caller.user_uuid meta.a_uuid meta.b_uuid else 403;
                step put PutItem message {
                    key group=body:message_group_uuid at=now();
                    set message_uuid=uuid4() message=body:message
                        message_group_uuid=body:message_group_uuid
                        user_uuid=caller.user_uuid user_handle=caller.user_handle
                        user_display_name=caller.user_display_name;
                    condition "attribute_not_exists(pk)";
                }
                step bump UpdateItem conversation {
                    key group=body:message_group_uuid;
                    update "SET #r = #r + :one, last_sk = :at";
                    condition "#r = :rev";
                    value :one int lit:1;
                    value :at time now();
                    value :rev int meta.rev;
                    name "#r" rev;
                }
                answer put {
                    object;  status 200;
                    field message_group_uuid message_group_uuid;
                    nest user {
                        field uuid user_uuid;
                        field handle user_handle;
                    }
                }
                ddbm_errors {
                    ConditionalCheckFailedException 409 conflict;
                    ThrottlingException 503 throttled retry;
                }
            }
        }
_EOC_

# the item a write answers with: message_group_uuid, as message declares
$http = edit($http, "            attr  message_uuid uuid;\n",
             "            attr  message_uuid uuid;\n"
             . "            attr  message_group_uuid uuid;\n");

($rc, $out) = nginx_t_route($http, $server . $write);
is($rc, 0, 'nginx -t accepts a write route') or diag($out);

# a write answered with no body: 204 and no field
($rc, $out) = nginx_t_route($http, $server . edit($write,
    "object;  status 200;\n"
    . "                    field message_group_uuid message_group_uuid;\n"
    . "                    nest user {\n"
    . "                        field uuid user_uuid;\n"
    . "                        field handle user_handle;\n"
    . "                    }\n",
    "status 204;\n"));
is($rc, 0, 'nginx -t accepts a write answered 204 with no field')
    or diag($out);

# $text with $old replaced by $new; dies when $old is not there, so that
# no case tests the good configuration by mistake
sub edit {
    my ($text, $old, $new) = @_;
    my $i = index($text, $old);
    die "not in the configuration: $old" if $i < 0;
    substr($text, $i, length($old)) = $new;
    return $text;
}

# nginx -t refuses, says why, and names the file and the line: the first
# line holding $marker (a string, or [anchor, string]: the first after
# the anchor's line)
sub refused {
    my ($what, $h, $s, $why, $marker) = @_;
    my ($rc, $out, $conf, $text) = nginx_t_route($h, $s);
    my @lines = split /\n/, $text;
    my ($anchor, $m) = ref $marker ? @$marker : (undef, $marker);
    my $from = 0;
    if (defined $anchor) {
        ($from) = grep { index($lines[$_], $anchor) >= 0 } 0 .. $#lines;
        die "anchor not in the configuration: $anchor" if !defined $from;
    }
    my ($n) = grep { index($lines[$_], $m) >= 0 } $from .. $#lines;
    die "marker not in the configuration: $m" if !defined $n;
    $n++;
    isnt($rc, 0, "nginx -t refuses: $what");
    like($out, $why, "... $what: the reason") or diag($out);
    like($out, qr/ in \Q$conf\E:$n\n/, "... $what: at line $n")
        or diag($out);
}

my $lc_rows = "step rows Query conversation_row {\n"
              . "                    key owner=caller.user_uuid;\n";
my $lm = 'ddbm_route list_messages';
my $us_answer = "                answer user {";

sub us_step {       # a step added to user_short, before its answer
    return edit($server, $us_answer, join("\n", @_, $us_answer));
}

# 1. an expression DynamoDB would reject
refused('a miscased function in a filter', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    filter \"ATTRIBUTE_EXISTS(message)\";\n"
             . "                    fill;\n"),
        qr/ddbm_route "list_conversations": step "rows": DynamoDB would reject "ATTRIBUTE_EXISTS\(message\)": unknown function/,
        'filter "ATTRIBUTE_EXISTS');

refused('a bare reserved word in a condition', $http,
        us_step('                step del DeleteItem user_by_handle {',
                '                    key handle=path:handle;',
                '                    condition "comment = :n";',
                '                    value :n int lit:1;',
                '                }'),
        qr/step "del": DynamoDB would reject "comment = :n": .*reserved/,
        'condition "comment = :n"');

refused('chained comparisons', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    filter \"message < :a < :b\";  fill;\n"),
        qr/DynamoDB would reject "message < :a < :b": comparisons do not chain/,
        'filter "message < :a');

# 2. placeholders used but not bound, bound but not used
refused('a placeholder used but not bound', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    filter \"user_handle = :h\";  fill;\n"),
        qr/step "rows": ":h" is used but not bound/,
        'step rows Query conversation_row');

refused('a placeholder bound but not used', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    value :h handle arg:h;\n"),
        qr/step "rows": ":h" is bound but no/,
        'step rows Query conversation_row');

refused('a #name bound but not used', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    filter \"user_handle = :h\";  fill;\n"
             . "                    value :h handle arg:h;  name \"#m\" message;\n"),
        qr/step "rows": "#m" is bound but no/,
        'step rows Query conversation_row');

refused('a :value named as the engine names its own', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    filter \"user_handle = :ddbmk0\";  fill;\n"
             . "                    value :ddbmk0 handle arg:h;\n"),
        qr/step "rows": ":ddbmk0": names that start with ":ddbm" are the engine's own/,
        'value :ddbmk0');

refused('a #name named as the engine names its own', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    filter \"#DDBMp0 = :h\";  fill;\n"
             . "                    value :h handle arg:h;  name \"#DDBMp0\" user_handle;\n"),
        qr/step "rows": "#DDBMp0": names that start with "#ddbm" are the engine's own/,
        'name "#DDBMp0"');

# 3. a key template that does not cover the table's or the index's key
refused('a GetItem without its partition key', $http,
        edit($server, 'key group=path:group;  consistent on;  cache membership;',
             'consistent on;  cache membership;'),
        qr/step "meta": the key does not cover the table's key: slot "group" of the pk template "GRPMETA#\{group:uuid\}" of item "conversation" is not bound/,
        'step meta GetItem conversation');

refused('a GetItem without its sort key', $http,
        us_step('                step one GetItem message {',
                '                    key group=uuid4();',
                '                }'),
        qr/step "one": the key does not cover the table's key: slot "at" of the sk template "\{at:time\}"/,
        'step one GetItem message');

refused('a Query on an index without the index\'s partition key', $http,
        edit($server, "key message_group_uuid=path:group;\n",
             "key owner=caller.user_uuid;\n"),
        qr/step "rows": the key does not cover the key of index "message-group-sk-index": "message_group_uuid" is not bound/,
        [$lm, 'step rows Query conversation_row']);

refused('a key that names no slot', $http,
        edit($server, 'key sub=identity;', 'key sub=identity x=identity;'),
        qr/step "caller": "x" is no slot of item "user_by_sub"'s key/,
        'key sub=identity x=identity;');

refused('an item without the table\'s sort key',
        edit($http, "sk    \"USER\";\n            attr  user_uuid uuid;\n            attr  user_handle handle;\n            attr  user_display_name name;\n        }\n    }",
             "attr  user_uuid uuid;\n        }\n    }"),
        $server,
        qr/ddbm_schema "messages": item "user_by_handle" has no sk template: the table's key has the sort key "sk"/,
        'item user_by_handle {');

# 4. a type mismatch against the schema
refused('a handle bound to a uuid slot', $http,
        edit($server, 'key owner=caller.user_uuid;', 'key owner=caller.user_handle;'),
        qr/type mismatch against the schema: "caller.user_handle" is a handle, "owner" takes a uuid/,
        'key owner=caller.user_handle;');

refused('a request value validated as another type than its slot', $http,
        edit($server, 'validate path:handle handle', 'validate path:handle uuid'),
        qr/type mismatch against the schema: "path:handle" is a uuid, "handle" takes a handle/,
        'key handle=path:handle;');

refused('a time into an int attribute', $http,
        us_step('                step put PutItem conversation {',
                '                    key group=uuid4();',
                '                    set rev=now();',
                '                }'),
        qr/type mismatch against the schema: "now\(\)" is a time, "rev" takes a int/,
        'set rev=now();');

refused('a literal default outside the type', $http,
        edit($server, 'limit arg:limit|20;', 'limit arg:limit|500;'),
        qr/the literal "500" is no page_size \(out_of_range\)/,
        'limit arg:limit|500;');

# 5. a value from the request used untyped in a key
refused('a key slot whose type may hold #',
        edit($http, 'pk    "USER#HANDLE#{handle:handle}";',
             'pk    "USER#HANDLE#{handle:text}";'),
        $server,
        qr/item "user_by_handle": key template "USER#HANDLE#\{handle:text\}": type "text" can hold '#'/,
        'pk    "USER#HANDLE#{handle:text}";');

refused('an index key whose type may hold #',
        edit($http, 'index  message-group-sk-index message_group_uuid sk;',
             "index  message-group-sk-index message_group_uuid sk;\n"
             . "        index  by-text message sk;"),
        edit($server, $us_answer, "                step m Query message {\n"
             . "                    index by-text;  key message=arg:m;\n"
             . "                }\n" . $us_answer),
        qr/a value from the request would reach the key "message" untyped: its type "text" may hold '#'/,
        'key message=arg:m;');

# 6. TransactWriteItems: each action checked as its single operation,
#    then dm_rtx_check over them: at most 100, no two on one item
my @tx = (
    '                step tx TransactWriteItems {',
    '                    put message {',
    '                        key group=uuid4() at=now();',
    '                        set message=lit:hi;',
    '                        condition "attribute_not_exists(pk)";',
    '                    }',
    '                    update conversation {',
    '                        key group=user.user_uuid;',
    '                        update "SET #r = #r + :one";',
    '                        value :one int lit:1;',
    '                        name "#r" rev;',
    '                    }',
    '                    condition_check user_by_handle {',
    '                        key handle=path:handle;',
    '                        condition "attribute_exists(pk)";',
    '                    }',
    '                }');
my $tx_server = us_step(@tx);

($rc, $out) = nginx_t_route($http, $tx_server);
is($rc, 0, 'nginx -t accepts a transaction of a put, an update and a '
           . 'condition check') or diag($out);

# answered with what its put writes
($rc, $out) = nginx_t_route($http, edit($tx_server,
    "                answer user {\n"
    . "                    object;\n"
    . "                    field uuid user_uuid;\n"
    . "                    field handle user_handle;\n"
    . "                    field display_name user_display_name;\n",
    "                answer tx {\n"
    . "                    object;  status 201;\n"
    . "                    field id sk time;  field message message;\n"
    . "                    field group pk;\n"));
is($rc, 0, 'nginx -t accepts an answer of what the transaction\'s put '
           . 'writes') or diag($out);

my $put = join("\n", '                    put message {',
                     '                        key group=uuid4() at=now();',
                     '                        set message=lit:hi;',
                     '                    }', '');
refused('101 actions in a transaction', $http,
        us_step('                step tx TransactWriteItems {',
                ($put) x 101, '                }'),
        qr/step "tx": 101 actions in one transaction: DynamoDB takes at most 100/,
        'step tx TransactWriteItems');

($rc, $out) = nginx_t_route($http, us_step(
    '                step tx TransactWriteItems {', ($put) x 100,
    '                }'));
is($rc, 0, 'nginx -t accepts 100 actions') or diag($out);

refused('two actions on one key', $http,
        edit($tx_server, "                }\n$us_answer",
             "                    delete user_by_handle {\n"
             . "                        key handle=path:handle;\n"
             . "                    }\n"
             . "                }\n$us_answer"),
        qr/step "tx": actions 3 and 4 of the transaction are on one item \(the same key templates with the same values\)/,
        'delete user_by_handle {');

refused('a transaction without actions', $http,
        us_step('                step tx TransactWriteItems {',
                '                }'),
        qr/step "tx": a transaction without actions/,
        'step tx TransactWriteItems');

refused('a transaction given an item', $http,
        edit($tx_server, 'step tx TransactWriteItems {',
             'step tx TransactWriteItems message {'),
        qr/step "tx": a TransactWriteItems takes no item: each of its actions names its own/,
        'step tx TransactWriteItems');

refused('a condition_check without a condition', $http,
        edit($tx_server, "                        condition \"attribute_exists(pk)\";\n", ''),
        qr/step "tx \(action 3\)": a condition_check needs "condition"/,
        'condition_check user_by_handle {');

refused('a line an action does not take', $http,
        edit($tx_server, 'set message=lit:hi;', 'set message=lit:hi;  order desc;'),
        qr/step "tx \(action 1\)": "order" is not allowed in a PutItem step/,
        ['step tx TransactWriteItems', 'order desc;']);

refused('an action checked as its operation: an update without update', $http,
        edit($tx_server, "                        update \"SET #r = #r + :one\";\n"
             . "                        value :one int lit:1;\n"
             . "                        name \"#r\" rev;\n", ''),
        qr/step "tx \(action 2\)": an UpdateItem needs "update"/,
        'update conversation {');

refused('an action on an unknown item', $http,
        edit($tx_server, 'condition_check user_by_handle {',
             'condition_check nobody {'),
        qr/step "tx": condition_check: unknown item "nobody"/,
        'condition_check nobody {');

refused('an action kind that is not one', $http,
        edit($tx_server, 'condition_check user_by_handle {',
             'check user_by_handle {'),
        qr/unknown directive "check"/, 'check user_by_handle {');

refused('ConditionCheck as a step of its own', $http,
        us_step('                step cc ConditionCheck user_by_handle {',
                '                    key handle=path:handle;',
                '                    condition "attribute_exists(pk)";',
                '                }'),
        qr/step "cc": unknown operation "ConditionCheck"/,
        'step cc ConditionCheck');

refused('an answer field the transaction\'s put does not write', $http,
        edit($tx_server, "                answer user {", "                answer tx {"),
        qr/answer: field "uuid": step "tx \(action 1\)" writes no "user_uuid"/,
        'field uuid user_uuid;');

refused('an answer field of a transaction with no put', $http,
        edit(us_step('                step tx TransactWriteItems {',
                     '                    condition_check user_by_handle {',
                     '                        key handle=path:handle;',
                     '                        condition "attribute_exists(pk)";',
                     '                    }',
                     '                }'),
             "                answer user {", "                answer tx {"),
        qr/answer: field "uuid": transaction "tx" has no put action to answer with: answer "status 204"/,
        'field uuid user_uuid;');

refused('a step reading a transaction', $http,
        us_step(@tx, '                step after GetItem conversation {',
                '                    key group=tx.user_uuid;',
                '                }'),
        qr/"user_uuid": step "tx" is a TransactWriteItems: it reads no item/,
        'key group=tx.user_uuid;');

# BatchGetItem: one key per item of an earlier Query (the authors of a
# page of messages), at most 100, answered as an array in that order
my $bg = <<'_EOC_';
        location ~ ^/api/authors/(?<group>[^/]+)$ {
            ddbm_route authors GET {
                validate path:group uuid *=conversation_not_found@404;
                validate arg:limit  page_size optional *=invalid_limit@400;
                step page Query message {
                    key group=path:group;
                    order desc;  limit arg:limit|20;
                }
                step users BatchGetItem user_by_handle {
                    key handle=page[].user_handle;
                    project user_uuid user_display_name;
                    consistent on;
                }
                check found users else 404 no_author;
                check one_of page.user_uuid users[].user_uuid else 403;
                answer users {
                    array;
                    field uuid user_uuid;
                    field display_name user_display_name;
                }
            }
        }
_EOC_
my $bg_key = 'key handle=page[].user_handle;';
my $bg_step = 'step users BatchGetItem user_by_handle {';

($rc, $out) = nginx_t_route($http, $server . $bg);
is($rc, 0, 'nginx -t accepts a BatchGetItem of the keys a Query found')
    or diag($out);

for my $line ('limit 5;', 'sort_key = lit:x;', 'order asc;',
              'filter "attribute_exists(pk)";',
              'condition "attribute_exists(pk)";',
              'update "SET user_uuid = :u";', 'set user_uuid=path:group;',
              'cache directory;', 'index message-group-sk-index;',
              'when missing page;', 'fill;')
{
    my ($name) = $line =~ /^(\w+)/;
    refused("\"$name\" in a BatchGetItem", $http,
            $server . edit($bg, $bg_key, "$bg_key\n                    $line"),
            qr/step "users": "$name" is not allowed in a BatchGetItem step/,
            [$bg_step, $line]);
}

refused('a BatchGetItem with no list in its key', $http,
        $server . edit($bg, $bg_key, 'key handle=lit:bob;'),
        qr/step "users": a BatchGetItem asks one key per item of an earlier Query: bind a slot of its key to STEP\[\]\.attr/,
        $bg_step);

refused('a BatchGetItem\'s key not covering the table\'s key', $http,
        $server . edit($bg, "$bg_step\n                    $bg_key",
                       "step users BatchGetItem message {\n"
                       . "                    key group=page[].group;"),
        qr/step "users": the key does not cover the table's key: slot "at" of the sk template "\{at:time\}" of item "message" is not bound/,
        'step users BatchGetItem message {');

refused('a BatchGetItem\'s keys from a GetItem', $http,
        $server . edit(edit($bg, $bg_key, 'key handle=one[].user_handle;'),
                       "                $bg_step",
                       "                step one GetItem user_by_sub {\n"
                       . "                    key sub=identity;\n"
                       . "                }\n"
                       . "                $bg_step"),
        qr/"one\[\]\.user_handle": step "one" is a GetItem, not a Query: it has no items to read with \[\]/,
        'key handle=one[].user_handle;');

refused('a BatchGetItem\'s keys from another BatchGetItem', $http,
        $server . edit($bg, "                check found users",
                       "                step again BatchGetItem user_by_handle {\n"
                       . "                    key handle=users[].handle;\n"
                       . "                }\n"
                       . "                check found users"),
        qr/step "again": "users\[\]\.handle": step "users" is a BatchGetItem: a BatchGetItem's keys come from the items of an earlier Query/,
        'step again BatchGetItem');

refused('a BatchGetItem\'s keys from a later step', $http,
        $server . edit($bg, $bg_key, 'key handle=later[].user_handle;'),
        qr/"later\[\]\.user_handle": "later" is not a step written before this line/,
        'key handle=later[].user_handle;');

refused('a BatchGetItem\'s keys from two Queries', $http,
        $server . edit(edit($bg, "$bg_step\n                    $bg_key",
                            "step users BatchGetItem message {\n"
                            . "                    key group=page[].group at=page2[].at;"),
                       "                step users",
                       "                step page2 Query message {\n"
                       . "                    key group=path:group;  limit 5;\n"
                       . "                }\n"
                       . "                step users"),
        qr/step "users": "page\[\]\.group" and "page2\[\]\.at" are lists of two steps/,
        'step users BatchGetItem message {');

refused('a BatchGetItem of a Query with no limit', $http,
        $server . edit($bg, 'order desc;  limit arg:limit|20;', 'order desc;'),
        qr/step "users": its keys are one per item of Query "page", which has no limit: a BatchGetItem takes at most 100 keys/,
        $bg_step);

refused('a BatchGetItem of a Query whose limit may pass 100', $http,
        $server . edit($bg, 'limit arg:limit|20;', 'limit 101;'),
        qr/step "users": its keys are one per item of Query "page", which may answer more: a BatchGetItem takes at most 100 keys/,
        $bg_step);

refused('a BatchGetItem read as one item', $http,
        $server . edit($bg, 'check one_of page.user_uuid users[].user_uuid',
                       'check one_of page.user_uuid users.user_uuid'),
        qr/"users\.user_uuid": step "users" is a BatchGetItem: its items are a list, read as users\[\]\.user_uuid/,
        'check one_of page.user_uuid users.user_uuid');

refused('a BatchGetItem answered as an object', $http,
        $server . edit($bg, "                    array;\n",
                       "                    object;\n"),
        qr/answer: step "users" is a BatchGetItem: a list of items, an array/,
        [$bg_step, 'object;']);

refused('a BatchGetItem answered with a cursor', $http,
        $server . edit($bg, "                    array;\n",
                       "                    array;  cursor header X-Next sk;\n"),
        qr/answer: a BatchGetItem answers every key it is given: it has no cursor/,
        [$bg_step, 'cursor header X-Next sk;']);

# 7. limit with a filter, unless fill
refused('limit with filter and no fill', $http,
        edit($server, $lc_rows, $lc_rows
             . "                    filter \"user_handle = :h\";\n"
             . "                    value :h handle arg:h;\n"),
        qr/step "rows": "limit" with "filter" \(line \d+\) answers short pages: declare "fill"/,
        'limit arg:limit|20;');

# 8. a step that reads an attribute no earlier step can supply
refused('an attribute the item does not declare', $http,
        edit($server, 'key owner=caller.user_uuid;', 'key owner=caller.owner_uuid;'),
        qr/step "caller" cannot supply "owner_uuid": item "user_by_sub" declares no such attribute/,
        'key owner=caller.owner_uuid;');

refused('an attribute its projection leaves out', $http,
        edit($server, 'rows[].owner', 'rows[].user_uuid'),
        qr/step "rows" cannot supply "user_uuid": its "project" leaves "user_uuid" out/,
        '"only the conversation');

refused('a step read before it is written', $http,
        edit($server, 'key owner=caller.user_uuid;', 'key owner=rows.user_uuid;'),
        qr/"rows.user_uuid": step "rows" cannot read its own item/,
        'key owner=rows.user_uuid;');

refused('a step that reads a later step', $http,
        edit($server, "key group=path:group;  consistent on;  cache membership;",
             "key group=page.message_uuid;"),
        qr/"page.message_uuid": "page" is not a step written before this line/,
        'key group=page.message_uuid;');

refused('an attribute of a write step', $http,
        us_step('                step del DeleteItem user_by_handle {',
                '                    key handle=path:handle;',
                '                }',
                '                step again GetItem user_by_sub {',
                '                    key sub=del.user_uuid;',
                '                }'),
        qr/"user_uuid": step "del" is a DeleteItem: it reads no item/,
        'key sub=del.user_uuid;');

# names: steps, types, items, indexes, attributes, routes
refused('an unknown item', $http,
        edit($server, 'step user GetItem user_by_handle', 'step user GetItem user_by_nick'),
        qr/step "user": unknown item "user_by_nick"/,
        'step user GetItem user_by_nick');

refused('an unknown type', edit($http, 'attr  rev int;', 'attr  rev integer;'),
        $server, qr/ddbm_schema "messages": unknown type "integer"/,
        'attr  rev integer;');

refused('an unknown index', $http,
        edit($server, 'index message-group-sk-index;', 'index by-group;'),
        qr/step "rows": schema "messages" has no index "by-group"/,
        'index by-group;');

refused('an unknown answer step', $http,
        edit($server, 'answer user {', 'answer users {'),
        qr/answer: "users" is not a step written before it/,
        'answer users {');

refused('a duplicate step', $http,
        edit($server, 'step meta GetItem conversation', 'step caller GetItem conversation'),
        qr/step "caller" is duplicate/,
        [$lm, 'step caller GetItem conversation']);

refused('a duplicate route name', $http,
        edit($server, 'ddbm_route user_short', 'ddbm_route list_messages'),
        qr/ddbm_route "list_messages" is duplicate \(first at .*nginx.conf:\d+\)/,
        ['location ~ ^/api/users', 'ddbm_route list_messages']);

refused('a duplicate attribute',
        edit($http, 'attr  rev int;', "attr  rev int;\n            attr  rev  int;"),
        $server, qr/item "conversation": attribute "rev" is duplicate/,
        'attr  rev  int;');

refused('a duplicate type',
        "    ddbm_type handle string chars=1..8 charset=a-z;\n" . $http,
        $server, qr/ddbm_type "handle" is already declared/,
        'ddbm_type  handle');

# a type whose values could never be given, or whose regex would make
# regcomp() exhaust memory (nginx -t killed) or match in exponential time
refused('an enum value "lower" folds away',
        "    ddbm_type order enum lower values=asc|DESC;\n" . $http,
        $server, qr/ddbm_type "order": type "order": "lower" with an upper-case value "DESC" \(it could never match\)/,
        'ddbm_type order');

refused('a regex too large once its repetitions are expanded',
        "    ddbm_type code string \"regex=^((a{1,255}){1,255}){1,255}\$\";\n"
        . $http,
        $server, qr/ddbm_type "code": type "code": regex: over 1024 atoms once its repetitions are expanded/,
        'ddbm_type code');

refused('a regex with a back-reference',
        "    ddbm_type code string regex=^(a*)*b\\1\$;\n" . $http,
        $server, qr/ddbm_type "code": type "code": regex: a back-reference/,
        'ddbm_type code');

refused('a line a route does not know', $http,
        edit($server, "answer user {\n                    object;",
             "step more GetItem user_by_sub {\n                    key sub=identity;\n                }\n                answer_none user {\n                    object;"),
        qr/unknown directive "answer_none"/, 'answer_none user {');

my $no_answer = $server;
$no_answer =~ s/\n\s*answer user \{.*?\n\s*\}\n/\n/s or die 'no answer';
refused('a route without its answer', $http, $no_answer,
        qr/ddbm_route "user_short": "answer" is missing/,
        'ddbm_route user_short GET HEAD {');

refused('a cursor that is not the sort key', $http,
        edit($server, 'cursor header X-Next-Cursor sk;',
             'cursor header X-Next-Cursor message_group_uuid;'),
        qr/answer: the cursor "message_group_uuid" is not the sort key of the Query's table \("sk"\)/,
        'cursor header X-Next-Cursor message_group_uuid;');

refused('when missing naming a later step', $http,
        edit($server, 'when missing meta;', 'when missing page;'),
        qr/step "rows": when missing "page": not a step written before it/,
        'when missing page;');

refused('a check operand from a later step', $http,
        edit($server, 'meta.b_uuid rows[].owner', 'meta.b_uuid page.user_uuid'),
        qr/"page.user_uuid": "page" is not a step written before this line/,
        '"only the conversation');

refused('check found before the step', $http,
        edit($server, 'check found meta|rows', 'check found meta|page'),
        qr/check found: "page" is not a step written before it/,
        'check found meta|page');

refused('a check operand that is no source', $http,
        edit($server, 'meta.b_uuid rows[].owner', 'meta.b_uuid owner'),
        qr/unknown source "owner"/, '"only the conversation');

my @many = map { "                step s$_ GetItem user_by_handle {\n"
                 . "                    key handle=path:handle;\n"
                 . "                }" } 1 .. 16;
refused('more than 16 steps', $http, us_step(@many),
        qr/ddbm_route "user_short": more than 16 steps/, 'step s16 GetItem');

refused('path: with no such capture', $http,
        edit($server, 'key handle=path:handle;', 'key handle=path:hande;'),
        qr/"path:hande" is no named capture \(\?<hande>...\) of the location's regex/,
        'key handle=path:hande;');

refused('a claim the token does not have', $http,
        edit($server, 'key sub=identity;', 'key sub=claim:email;'),
        qr/"claim:email": the verified token's claims are sub, username and client_id/,
        'key sub=claim:email;');

# in the write route
refused('an update clause repeated', $http,
        $server . edit($write, 'update "SET #r = #r + :one, last_sk = :at";',
                       'update "SET #r = #r + :one SET last_sk = :at";'),
        qr/step "bump": DynamoDB would reject "SET #r = #r \+ :one SET last_sk = :at": each clause may appear only once/,
        'update "SET #r');

refused('a :value from an attribute the projection leaves out', $http,
        $server . edit($write, 'value :at time now();',
                       'value :at time meta.last_sk;'),
        qr/step "meta" cannot supply "last_sk": its "project" leaves "last_sk" out/,
        'value :at time meta.last_sk;');

refused('a :value of another type than its source', $http,
        $server . edit($write, 'value :rev int meta.rev;',
                       'value :rev time meta.rev;'),
        qr/type mismatch against the schema: "meta.rev" is a int, ":rev" takes a time/,
        'value :rev time meta.rev;');

refused('an answer field the PutItem does not write', $http,
        $server . edit($write, 'field handle user_handle;',
                       'field handle a_handle;'),
        qr/answer: field "handle": step "put" writes no "a_handle"/,
        'field handle a_handle;');

refused('a PutItem without its sort key', $http,
        $server . edit($write, 'key group=body:message_group_uuid at=now();',
                       'key group=body:message_group_uuid;'),
        qr/step "put": the key does not cover the table's key: slot "at"/,
        'step put PutItem message {');

refused('a field in a 204 answer', $http,
        $server . edit($write, 'object;  status 200;', 'object;  status 204;'),
        qr/answer: status 204 has no body: no field, no cursor/,
        'answer put {');

refused('an answer with no field', $http,
        $server . edit($write, "object;  status 200;\n"
                       . "                    field message_group_uuid "
                       . "message_group_uuid;\n"
                       . "                    nest user {\n"
                       . "                        field uuid user_uuid;\n"
                       . "                        field handle user_handle;\n"
                       . "                    }\n",
                       "object;  status 200;\n"),
        qr/answer: no field/, 'answer put {');

# the rest of the grammar
refused('consistent reads on an index', $http,
        edit($server, "project pk;", "project pk;  consistent on;"),
        qr/step "rows": a global secondary index has no consistent reads/,
        'project pk;  consistent on;');

refused('HEAD without GET', $http,
        edit($server, 'ddbm_route user_short GET HEAD', 'ddbm_route user_short HEAD'),
        qr/ddbm_route "user_short": HEAD only with GET/,
        'ddbm_route user_short HEAD');

refused('a line a step does not know', $http,
        edit($server, 'cache directory;', 'cache directory;  colour blue;'),
        qr/unknown directive "colour"/, 'colour blue;');

refused('a line not allowed in a GetItem', $http,
        edit($server, 'key handle=path:handle;  cache directory;',
             'key handle=path:handle;  order desc;'),
        qr/step "user": "order" is not allowed in a GetItem step/,
        ['ddbm_route user_short', 'order desc;']);

refused('an unknown validate outcome', $http,
        edit($server, 'validate path:handle handle *=user_not_found@404;',
             'validate path:handle handle huge=user_not_found@404;'),
        qr/validate: unknown outcome "huge"/, 'huge=user_not_found');

refused('a second ddbm_route in a location', $http,
        edit($server, "ddbm_route user_short GET HEAD {",
             "ddbm_pattern health;\n            ddbm_route user_short GET HEAD {"),
        qr/"ddbm_route" directive is duplicate/,
        'ddbm_route user_short GET HEAD {');

done_testing();
