# ddbm plan (issue 14, item 4): a configuration explained.  `ddbm plan`
# runs nginx -t on a configuration with declared routes and C patterns;
# the module prints each route's DynamoDB requests with their typed slots
# and the least-privilege IAM policy, checked here action by action and
# ARN by ARN.
# Plain Test::More.  Needs TEST_NGINX_BINARY, TEST_NGINX_MODULE and
# DDBM_CLI (scripts/test.sh sets them).

use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;

my $nginx  = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $module = $ENV{TEST_NGINX_MODULE};
my $cli    = $ENV{DDBM_CLI};

plan(skip_all => 'TEST_NGINX_MODULE and DDBM_CLI are needed '
                 . '(scripts/test.sh)')
    if !$module || !-f $module || !$cli || !-x $cli;

my $dir = tempdir('ddbm-plan-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $http = <<'_EOC_';
    ddbm_type  sub   string chars=1..128 charset=A-Za-z0-9_-;
    ddbm_type  text  string chars=1..1024;
    ddbm_type  page_size int range=1..100;

    ddbm_schema notes app-notes {
        key    pk sk;
        index  by-author author sk;

        item note {
            pk    "NOTE#{owner:uuid}";
            sk    "{at:time}";
            attr  author uuid;
            attr  body text;
            attr  rev int;
        }
    }
_EOC_

my $server = <<'_EOC_';
        ddbm_identity $http_x_sub unsafe_client_supplied;

        location = /health {
            ddbm_pattern health;
        }

        location = /api/messages {
            ddbm_pattern post_message;
        }

        location ~ ^/notes/(?<owner>[^/]+)$ {
            ddbm_route notes_list GET HEAD {
                validate path:owner uuid *=not_found@404;
                step mine Query note {
                    key owner=path:owner;
                    sort_key < arg:before;
                    order desc;
                    limit arg:limit|20;
                    consistent on;
                }
                answer mine {
                    array;
                    field text body;
                    field at sk time;
                }
            }
        }

        location = /by-author {
            ddbm_table staging-notes;
            ddbm_region eu-west-1;
            ddbm_cache zone=plan:1m;
            ddbm_route notes_by_author GET {
                validate arg:author uuid;
                step rows Query note {
                    index by-author;
                    key author=arg:author;
                }
                answer rows {
                    array;
                    field text body;
                }
            }
        }

        location ~ ^/notes/(?<owner>[^/]+)/edit$ {
            ddbm_route notes_edit PUT {
                validate body:body text;
                step put PutItem note {
                    key owner=path:owner at=now();
                    set author=path:owner body=body:body;
                    condition "attribute_not_exists(pk)";
                }
                answer put {
                    object;
                    field text body;
                }
            }
        }

        location ~ ^/notes/(?<owner>[^/]+)/bump$ {
            ddbm_route notes_bump POST {
                step bump UpdateItem note {
                    key owner=path:owner at=arg:at;
                    update "SET #r = #r + :one";
                    condition "attribute_exists(pk)";
                    value :one int lit:1;
                    name "#r" rev;
                }
                step after GetItem note {
                    key owner=path:owner at=arg:at;
                    consistent on;
                }
                answer after {
                    object;
                    field rev rev;
                }
            }
        }

        location ~ ^/notes/(?<owner>[^/]+)/drop$ {
            ddbm_route notes_drop DELETE {
                step gone DeleteItem note {
                    key owner=path:owner at=arg:at;
                    condition "author = :me";
                    value :me uuid path:owner;
                }
                step who GetItem note {
                    key owner=path:owner at=arg:at;
                }
                answer who {
                    object;
                    field author author;
                }
            }
        }

        location ~ ^/notes/(?<owner>[^/]+)/latest$ {
            ddbm_table batch-notes;
            ddbm_route notes_latest GET {
                step recent Query note {
                    index by-author;
                    key author=path:owner;
                    order desc;  limit 5;
                }
                step full BatchGetItem note {
                    key owner=path:owner at=recent[].at;
                    project body rev;
                    consistent on;
                }
                answer full {
                    array;
                    field text body;
                }
            }
        }

        location ~ ^/notes/(?<owner>[^/]+)/move$ {
            ddbm_table tx-notes;
            ddbm_route notes_move POST {
                validate arg:at time;
                validate arg:to time;
                step tx TransactWriteItems {
                    put note {
                        key owner=path:owner at=arg:to;
                        set author=path:owner body=body:body;
                        condition "attribute_not_exists(pk)";
                    }
                    delete note {
                        key owner=path:owner at=arg:at;
                        condition "author = :me";
                        value :me uuid path:owner;
                    }
                    update note {
                        key owner=path:owner at=now();
                        update "SET #r = #r + :one";
                        value :one int lit:1;
                        name "#r" rev;
                    }
                    condition_check note {
                        key owner=identity at=arg:at;
                        condition "attribute_exists(pk)";
                    }
                }
                answer tx {
                    object;
                    status 201;
                    field text body;
                }
            }
        }
_EOC_

sub write_conf {
    my ($name, $load) = @_;
    my $conf = "$dir/$name";
    open my $f, '>', $conf or die "$conf: $!";
    print $f ($load ? "load_module $module;\n" : '');
    print $f <<"_EOC_";
events { }
http {
    ddbm_credentials static local local;
$http
    server {
        listen 127.0.0.1:1;
$server
    }
}
_EOC_
    close $f;
    return $conf;
}

sub plan_of {
    my ($conf, @args) = @_;
    local $ENV{NGINX} = $nginx;
    my $cmd = join ' ', map { quotemeta } $cli, 'plan', @args,
                        '-g', "pid $dir/nginx.pid;", $conf;
    my $out = `$cmd 2>$dir/stderr`;
    my $rc = $? >> 8;
    open my $e, '<', "$dir/stderr" or die;
    my $err = do { local $/; <$e> };
    return ($rc, $out, $err);
}

my $conf = write_conf('nginx.conf', 1);

# ---- the whole plan --------------------------------------------------------

my ($rc, $out, $err) = plan_of($conf);
is($rc, 0, 'ddbm plan: exit 0') or diag($err);

# a relative CONF is read from where the command runs, as a user expects
# (nginx alone would read it from the prefix: CONF's directory again)
{
    require Cwd;
    my $cwd = Cwd::getcwd();
    my $saved = $cli;
    $cli = Cwd::abs_path($cli);
    chdir $dir or die "$dir: $!";
    my ($rrc, $rout, $rerr) = plan_of('nginx.conf');
    chdir $cwd or die "$cwd: $!";
    $cli = $saved;
    is($rrc, 0, 'ddbm plan with a relative CONF: exit 0') or diag($rerr);
    is($rout, $out, '... and the same plan as with its absolute path');
}

my ($text, $json) = $out =~ /\A(.*)^# IAM policy\n(\{.*\})\n\z/ms;
ok(defined $json, 'the plan text, then the policy after "# IAM policy"')
    or diag($out);
$text //= '';

# each request as the engine sends it, with its typed slots
for my $want (
    "route notes_list GET HEAD\n",
    "  location ~ ^/notes/(?<owner>[^/]+)\$\n"
    . "  table app-notes (schema notes), region us-east-1\n",
    "    TableName app-notes\n"
    . "    KeyConditionExpression #ddbmk0 = :ddbmk0 AND #ddbmk1 < :ddbmk1\n"
    . "      (the sk test is left out when arg:before is missing)\n"
    . "    Limit {int <- arg:limit|20}\n"
    . "    ScanIndexForward false\n",
    "      :ddbmk0 = \"NOTE#\" + {owner:uuid <- path:owner}\n"
    . "      :ddbmk1 = {at:time <- arg:before}\n",
    "  table staging-notes (schema notes), region eu-west-1\n",
    "    TableName staging-notes\n    IndexName by-author\n"
    . "    KeyConditionExpression #ddbmk0 = :ddbmk0\n",
    "      #ddbmk0 = author\n",
    "      :ddbmk0 = {author:uuid <- arg:author}\n",
    "    Item\n      pk = \"NOTE#\" + {owner:uuid <- path:owner}\n"
    . "      sk = {at:time <- now()}\n      author = {uuid <- path:owner}\n"
    . "      body = {text <- body:body}\n"
    . "    ConditionExpression attribute_not_exists(pk)\n",
    "    UpdateExpression SET #r = #r + :one\n    ReturnValues ALL_NEW\n"
    . "    ExpressionAttributeNames\n      #r = rev\n"
    . "    ExpressionAttributeValues\n      :one = {int <- lit:1}\n",
    "  step 1 gone: DeleteItem note\n",
    "    ConditionExpression author = :me\n"
    . "    ExpressionAttributeValues\n      :me = {uuid <- path:owner}\n",
    "  validate path:owner as uuid: any failure -> 404 not_found\n",
    "  answer mine: array, status 200\n    text <- body as text\n"
    . "    at <- sk as time\n",
    "  step 1 tx: TransactWriteItems, 4 actions\n"
    . "    after nothing: first round\n"
    . "    ClientRequestToken: derived from a new uuid and the actions, "
    . "the same when the call is retried\n"
    . "    action 1: Put note\n    TableName tx-notes\n"
    . "    Item\n      pk = \"NOTE#\" + {owner:uuid <- path:owner}\n"
    . "      sk = {at:time <- arg:to}\n      author = {uuid <- path:owner}\n"
    . "      body = {text <- body:body}\n"
    . "    ConditionExpression attribute_not_exists(pk)\n"
    . "    action 2: Delete note\n    TableName tx-notes\n"
    . "    Key\n      pk = \"NOTE#\" + {owner:uuid <- path:owner}\n"
    . "      sk = {at:time <- arg:at}\n"
    . "    ConditionExpression author = :me\n"
    . "    ExpressionAttributeValues\n      :me = {uuid <- path:owner}\n"
    . "    action 3: Update note\n    TableName tx-notes\n"
    . "    Key\n      pk = \"NOTE#\" + {owner:uuid <- path:owner}\n"
    . "      sk = {at:time <- now()}\n"
    . "    UpdateExpression SET #r = #r + :one\n"
    . "    ExpressionAttributeNames\n      #r = rev\n"
    . "    ExpressionAttributeValues\n      :one = {int <- lit:1}\n"
    . "    action 4: ConditionCheck note\n    TableName tx-notes\n"
    . "    Key\n      pk = \"NOTE#\" + {owner:uuid <- identity}\n"
    . "      sk = {at:time <- arg:at}\n"
    . "    ConditionExpression attribute_exists(pk)\n"
    . "    keeps body (what its first put writes)\n",
    "  step 2 full: BatchGetItem note\n"
    . "    after recent\n"
    . "    RequestItems batch-notes\n"
    . "    Keys, one per item of recent, in its order, each once "
    . "(none: no call)\n"
    . "      pk = \"NOTE#\" + {owner:uuid <- path:owner}\n"
    . "      sk = {at:time <- recent[].at}\n"
    . "    ProjectionExpression #ddbmp0, #ddbmp1, #ddbmp2, #ddbmp3\n"
    . "    ConsistentRead true\n"
    . "    ExpressionAttributeNames\n      #ddbmp0 = body\n"
    . "      #ddbmp1 = rev\n      #ddbmp2 = pk\n      #ddbmp3 = sk\n"
    . "    keeps pk, sk, body\n"
    . "    items in the order of the keys; UnprocessedKeys asked again "
    . "after a backoff, at most ddbm_retries times, then answered as "
    . "ProvisionedThroughputExceededException\n"
    . "  answer full: array, status 200\n    text <- body as text\n",
    "pattern post_message\n  location = /api/messages\n"
    . "  table cruddur-messages, region us-east-1\n",
    "pattern health\n  location = /health\n",
) {
    my $at = index($text, $want);
    ok($at >= 0, "the plan says: " . (split /\n/, $want)[0])
        or diag("missing:\n$want\nin:\n$text");
}

# ---- the policy, action by action and ARN by ARN --------------------------

my $acct = 'ACCOUNT_ID';
my $want_policy = sub {
    my ($a) = @_;
    my $arn = "arn:aws:dynamodb:%s:$a:table/%s";
    return {
        Version   => '2012-10-17',
        Statement => [
            # by-author's Query goes to the index only; its ddbm_cache
            # keeps the table's status: DescribeTable on the table
            { Effect => 'Allow', Action => ['dynamodb:DescribeTable'],
              Resource => sprintf($arn, 'eu-west-1', 'staging-notes') },
            { Effect => 'Allow', Action => ['dynamodb:Query'],
              Resource => sprintf($arn, 'eu-west-1',
                                  'staging-notes/index/by-author') },
            # notes_list Query, notes_edit PutItem, notes_bump UpdateItem
            # and GetItem, notes_drop DeleteItem and GetItem
            { Effect => 'Allow',
              Action => [map { "dynamodb:$_" }
                         qw(DeleteItem GetItem PutItem Query UpdateItem)],
              Resource => sprintf($arn, 'us-east-1', 'app-notes') },
            # notes_latest: the index's Query, then a BatchGetItem of
            # the table
            { Effect => 'Allow', Action => ['dynamodb:BatchGetItem'],
              Resource => sprintf($arn, 'us-east-1', 'batch-notes') },
            { Effect => 'Allow', Action => ['dynamodb:Query'],
              Resource => sprintf($arn, 'us-east-1',
                                  'batch-notes/index/by-author') },
            # post_message: GetItem, TransactWriteItems of Put and Delete;
            # health: DescribeTable
            { Effect => 'Allow',
              Action => [map { "dynamodb:$_" }
                         qw(DeleteItem DescribeTable GetItem PutItem)],
              Resource => sprintf($arn, 'us-east-1', 'cruddur-messages') },
            # post_message's rows
            { Effect => 'Allow', Action => ['dynamodb:Query'],
              Resource => sprintf($arn, 'us-east-1', 'cruddur-messages/'
                                  . 'index/message-group-sk-index') },
            # notes_move: a TransactWriteItems, authorised action by
            # action (there is no dynamodb:TransactWriteItems action)
            { Effect => 'Allow',
              Action => [map { "dynamodb:$_" }
                         qw(ConditionCheckItem DeleteItem PutItem UpdateItem)],
              Resource => sprintf($arn, 'us-east-1', 'tx-notes') },
        ],
    };
};

my $policy = eval { decode_json($json // '') };
is_deeply($policy, $want_policy->($acct), 'the policy: exactly these '
          . 'actions on exactly these ARNs') or diag($json);
unlike($json // '', qr/TransactWriteItems/,
       'no dynamodb:TransactWriteItems action: the per-item actions');

# ---- --policy-only, --account ----------------------------------------------

($rc, $out, $err) = plan_of($conf, '--policy-only', '--account',
                            '123456789012');
is($rc, 0, '--policy-only --account: exit 0') or diag($err);
$policy = eval { decode_json($out) };
is_deeply($policy, $want_policy->('123456789012'),
          '--policy-only: the policy alone, with the account') or diag($out);

# ---- a configuration without the module: no plan, an error -----------------

my $bare = write_conf('bare.conf', 0);
($rc, $out, $err) = plan_of($bare);
isnt($rc, 0, 'nginx -t refuses the configuration: ddbm plan fails');
is($out, '', 'and prints no plan');

# ---- a bad configuration: nginx -t's own error -------------------------------

open my $f, '>', "$dir/broken.conf" or die;
print $f "load_module $module;\nevents { }\nhttp { ddbm_type x nonsense; }\n";
close $f;
($rc, $out, $err) = plan_of("$dir/broken.conf");
is($rc, 1, 'a refused configuration: exit 1');
like($err, qr/broken\.conf:3/, 'with nginx -t\'s reason and line');
is($out, '', 'and no plan');

# ---- without DDBM_PLAN, nginx -t prints nothing of it -----------------------

my $pid = "pid $dir/nginx.pid;";
my $cmd = join ' ', map { quotemeta } $nginx, '-t', '-q', '-e', 'stderr',
                                      '-g', $pid, '-p', "$dir/", '-c', $conf;
my $plain = `$cmd 2>&1`;
is($?, 0, 'nginx -t alone passes');
is($plain, '', 'and writes no plan');

done_testing();
