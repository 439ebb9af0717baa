/* Unit tests: DynamoDB request bodies and the streaming answer reader. */

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "dm_ddb.h"


static const char  *query_answer =
    "{\"Count\":2,\"Items\":["
    "{\"message_group_uuid\":{\"S\":\"g1\"},\"sk\":{\"S\":\"t2\"},"
    "\"tags\":{\"L\":[{\"S\":\"x\"},{\"M\":{\"a\":{\"S\":\"b\"}}}]},"
    "\"message\":{\"S\":\"line \\\"two\\\"\\n\\u00e9\"},"
    "\"pk\":{\"S\":\"GRP#u\"},\"user_handle\":{\"S\":\"bob\"}},"
    "{\"message_group_uuid\":{\"S\":\"g0\"},\"sk\":{\"S\":\"t1\"},"
    "\"message\":{\"S\":\"one\"},\"n\":{\"N\":\"42\"},"
    "\"b\":{\"BOOL\":true},\"z\":{\"NULL\":true}}],"
    "\"LastEvaluatedKey\":{\"pk\":{\"S\":\"GRP#u\"},\"sk\":{\"S\":\"t1\"}},"
    "\"ScannedCount\":2,\"ConsumedCapacity\":{\"CapacityUnits\":0.5}}";

static const dm_field_map_t  map[] = {
    { "message_group_uuid", "uuid" },
    { "sk", "created_at" },
    { "message", "message" },
    { "n", "n" },
    { "b", "b" },
    { "z", "z" },
};


typedef struct {
    char    seen[1024];
    size_t  begins, ends;
} collect_t;


static int
on_begin(void *ctx, size_t i)
{
    ((collect_t *) ctx)->begins++;
    return 0;
}


static int
on_attr(void *ctx, const char *name, size_t nl, char type,
    const unsigned char *v, size_t vl)
{
    collect_t  *c = ctx;
    char        t[2] = { type ? type : '0', 0 };

    strncat(c->seen, name, nl);
    strcat(c->seen, ":");
    strcat(c->seen, t);
    strcat(c->seen, "=");
    strncat(c->seen, (const char *) v, vl);
    strcat(c->seen, ";");
    return 0;
}


static int
on_end(void *ctx, size_t i)
{
    ((collect_t *) ctx)->ends++;
    return 0;
}


/* an unprocessed key's attribute: "#index name=value;" */
static int
on_key(void *ctx, size_t index, const char *name, size_t nl, char type,
    const unsigned char *v, size_t vl)
{
    collect_t  *c = ctx;
    char        n[24];

    snprintf(n, sizeof(n), "#%zu ", index);
    strcat(c->seen, n);

    return on_attr(ctx, name, nl, type, v, vl);
}


static int
refuse(void *ctx, size_t i)
{
    return -1;
}


static int
rewrite(const char *body, int reverse, dm_buf_t *out, dm_ddb_answer_t *a)
{
    dm_buf_init_malloc(out);

    return dm_ddb_rewrite_items((const unsigned char *) body, strlen(body),
                                map, sizeof(map) / sizeof(map[0]), reverse,
                                out, a, NULL);
}


