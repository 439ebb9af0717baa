/*
 * The table itself: schema-load, drop, list-tables, describe.  Control
 * plane bodies are small and one-off, so jansson builds and reads them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ddbm.h"


#define DDBM_WAIT_TRIES      300     /* one DescribeTable a second */
#define DDBM_WAIT_MS         1000
#define DDBM_MAX_TAGS        50


int
ddbm_print_json(json_t *j)
{
    /* sorted and indented like the reference's json.dumps(..., indent=2) */
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        ddbm_error("cannot write the output");
        return -1;
    }

    fputc('\n', stdout);

    return 0;
}


int
ddbm_print_raw_json(const unsigned char *body, size_t len)
{
    int            rc;
    json_t        *j;
    json_error_t   err;

    j = json_loadb((const char *) body, len, 0, &err);
    if (j == NULL) {
        ddbm_error("malformed answer from DynamoDB: %s", err.text);
        return -1;
    }

    rc = ddbm_print_json(j);
    json_decref(j);

    return rc;
}


static json_t *
ddbm_key_schema(const char *hash, const char *range)
{
    return json_pack("[{s:s, s:s}, {s:s, s:s}]",
                     "AttributeName", hash, "KeyType", "HASH",
                     "AttributeName", range, "KeyType", "RANGE");
}


static json_t *
ddbm_throughput(void)
{
    return json_pack("{s:i, s:i}", "ReadCapacityUnits", 5,
                     "WriteCapacityUnits", 5);
}


static json_t *
ddbm_create_table_request(const char *table, int provisioned,
    int deletion_protection, const char **tags, int ntags)
{
    int      i, failed;
    json_t  *req, *gsi, *tag_list, *tag;
    char    *eq;

    gsi = json_pack("{s:s, s:o, s:{s:s}}",
                    "IndexName", DDBM_GSI_NAME,
                    "KeySchema",
                        ddbm_key_schema("message_group_uuid", "sk"),
                    "Projection", "ProjectionType", "ALL");

    req = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}], s:o,"
                    " s:s, s:s, s:[o], s:{s:b, s:s}}",
                    "TableName", table,
                    "AttributeDefinitions",
                        "AttributeName", "pk", "AttributeType", "S",
                        "AttributeName", "sk", "AttributeType", "S",
                        "AttributeName", "message_group_uuid",
                        "AttributeType", "S",
                    "KeySchema", ddbm_key_schema("pk", "sk"),
                    "BillingMode",
                        provisioned ? "PROVISIONED" : "PAY_PER_REQUEST",
                    "TableClass", "STANDARD",
                    "GlobalSecondaryIndexes", gsi,
                    "StreamSpecification",
                        "StreamEnabled", 1,
                        "StreamViewType", "NEW_IMAGE");

    if (req == NULL) {
        return NULL;
    }

    failed = 0;

    if (provisioned) {
        failed |= json_object_set_new(req, "ProvisionedThroughput",
                                      ddbm_throughput());
        failed |= json_object_set_new(gsi, "ProvisionedThroughput",
                                      ddbm_throughput());
    }

    if (deletion_protection) {
        failed |= json_object_set_new(req, "DeletionProtectionEnabled",
                                      json_true());
    }

    if (ntags > 0) {
        tag_list = json_array();
        failed |= json_object_set_new(req, "Tags", tag_list);

        for (i = 0; i < ntags && !failed; i++) {
            eq = strchr(tags[i], '=');

            tag = json_pack("{s:s%, s:s}", "Key", tags[i],
                            (size_t) (eq - tags[i]), "Value", eq + 1);
            failed |= json_array_append_new(tag_list, tag);
        }
    }

    if (failed) {
        json_decref(req);
        return NULL;
    }

    return req;
}


static const char *
ddbm_jstr(json_t *obj, const char *key)
{
    const char  *s;

    s = json_string_value(json_object_get(obj, key));

    return s != NULL ? s : "?";
}


