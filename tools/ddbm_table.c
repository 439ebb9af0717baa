/*
 * The table itself: schema-load, create-table, drop, list-tables,
 * describe.  Control
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
/* the module's idempotency records carry their expiry here (epoch s) */
#define DDBM_TTL_ATTRIBUTE   "expires_at"


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
    int          tries, busy;
    size_t       i;
    json_t      *req, *ans, *t, *gsis, *g;
    const char  *status;

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

        if (ddbm_ask(c, "DescribeTable", req, NULL, &ans, NULL) != 0) {
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


/*
 * DynamoDB deletes an item once its expires_at is past (within about two
 * days): without it, idempotency records would pile up forever.  Allowed
 * on an ACTIVE table only.
 */
static int
ddbm_enable_ttl(ddbm_client_t *c, const char *table)
{
    int      rc;
    json_t  *req, *ans;

    req = json_pack("{s:s, s:{s:b, s:s}}",
                    "TableName", table,
                    "TimeToLiveSpecification",
                        "Enabled", 1,
                        "AttributeName", DDBM_TTL_ATTRIBUTE);
    if (req == NULL) {
        ddbm_error("out of memory");
        return -1;
    }

    rc = ddbm_ask(c, "UpdateTimeToLive", req, NULL, &ans, NULL);

    json_decref(req);

    if (rc != 0) {
        ddbm_error("table %s was created, but its TTL on %s is not "
                   "enabled; enable it with 'aws dynamodb update-time-to-live "
                   "--table-name %s --time-to-live-specification "
                   "Enabled=true,AttributeName=%s'", table,
                   DDBM_TTL_ATTRIBUTE, table, DDBM_TTL_ATTRIBUTE);
        return -1;
    }

    json_decref(ans);

    return 0;
}


/* --tag KEY=VALUE, up to DDBM_MAX_TAGS of them */
typedef struct {
    const char     *tag[DDBM_MAX_TAGS];
    int             n;
} ddbm_tags_t;


static int
ddbm_take_tag(const char *command, void *dest, const char *v)
{
    ddbm_tags_t  *tags = dest;

    if (v[0] == '=' || strchr(v, '=') == NULL) {
        ddbm_usage_error("--tag wants KEY=VALUE, not \"%s\"", v);
        return -1;
    }

    if (tags->n == DDBM_MAX_TAGS) {
        ddbm_usage_error("at most %d tags", DDBM_MAX_TAGS);
        return -1;
    }

    tags->tag[tags->n++] = v;

    return 1;
}


/* CreateTable, then its description once the table is ACTIVE: 0 or -1 */
static int
ddbm_create_and_wait(ddbm_client_t *c, json_t *req, const char *table,
    json_t **desc)
{
    json_t  *ans;

    if (ddbm_ask(c, "CreateTable", req, NULL, &ans, NULL) != 0) {
        return -1;
    }

    json_decref(ans);

    return ddbm_wait_active(c, table, desc);
}


int
ddbm_cmd_schema_load(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             rc, provisioned, protect;
    json_t         *req, *desc, *stream;
    ddbm_tags_t     tags;
    ddbm_client_t   c;

    const ddbm_option_t  options[] = {
        { "--provisioned", DDBM_OPT_FLAG, &provisioned, NULL },
        { "--deletion-protection", DDBM_OPT_FLAG, &protect, NULL },
        { "--tag", DDBM_OPT_VALUE, &tags, ddbm_take_tag },
        ddbm_null_option
    };

    const ddbm_syntax_t  syntax = {
        "schema-load", options, DDBM_ARGS_DASHDASH, 0, 0,
        "takes no arguments (the table comes from --table)"
    };

    tags.n = 0;
    provisioned = 0;
    protect = 0;

    if (ddbm_args_parse(opts, args, &syntax, NULL) != 0) {
        return DDBM_USAGE;
    }

    req = ddbm_create_table_request(opts->table, provisioned, protect,
                                    tags.tag, tags.n);
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

    if (ddbm_create_and_wait(&c, req, opts->table, &desc) != 0) {
        goto done;
    }

    if (ddbm_enable_ttl(&c, opts->table) != 0) {
        json_decref(desc);
        goto done;
    }

    /* what DynamoDB says it created, not what we asked for */
    stream = json_object_get(desc, "StreamSpecification");

    printf("table created successfully: %s is ACTIVE at %s (%s; index %s; "
           "stream %s; ttl " DDBM_TTL_ATTRIBUTE ")\n",
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


/*
 * A table of another application (examples/notes/table.json): the
 * CreateTable input as a file, the shape `aws dynamodb create-table
 * --cli-input-json` reads.  Its TableName, else --table's.
 */
int
ddbm_cmd_create_table(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             rc;
    json_t         *req, *desc;
    const char     *file, *table;
    json_error_t    jerr;
    ddbm_client_t   c;

    const ddbm_syntax_t  syntax = {
        "create-table", NULL, DDBM_ARGS_DASHDASH, 1, 1,
        "FILE.json (a CreateTable input)"
    };

    if (ddbm_args_parse(opts, args, &syntax, &file) != 0) {
        return DDBM_USAGE;
    }

    req = json_load_file(file, 0, &jerr);
    if (req == NULL) {
        if (jerr.line > 0) {
            ddbm_error("%s: line %d: %s", file, jerr.line, jerr.text);
        } else {
            ddbm_error("%s", jerr.text);      /* it names the file */
        }
        return DDBM_ERROR;
    }

    if (!json_is_object(req)) {
        ddbm_error("%s: not a JSON object", file);
        json_decref(req);
        return DDBM_ERROR;
    }

    table = json_string_value(json_object_get(req, "TableName"));
    if (table == NULL) {
        if (json_object_set_new(req, "TableName", json_string(opts->table))
            != 0)
        {
            ddbm_error("out of memory");
            json_decref(req);
            return DDBM_ERROR;
        }

        table = opts->table;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        json_decref(req);
        return rc;
    }

    rc = DDBM_ERROR;

    if (ddbm_create_and_wait(&c, req, table, &desc) != 0) {
        goto done;
    }

    printf("table created successfully: %s is ACTIVE at %s\n", table, c.url);

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
    int      tries, rc;
    json_t  *ans;

    for (tries = 0; tries < DDBM_WAIT_TRIES; tries++) {

        rc = ddbm_ask(c, "DescribeTable", req, NULL, &ans,
                      "ResourceNotFoundException");
        if (rc != 0) {
            return rc > 0 ? 0 : -1;
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
    int             rc;
    json_t         *req, *ans;
    const char     *table;
    ddbm_client_t   c;

    const ddbm_syntax_t  syntax = {
        "drop", NULL, DDBM_ARGS_DASHDASH, 0, 1,
        "takes at most one argument, the table"
    };

    /* the reference's style: drop cruddur-messages prod */
    if (ddbm_args_parse(opts, args, &syntax, &table) != 0) {
        return DDBM_USAGE;
    }

    if (table != NULL) {
        opts->table = table;
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

    if (ddbm_ask(&c, "DeleteTable", req, NULL, &ans, NULL) != 0) {
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
    int             rc, as_json;
    size_t          k;
    json_t         *req, *ans, *names, *all, *v, *last;
    ddbm_client_t   c;

    const ddbm_option_t  options[] = {
        { "--json", DDBM_OPT_FLAG, &as_json, NULL },
        ddbm_null_option
    };

    const ddbm_syntax_t  syntax = {
        "list-tables", options, 0, 0, 0, "takes no arguments"
    };

    as_json = 0;

    if (ddbm_args_parse(opts, args, &syntax, NULL) != 0) {
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
        if (ddbm_ask(&c, "ListTables", req, NULL, &ans, NULL) != 0) {
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
    int             rc;
    json_t         *req, *ans;
    ddbm_client_t   c;

    const ddbm_syntax_t  syntax = {
        "describe", ddbm_json_accepted, 0, 0, 0,
        "takes no arguments (the table comes from --table)"
    };

    if (ddbm_args_parse(opts, args, &syntax, NULL) != 0) {
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

    } else if (ddbm_ask(&c, "DescribeTable", req, NULL, &ans, NULL) != 0) {
        rc = DDBM_ERROR;

    } else {
        rc = ddbm_print_json(ans) == 0 ? DDBM_OK : DDBM_ERROR;
        json_decref(ans);
    }

    json_decref(req);
    ddbm_client_close(&c);

    return rc;
}
