/*
 * DynamoDB request bodies, written straight into a dm_buf_t: the module
 * builds one or more of these per client request, so no intermediate tree.
 */

#include <string.h>
#include "dm_ddb.h"
#include "dm_keys.h"


/* a literal, without strlen */
#define dm_json_lit(b, s)  dm_buf_append(b, s, sizeof(s) - 1)


static void
dm_json_char(dm_buf_t *b, char c)
{
    if (!b->failed && b->cap - b->len > 1) {
        b->data[b->len++] = (unsigned char) c;
        return;
    }

    dm_buf_append(b, &c, 1);
}


static void
dm_json_str(dm_buf_t *b, const char *s)
{
    dm_buf_json_string(b, (const unsigned char *) s, strlen(s));
}


/*
 * "key": -- names and types are the module's own words, which JSON
 * escapes nothing in: copied in one go (anything else as before)
 */
static void
dm_json_key(dm_buf_t *b, const char *key)
{
    size_t          i, n;
    unsigned char  *o, c;

    n = strlen(key);

    for (i = 0; i < n; i++) {
        c = (unsigned char) key[i];

        if (c < 0x20 || c == '"' || c == '\\') {
            break;
        }
    }

    if (i == n && dm_buf_reserve(b, n + 3) == 0) {
        o = b->data + b->len;
        *o++ = '"';
        memcpy(o, key, n);
        o += n;
        *o++ = '"';
        *o++ = ':';
        b->len = o - b->data;
        return;
    }

    dm_json_str(b, key);
    dm_buf_append(b, ":", 1);
}


/* {"S":"value"} */
static void
dm_json_typed(dm_buf_t *b, const char *type, const char *v, size_t len)
{
    dm_json_char(b, '{');
    dm_json_key(b, type);
    dm_buf_json_string(b, (const unsigned char *) v, len);
    dm_json_char(b, '}');
}


static void
dm_json_attrs(dm_buf_t *b, const dm_attr_t *a, size_t n)
{
    size_t  i;

    dm_json_char(b, '{');

    for (i = 0; i < n; i++) {
        if (i) {
            dm_json_char(b, ',');
        }
        dm_json_key(b, a[i].name);
        dm_json_typed(b, a[i].type, a[i].value, a[i].len);
    }

    dm_json_char(b, '}');
}


static void
dm_json_key_pk_sk(dm_buf_t *b, const char *pk, const char *sk)
{
    dm_attr_t  key[2] = {
        dm_attr_s("pk", pk, strlen(pk)),
        dm_attr_s("sk", sk, strlen(sk))
    };

    dm_json_attrs(b, key, 2);
}


static void
dm_json_condition(dm_buf_t *b, const char *condition, const dm_attr_t *values,
    size_t nvalues)
{
    if (condition == NULL) {
        return;
    }

    dm_json_lit(b, ",\"ConditionExpression\":");
    dm_json_str(b, condition);

    if (nvalues) {
        dm_json_lit(b, ",\"ExpressionAttributeValues\":");
        dm_json_attrs(b, values, nvalues);
    }
}


static int
dm_done(dm_buf_t *b)
{
    return b->failed ? -1 : 0;
}


int
dm_ddb_get_item(dm_buf_t *b, const char *table, const char *pk,
    const char *sk, int consistent)
{
    dm_json_lit(b, "{\"TableName\":");
    dm_json_str(b, table);
    dm_json_lit(b, ",\"Key\":");
    dm_json_key_pk_sk(b, pk, sk);

    if (consistent) {
        dm_json_lit(b, ",\"ConsistentRead\":true");
    }

    dm_json_char(b, '}');

    return dm_done(b);
}