/* polls DescribeTable until the table and its indexes are ACTIVE */
static int
ddbm_wait_active(ddbm_client_t *c, const char *table, json_t **desc)
{
    int             tries, busy;
    size_t          i;
    json_t         *req, *ans, *t, *gsis, *g;
    const char     *status;
    ddbm_result_t   res;

    *desc = NULL;

    req = json_pack("{s:s}", "TableName", table);
    if (req == NULL) {
        ddbm_error("out of memory");
        return -1;
    }

    for (tries = 0; tries < DDBM_WAIT_TRIES; tries++) {

        if (tries > 0) {
            ddbm_sleep_ms(DDBM_WAIT_MS);
        }

        if (ddbm_call_json(c, "DescribeTable", req, &ans, &res) != 0) {
            ddbm_report(c, "DescribeTable", &res);
            json_decref(req);
            return -1;
        }

        t = json_object_get(ans, "Table");
        status = ddbm_jstr(t, "TableStatus");
        busy = strcmp(status, "ACTIVE") != 0;

        gsis = json_object_get(t, "GlobalSecondaryIndexes");
        json_array_foreach(gsis, i, g) {
            if (strcmp(ddbm_jstr(g, "IndexStatus"), "ACTIVE") != 0) {
                busy = 1;
            }
        }

        if (!busy) {
            *desc = json_incref(t);
            json_decref(ans);
            json_decref(req);
            return 0;
        }

        if (tries == 0) {
            fprintf(stderr, "ddbm: waiting for table %s to become ACTIVE "
                    "(now %s)\n", table, status);
        }

        json_decref(ans);
    }

    json_decref(req);
    ddbm_error("table %s is not ACTIVE after %d seconds; check it with "
               "'ddbm describe'", table,
               DDBM_WAIT_TRIES * DDBM_WAIT_MS / 1000);

    return -1;
}


int
ddbm_cmd_schema_load(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             i, rc, npos, ntags, provisioned, protect, dashdash;
    json_t         *req, *ans, *desc, *stream;
    const char     *pos[2], *tags[DDBM_MAX_TAGS], *v;
    ddbm_client_t   c;
    ddbm_result_t   res;

    npos = 0;
    ntags = 0;
    provisioned = 0;
    protect = 0;
    dashdash = 0;

    for (i = 0; i < args->argc; i++) {
        if (!dashdash && ddbm_arg_flag(args, i, "--")) {
            dashdash = 1;

        } else if (!dashdash && ddbm_arg_flag(args, i, "--provisioned")) {
            provisioned = 1;

        } else if (!dashdash
                   && ddbm_arg_flag(args, i, "--deletion-protection"))
        {
            protect = 1;

        } else if (!dashdash
                   && (rc = ddbm_arg_value(args, &i, "--tag", &v)) != 0)
        {
            if (rc < 0) {
                return DDBM_USAGE;
            }

            if (v[0] == '=' || strchr(v, '=') == NULL) {
                ddbm_usage_error("--tag wants KEY=VALUE, not \"%s\"", v);
                return DDBM_USAGE;
            }

            if (ntags == DDBM_MAX_TAGS) {
                ddbm_usage_error("at most %d tags", DDBM_MAX_TAGS);
                return DDBM_USAGE;
            }

            tags[ntags++] = v;

        } else if (!dashdash && args->argv[i][0] == '-') {
            ddbm_usage_error("schema-load: unknown option %s",
                             args->argv[i]);
            return DDBM_USAGE;

        } else if (npos < 2) {
            pos[npos++] = args->argv[i];

        } else {
            npos++;
        }
    }

    ddbm_take_prod(opts, pos, &npos, 0);

    if (npos != 0) {
        ddbm_usage_error("schema-load takes no arguments (the table comes "
                         "from --table)");
        return DDBM_USAGE;
    }

    req = ddbm_create_table_request(opts->table, provisioned, protect, tags,
                                    ntags);
    if (req == NULL) {
        ddbm_error("out of memory");
        return DDBM_ERROR;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        json_decref(req);
        return rc;
    }

    rc = DDBM_ERROR;

    if (ddbm_call_json(&c, "CreateTable", req, &ans, &res) != 0) {
        ddbm_report(&c, "CreateTable", &res);
        goto done;
    }

    json_decref(ans);

    if (ddbm_wait_active(&c, opts->table, &desc) != 0) {
        goto done;
    }

    /* what DynamoDB says it created, not what we asked for */
    stream = json_object_get(desc, "StreamSpecification");

    printf("table created successfully: %s is ACTIVE at %s (%s; index %s; "
           "stream %s)\n",
           opts->table, c.url,
           json_object_get(desc, "BillingModeSummary") != NULL
           ? ddbm_jstr(json_object_get(desc, "BillingModeSummary"),
                       "BillingMode")
           : (provisioned ? "PROVISIONED" : "PAY_PER_REQUEST"),
           DDBM_GSI_NAME,
           json_is_true(json_object_get(stream, "StreamEnabled"))
           ? ddbm_jstr(stream, "StreamViewType") : "disabled");

    json_decref(desc);
    rc = DDBM_OK;

done:

    json_decref(req);
    ddbm_client_close(&c);

    return rc;
}