int
main(void)
{
    dm_buf_t           b;
    dm_ddb_answer_t    a;
    dm_ddb_query_t     q;
    static const dm_field_map_t  project[] = {
        { "message", "message" }, { "sk", "created_at" }
    };
    dm_item_handler_t  h;
    collect_t          c;
    int                rc;
    const char        *s;
    dm_attr_t          item[] = {
        dm_attr_s("pk", "MSG#g", 5),
        dm_attr_s("message", "say \"hi\"\n", 9),
        { "rev", "N", "3", 1 },
    };
    dm_attr_t          vals[] = { { ":r", "N", "2", 1 } };

    /* ---- request bodies ---- */

    dm_buf_init_malloc(&b);
    rc = dm_ddb_get_item(&b, "t", "GRPMETA#g", "META", 1);
    is_str(dm_buf_cstr(&b),
           "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"GRPMETA#g\"},"
           "\"sk\":{\"S\":\"META\"}},\"ConsistentRead\":true}",
           "GetItem body");
    ok(rc == 0, "GetItem ok");
    dm_buf_free_malloc(&b);

    memset(&q, 0, sizeof(q));
    q.table = "t";
    q.key_name = "pk";
    q.key_value = "MSG#g";
    q.sk_before = "2026-01-01T00:00:00.000000+00:00";
    q.limit = 20;
    q.consistent = 1;
    dm_buf_init_malloc(&b);
    dm_ddb_query(&b, &q);
    is_str(dm_buf_cstr(&b),
           "{\"TableName\":\"t\",\"KeyConditionExpression\":"
           "\"#k = :k AND #s < :s\",\"ExpressionAttributeNames\":"
           "{\"#k\":\"pk\",\"#s\":\"sk\"},\"ExpressionAttributeValues\":"
           "{\":k\":{\"S\":\"MSG#g\"},\":s\":{\"S\":"
           "\"2026-01-01T00:00:00.000000+00:00\"}},"
           "\"ScanIndexForward\":false,\"Limit\":20,"
           "\"ConsistentRead\":true}",
           "Query body with cursor");
    dm_buf_free_malloc(&b);

    q.project = project;
    q.nproject = 2;
    dm_buf_init_malloc(&b);
    dm_ddb_query(&b, &q);
    is_str(dm_buf_cstr(&b),
           "{\"TableName\":\"t\",\"KeyConditionExpression\":"
           "\"#k = :k AND #s < :s\",\"ProjectionExpression\":\"#p0,#p1\","
           "\"ExpressionAttributeNames\":{\"#k\":\"pk\","
           "\"#p0\":\"message\",\"#p1\":\"sk\",\"#s\":\"sk\"},"
           "\"ExpressionAttributeValues\":"
           "{\":k\":{\"S\":\"MSG#g\"},\":s\":{\"S\":"
           "\"2026-01-01T00:00:00.000000+00:00\"}},"
           "\"ScanIndexForward\":false,\"Limit\":20,"
           "\"ConsistentRead\":true}",
           "Query body with a projection: every name by placeholder");
    dm_buf_free_malloc(&b);

    memset(&q, 0, sizeof(q));
    q.table = "t";
    q.index = "message-group-sk-index";
    q.key_name = "message_group_uuid";
    q.key_value = "g";
    q.filter_name = "user_uuid";
    q.filter_value = "u";
    q.forward = 1;
    dm_buf_init_malloc(&b);
    dm_ddb_query(&b, &q);
    is_str(dm_buf_cstr(&b),
           "{\"TableName\":\"t\",\"IndexName\":\"message-group-sk-index\","
           "\"KeyConditionExpression\":\"#k = :k\",\"FilterExpression\":"
           "\"#f = :f\",\"ExpressionAttributeNames\":{\"#k\":"
           "\"message_group_uuid\",\"#f\":\"user_uuid\"},"
           "\"ExpressionAttributeValues\":{\":k\":{\"S\":\"g\"},"
           "\":f\":{\"S\":\"u\"}},\"ScanIndexForward\":true}",
           "Query body on the index with a filter");
    dm_buf_free_malloc(&b);

    dm_buf_init_malloc(&b);
    dm_ddb_tx_begin(&b, "tok");
    dm_ddb_tx_put(&b, "t", item, 3, "attribute_not_exists(pk)", NULL, 0);
    dm_ddb_tx_delete(&b, "t", "GRP#u", "t0", "attribute_exists(pk)", NULL,
                     0);
    dm_ddb_tx_put(&b, "t", item, 1, "rev = :r", vals, 1);
    rc = dm_ddb_tx_end(&b);
    is_str(dm_buf_cstr(&b),
           "{\"ClientRequestToken\":\"tok\",\"TransactItems\":["
           "{\"Put\":{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"MSG#g\"},"
           "\"message\":{\"S\":\"say \\\"hi\\\"\\n\"},\"rev\":{\"N\":\"3\"}},"
           "\"ConditionExpression\":\"attribute_not_exists(pk)\"}},"
           "{\"Delete\":{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":"
           "\"GRP#u\"},\"sk\":{\"S\":\"t0\"}},\"ConditionExpression\":"
           "\"attribute_exists(pk)\"}},"
           "{\"Put\":{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":"
           "\"MSG#g\"}},\"ConditionExpression\":\"rev = :r\","
           "\"ExpressionAttributeValues\":{\":r\":{\"N\":\"2\"}}}}]}",
           "TransactWriteItems body");
    ok(rc == 0, "tx ok");
    dm_buf_free_malloc(&b);

    /* the token: a function of the text alone, 36 hex digits */
    {
        char  t1[64], t2[64], t3[64];

        snprintf(t3, sizeof(t3), "%s", "uuid-a Put x");
        ok(dm_ddb_tx_token("uuid-a Put x", 12, t1) == 0
           && dm_ddb_tx_token("uuid-a Put x", 12, t2) == 0
           && strcmp(t1, t2) == 0, "tx token: the same text, the same token");
        ok(strlen(t1) == DM_DDB_TX_TOKEN_LEN
           && strspn(t1, "0123456789abcdef") == DM_DDB_TX_TOKEN_LEN,
           "tx token: 36 hex digits");
        ok(dm_ddb_tx_token("uuid-b Put x", 12, t2) == 0
           && strcmp(t1, t2) != 0, "tx token: another text, another token");
        ok(dm_ddb_tx_token(t3, 12, t3) == 0 && strcmp(t1, t3) == 0,
           "tx token: in place");
    }

    dm_buf_init_malloc(&b);
    dm_buf_json_string(&b, (const unsigned char *) "a\x01\x1f\\/\t", 6);
    is_str(dm_buf_cstr(&b), "\"a\\u0001\\u001f\\\\/\\t\"",
           "control characters escaped");
    dm_buf_free_malloc(&b);

    /* ---- reader ---- */

    memset(&c, 0, sizeof(c));
    h.item_begin = on_begin;
    h.item_attr = on_attr;
    h.item_end = on_end;
    h.key_attr = NULL;
    h.ctx = &c;
    rc = dm_ddb_read((const unsigned char *) query_answer,
                     strlen(query_answer), &h, &a);
    ok(rc == 0, "Query answer read");
    ok(a.nitems == 2 && c.begins == 2 && c.ends == 2, "two items");
    ok(a.count == 2, "Count");
    ok(a.has_last_key && strcmp(a.last_sk, "t1") == 0, "LastEvaluatedKey.sk");
    is_str(c.seen,
           "message_group_uuid:S=g1;sk:S=t2;message:S=line \"two\"\n\xc3\xa9;"
           "pk:S=GRP#u;user_handle:S=bob;message_group_uuid:S=g0;sk:S=t1;"
           "message:S=one;n:N=42;b:B=true;z:0=;",
           "attributes in order, lists and maps skipped, strings unescaped");
    ok(a.error_type[0] == '\0', "no error type");

    rc = rewrite(query_answer, 0, &b, &a);
    ok(rc == 0, "rewrite ok");
    is_str(dm_buf_cstr(&b),
           "[{\"uuid\":\"g1\",\"created_at\":\"t2\",\"message\":"
           "\"line \\\"two\\\"\\n\xc3\xa9\"},{\"uuid\":\"g0\","
           "\"created_at\":\"t1\",\"message\":\"one\",\"n\":42,\"b\":true,"
           "\"z\":null}]",
           "rewrite renames and drops attributes");
    dm_buf_free_malloc(&b);

    rc = rewrite(query_answer, 1, &b, &a);
    is_str(dm_buf_cstr(&b),
           "[{\"uuid\":\"g0\",\"created_at\":\"t1\",\"message\":\"one\","
           "\"n\":42,\"b\":true,\"z\":null},{\"uuid\":\"g1\","
           "\"created_at\":\"t2\",\"message\":"
           "\"line \\\"two\\\"\\n\xc3\xa9\"}]",
           "reverse rewrite");
    dm_buf_free_malloc(&b);

    rc = rewrite("{\"Items\":[{\"message\":{\"S\":\"m\"},\"sk\":{\"S\":\"t\"},"
                 "\"message_group_uuid\":{\"S\":\"g\"}}]}", 0, &b, &a);
    is_str(dm_buf_cstr(&b),
           "[{\"uuid\":\"g\",\"created_at\":\"t\",\"message\":\"m\"}]",
           "keys come in the map's order, whatever DynamoDB's order");
    dm_buf_free_malloc(&b);

    rc = rewrite("{\"Items\":[],\"Count\":0,\"ScannedCount\":0}", 1, &b, &a);
    is_str(dm_buf_cstr(&b), "[]", "empty answer: []");
    ok(rc == 0 && a.nitems == 0 && !a.has_last_key, "empty answer info");
    dm_buf_free_malloc(&b);

    s = "{\"Item\":{\"user_uuid\":{\"S\":\"u\"},\"user_handle\":{\"S\":"
        "\"bob\"}}}";
    memset(&c, 0, sizeof(c));
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), &h, &a);
    ok(rc == 0 && a.nitems == 1, "GetItem: one item");
    is_str(c.seen, "user_uuid:S=u;user_handle:S=bob;", "GetItem attributes");

    s = "{\"Items\":[],\"LastEvaluatedKey\":{\"sk\":{\"S\":\""
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "\"}}}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == 0 && a.has_last_key && a.last_sk_truncated,
       "a sort key longer than last_sk is flagged, not silently cut");

    s = "{}";
    rc = dm_ddb_read((const unsigned char *) s, 2, &h, &a);
    ok(rc == 0 && a.nitems == 0, "GetItem miss: no item");

    s = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
        "ThrottlingException\",\"message\":\"Rate exceeded\"}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == 0, "error body read");
    is_str(a.error_type, "ThrottlingException", "error type after '#'");
    is_str(a.error_message, "Rate exceeded", "error message");
    ok(dm_ddb_is_error(&a, "ThrottlingException"), "dm_ddb_is_error");

    s = "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
        "\"Message\":\"bad\"}";
    dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(strcmp(a.error_message, "bad") == 0
       && strcmp(a.error_type, "ValidationException") == 0,
       "\"Message\" spelling");

    s = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
        "TransactionCanceledException\",\"CancellationReasons\":["
        "{\"Code\":\"None\"},{\"Code\":\"ConditionalCheckFailed\","
        "\"Message\":\"The conditional request failed\"},"
        "{\"Code\":\"TransactionConflict\",\"Message\":\"x\"},"
        "{\"Code\":\"ThrottlingError\"},{\"Code\":\"ValidationError\"}],"
        "\"Message\":\"Transaction cancelled\"}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == 0 && a.ncancel == 5, "five cancellation reasons");
    ok(a.cancel[0] == DM_CANCEL_NONE && a.cancel[1] == DM_CANCEL_CONDITION
       && a.cancel[2] == DM_CANCEL_CONFLICT
       && a.cancel[3] == DM_CANCEL_THROTTLED
       && a.cancel[4] == DM_CANCEL_OTHER, "cancellation codes in order");
    is_str(a.error_message, "Transaction cancelled",
           "top-level Message, not a reason's");

    s = "{\"Items\":[{\"sk\":{\"S\":\"t1\"}}";
    rc = rewrite(s, 0, &b, &a);
    ok(rc == -1, "truncated answer is an error");
    ok(a.error_message[0] != '\0', "with a reason");
    dm_buf_free_malloc(&b);

    s = "<html>502 Bad Gateway</html>";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == -1, "garbage is an error");

    s = "[1,2]";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == -1, "an array is an error");

    s = "{\"Items\":[{\"m\":{\"S\":\"\xff\xfe\"}}]}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == -1, "invalid UTF-8 is an error");

    s = "{\"Items\":[{\"m\":{\"S\":\"a\",\"N\":\"1\"}}]}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), &h, &a);
    ok(rc == -1, "two types in one attribute value is an error");

    s = "{\"Items\":[{\"a\":{\"S\":\"1\"}}]}";
    h.item_begin = refuse;
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), &h, &a);
    ok(rc == -1, "a handler can stop the parse");

    /* found by fuzz/fuzz_ddb_reader: values not of their declared type */
    s = "{\"Items\":[{\"n\":{\"N\":\"line \\\"two\\\"\"},"
        "\"b\":{\"BOOL\":\"yes\"},\"message\":{\"S\":7}}]}";
    rc = rewrite(s, 0, &b, &a);
    ok(rc == 0, "rewrite of odd attribute values");
    is_str(dm_buf_cstr(&b),
           "[{\"message\":\"7\",\"n\":\"line \\\"two\\\"\","
           "\"b\":\"yes\"}]",
           "a value that is not JSON of its type comes out as a string");
    dm_buf_free_malloc(&b);

    s = "{\"Items\":[{\"n\":{\"N\":\"-12.5E+3\"},\"b\":{\"BOOL\":false},"
        "\"z\":{\"NULL\":true},\"message\":{\"N\":\"01\"}}]}";
    rc = rewrite(s, 0, &b, &a);
    ok(rc == 0, "rewrite of numbers and booleans");
    is_str(dm_buf_cstr(&b),
           "[{\"message\":\"01\",\"n\":-12.5E+3,\"b\":false,"
           "\"z\":null}]",
           "JSON numbers and booleans verbatim, anything else quoted");
    dm_buf_free_malloc(&b);

    /* BatchGetItem: Responses' items, UnprocessedKeys' keys */
    h.item_begin = on_begin;
    h.key_attr = on_key;
    memset(&c, 0, sizeof(c));
    s = "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"U#1\"},"
        "\"sk\":{\"S\":\"b\"},\"l\":{\"L\":[]}},"
        "{\"sk\":{\"S\":\"a\"},\"v\":{\"N\":\"2\"}}]},"
        "\"UnprocessedKeys\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"U#1\"},"
        "\"sk\":{\"S\":\"c\"}},{\"sk\":{\"S\":\"d\"}}],"
        "\"ProjectionExpression\":\"#p0\",\"ExpressionAttributeNames\":"
        "{\"#p0\":\"v\"},\"ConsistentRead\":true}},"
        "\"ConsumedCapacity\":[{\"TableName\":\"t\"}]}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), &h, &a);
    ok(rc == 0 && a.nitems == 2 && c.begins == 2 && c.ends == 2,
       "BatchGetItem: Responses' two items");
    ok(a.nunprocessed == 2, "BatchGetItem: two unprocessed keys");
    is_str(c.seen,
           "pk:S=U#1;sk:S=b;sk:S=a;v:N=2;#0 pk:S=U#1;#0 sk:S=c;#1 sk:S=d;",
           "BatchGetItem: items, then the keys by index, other members "
           "skipped");

    memset(&c, 0, sizeof(c));
    s = "{\"UnprocessedKeys\":{},\"Responses\":{\"t\":[]}}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), &h, &a);
    ok(rc == 0 && a.nitems == 0 && a.nunprocessed == 0 && c.seen[0] == '\0',
       "BatchGetItem: nothing found, nothing left");

    s = "{\"Responses\":{\"t\":{\"pk\":{\"S\":\"x\"}}}}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), &h, &a);
    ok(rc == -1, "BatchGetItem: a table's items not in an array is an error");

    s = "{\"UnprocessedKeys\":{\"t\":{\"Keys\":{}}}}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), &h, &a);
    ok(rc == -1, "BatchGetItem: Keys not an array is an error");

    s = "{\"Items\":[{\"a\":{\"S\":\"1\"}}],\"UnprocessedKeys\":"
        "{\"t\":{\"Keys\":[{\"a\":{\"S\":\"1\"}}]}}}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == 0 && a.nitems == 1 && a.nunprocessed == 1,
       "BatchGetItem: keys counted without a handler");

    /* found by fuzz/fuzz_ddb_reader (UBSan): a Count past long long */
    s = "{\"Count\":123456789012345678901234567890,\"Items\":[]}";
    rc = dm_ddb_read((const unsigned char *) s, strlen(s), NULL, &a);
    ok(rc == 0 && a.count == LLONG_MAX, "a huge Count saturates");

    return done_testing();
}