int
dm_ddb_query(dm_buf_t *b, const dm_ddb_query_t *q)
{
    size_t  i;

    dm_json_lit(b, "{\"TableName\":");
    dm_json_str(b, q->table);

    if (q->index) {
        dm_json_lit(b, ",\"IndexName\":");
        dm_json_str(b, q->index);
    }

    /* names go through placeholders: no clash with reserved words */
    dm_json_lit(b, ",\"KeyConditionExpression\":\"#k = :k");
    if (q->sk_before) {
        dm_json_lit(b, " AND #s < :s");
    }
    dm_json_char(b, '"');

    if (q->filter_name) {
        dm_json_lit(b, ",\"FilterExpression\":\"#f = :f\"");
    }

    /*
     * The answer is read whole by the module: what it does not use is
     * neither sent nor parsed.  LastEvaluatedKey is not projected.
     */
    if (q->nproject) {
        dm_json_lit(b, ",\"ProjectionExpression\":\"");
        for (i = 0; i < q->nproject; i++) {
            if (i) {
                dm_json_char(b, ',');
            }
            dm_json_lit(b, "#p");
            dm_buf_append_uint(b, i);
        }
        dm_json_char(b, '"');
    }

    dm_json_lit(b, ",\"ExpressionAttributeNames\":{\"#k\":");
    dm_json_str(b, q->key_name);
    for (i = 0; i < q->nproject; i++) {
        dm_json_lit(b, ",\"#p");
        dm_buf_append_uint(b, i);
        dm_json_lit(b, "\":");
        dm_json_str(b, q->project[i].attr);
    }
    if (q->sk_before) {
        dm_json_lit(b, ",\"#s\":\"sk\"");
    }
    if (q->filter_name) {
        dm_json_lit(b, ",\"#f\":");
        dm_json_str(b, q->filter_name);
    }

    dm_json_lit(b, "},\"ExpressionAttributeValues\":{\":k\":");
    dm_json_typed(b, "S", q->key_value, strlen(q->key_value));
    if (q->sk_before) {
        dm_json_lit(b, ",\":s\":");
        dm_json_typed(b, "S", q->sk_before, strlen(q->sk_before));
    }
    if (q->filter_name) {
        dm_json_lit(b, ",\":f\":");
        dm_json_typed(b, "S", q->filter_value, strlen(q->filter_value));
    }
    dm_json_char(b, '}');

    dm_buf_append_str(b, q->forward ? ",\"ScanIndexForward\":true"
                                    : ",\"ScanIndexForward\":false");

    if (q->limit) {
        dm_json_lit(b, ",\"Limit\":");
        dm_buf_append_uint(b, q->limit);
    }

    if (q->consistent) {
        dm_json_lit(b, ",\"ConsistentRead\":true");
    }

    dm_json_char(b, '}');

    return dm_done(b);
}


int
dm_ddb_put_item(dm_buf_t *b, const char *table, const dm_attr_t *item,
    size_t nitem, const char *condition, const dm_attr_t *values,
    size_t nvalues)
{
    dm_json_lit(b, "{\"TableName\":");
    dm_json_str(b, table);
    dm_json_lit(b, ",\"Item\":");
    dm_json_attrs(b, item, nitem);
    dm_json_condition(b, condition, values, nvalues);
    dm_json_char(b, '}');

    return dm_done(b);
}


int
dm_ddb_tx_begin(dm_buf_t *b, const char *client_token)
{
    dm_json_char(b, '{');

    if (client_token) {
        dm_json_lit(b, "\"ClientRequestToken\":");
        dm_json_str(b, client_token);
        dm_json_char(b, ',');
    }

    dm_json_lit(b, "\"TransactItems\":[");

    return dm_done(b);
}


int
dm_ddb_tx_token(const void *text, size_t len, char *token)
{
    char  hex[65];

    if (dm_sha256_hex(text, len, hex) != 0) {
        return -1;
    }

    memcpy(token, hex, DM_DDB_TX_TOKEN_LEN);
    token[DM_DDB_TX_TOKEN_LEN] = '\0';

    return 0;
}


static void
dm_tx_separator(dm_buf_t *b)
{
    if (b->len && b->data[b->len - 1] != '[') {
        dm_json_char(b, ',');
    }
}


int
dm_ddb_tx_put(dm_buf_t *b, const char *table, const dm_attr_t *item,
    size_t nitem, const char *condition, const dm_attr_t *values,
    size_t nvalues)
{
    dm_tx_separator(b);
    dm_json_lit(b, "{\"Put\":");
    dm_ddb_put_item(b, table, item, nitem, condition, values, nvalues);
    dm_json_char(b, '}');

    return dm_done(b);
}


int
dm_ddb_tx_delete(dm_buf_t *b, const char *table, const char *pk,
    const char *sk, const char *condition, const dm_attr_t *values,
    size_t nvalues)
{
    dm_tx_separator(b);
    dm_json_lit(b, "{\"Delete\":{\"TableName\":");
    dm_json_str(b, table);
    dm_json_lit(b, ",\"Key\":");
    dm_json_key_pk_sk(b, pk, sk);
    dm_json_condition(b, condition, values, nvalues);
    dm_json_lit(b, "}}");

    return dm_done(b);
}


int
dm_ddb_tx_end(dm_buf_t *b)
{
    dm_json_lit(b, "]}");

    return dm_done(b);
}