/* on prod the operator types the table name; no tty, no --yes: refuse */
static int
ddbm_confirm_drop(ddbm_client_t *c, const char *table)
{
    char    line[512];
    size_t  n;

    if (!isatty(STDIN_FILENO)) {
        ddbm_usage_error("refusing to drop table %s at %s without --yes "
                         "(stdin is not a terminal)", table, c->url);
        return DDBM_USAGE;
    }

    fprintf(stderr, "This deletes table %s and all its items at %s.\n"
            "Type the table name to confirm: ", table, c->url);
    fflush(stderr);

    if (fgets(line, sizeof(line), stdin) == NULL) {
        fputc('\n', stderr);
        ddbm_error("drop: aborted");
        return DDBM_ERROR;
    }

    n = strcspn(line, "\r\n");
    line[n] = '\0';

    if (strcmp(line, table) != 0) {
        ddbm_error("drop: aborted (\"%s\" is not the table name)", line);
        return DDBM_ERROR;
    }

    return DDBM_OK;
}


/* after DeleteTable: until DescribeTable says it is gone, bounded */
static int
ddbm_wait_gone(ddbm_client_t *c, json_t *req)
{
    int             tries;
    json_t         *ans;
    ddbm_result_t   res;

    for (tries = 0; tries < DDBM_WAIT_TRIES; tries++) {

        if (ddbm_call_json(c, "DescribeTable", req, &ans, &res) != 0) {
            if (ddbm_is_error(&res, "ResourceNotFoundException")) {
                return 0;
            }

            ddbm_report(c, "DescribeTable", &res);
            return -1;
        }

        json_decref(ans);

        if (tries == 0) {
            fprintf(stderr, "ddbm: waiting for the deletion to finish\n");
        }

        ddbm_sleep_ms(DDBM_WAIT_MS);
    }

    ddbm_error("table is still DELETING after %d seconds",
               DDBM_WAIT_TRIES * DDBM_WAIT_MS / 1000);

    return -1;
}


int
ddbm_cmd_drop(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             i, rc, npos, dashdash;
    json_t         *req, *ans;
    const char     *pos[3];
    ddbm_client_t   c;
    ddbm_result_t   res;

    npos = 0;
    dashdash = 0;

    for (i = 0; i < args->argc; i++) {
        if (!dashdash && ddbm_arg_flag(args, i, "--")) {
            dashdash = 1;

        } else if (!dashdash && args->argv[i][0] == '-') {
            ddbm_usage_error("drop: unknown option %s", args->argv[i]);
            return DDBM_USAGE;

        } else if (npos < 3) {
            pos[npos++] = args->argv[i];

        } else {
            npos++;
        }
    }

    /* the reference's style: drop cruddur-messages prod */
    ddbm_take_prod(opts, pos, &npos, 0);

    if (npos > 1) {
        ddbm_usage_error("drop takes at most one argument, the table");
        return DDBM_USAGE;
    }

    if (npos == 1) {
        opts->table = pos[0];
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        return rc;
    }

    if (c.prod && !opts->yes) {
        rc = ddbm_confirm_drop(&c, opts->table);
        if (rc != DDBM_OK) {
            ddbm_client_close(&c);
            return rc;
        }
    }

    req = json_pack("{s:s}", "TableName", opts->table);
    if (req == NULL) {
        ddbm_client_close(&c);
        ddbm_error("out of memory");
        return DDBM_ERROR;
    }

    printf("DELETING TABLE: %s\n", opts->table);
    fflush(stdout);

    rc = DDBM_ERROR;

    if (ddbm_call_json(&c, "DeleteTable", req, &ans, &res) != 0) {
        ddbm_report(&c, "DeleteTable", &res);
        goto done;
    }

    json_decref(ans);

    if (ddbm_wait_gone(&c, req) != 0) {
        goto done;
    }

    printf("table %s deleted\n", opts->table);
    rc = DDBM_OK;

done:

    json_decref(req);
    ddbm_client_close(&c);

    return rc;
}


int
ddbm_cmd_list_tables(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             i, rc, npos, as_json;
    size_t          k;
    json_t         *req, *ans, *names, *all, *v, *last;
    const char     *pos[2];
    ddbm_client_t   c;
    ddbm_result_t   res;

    npos = 0;
    as_json = 0;

    for (i = 0; i < args->argc; i++) {
        if (ddbm_arg_flag(args, i, "--json")) {
            as_json = 1;

        } else if (args->argv[i][0] == '-') {
            ddbm_usage_error("list-tables: unknown option %s",
                             args->argv[i]);
            return DDBM_USAGE;

        } else if (npos < 2) {
            pos[npos++] = args->argv[i];

        } else {
            npos++;
        }
    }

    ddbm_take_prod(opts, pos, &npos, 0);

    if (npos != 0) {
        ddbm_usage_error("list-tables takes no arguments");
        return DDBM_USAGE;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        return rc;
    }

    all = json_array();
    req = json_object();

    if (all == NULL || req == NULL) {
        ddbm_error("out of memory");
        rc = DDBM_ERROR;
        goto done;
    }

    /* an account may have more tables than one page (100) */
    for ( ;; ) {
        if (ddbm_call_json(&c, "ListTables", req, &ans, &res) != 0) {
            ddbm_report(&c, "ListTables", &res);
            rc = DDBM_ERROR;
            goto done;
        }

        names = json_object_get(ans, "TableNames");
        json_array_foreach(names, k, v) {
            if (json_is_string(v)) {
                json_array_append(all, v);
            }
        }

        last = json_object_get(ans, "LastEvaluatedTableName");

        if (!json_is_string(last)) {
            json_decref(ans);
            break;
        }

        json_object_set(req, "ExclusiveStartTableName", last);
        json_decref(ans);
    }

    if (as_json) {
        ans = json_pack("{s:O}", "TableNames", all);
        rc = (ans != NULL && ddbm_print_json(ans) == 0) ? DDBM_OK
                                                        : DDBM_ERROR;
        json_decref(ans);

    } else {
        json_array_foreach(all, k, v) {
            printf("%s\n", json_string_value(v));
        }

        rc = DDBM_OK;
    }

done:

    json_decref(req);
    json_decref(all);
    ddbm_client_close(&c);

    return rc;
}


int
ddbm_cmd_describe(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             i, rc, npos;
    json_t         *req, *ans;
    const char     *pos[2];
    ddbm_client_t   c;
    ddbm_result_t   res;

    npos = 0;

    for (i = 0; i < args->argc; i++) {
        if (ddbm_arg_flag(args, i, "--json")) {
            continue;

        } else if (args->argv[i][0] == '-') {
            ddbm_usage_error("describe: unknown option %s", args->argv[i]);
            return DDBM_USAGE;

        } else if (npos < 2) {
            pos[npos++] = args->argv[i];

        } else {
            npos++;
        }
    }

    ddbm_take_prod(opts, pos, &npos, 0);

    if (npos != 0) {
        ddbm_usage_error("describe takes no arguments (the table comes "
                         "from --table)");
        return DDBM_USAGE;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        return rc;
    }

    req = json_pack("{s:s}", "TableName", opts->table);

    if (req == NULL) {
        ddbm_error("out of memory");
        rc = DDBM_ERROR;

    } else if (ddbm_call_json(&c, "DescribeTable", req, &ans, &res) != 0) {
        ddbm_report(&c, "DescribeTable", &res);
        rc = DDBM_ERROR;

    } else {
        rc = ddbm_print_json(ans) == 0 ? DDBM_OK : DDBM_ERROR;
        json_decref(ans);
    }

    json_decref(req);
    ddbm_client_close(&c);

    return rc;
}
