/*
 * BatchWriteItem for the bulk writers (seed, import-users).  Items are
 * described with the core's dm_attr_t, as for its PutItem builder; the
 * batch envelope and the UnprocessedItems answer are handled with jansson.
 */

#include <stdio.h>
#include <string.h>

#include "ddbm.h"


#define DDBM_UNPROCESSED_ROUNDS  10


static json_t *
ddbm_attr_value(const char *type, const char *value, size_t len)
{
    json_t  *v;

    /* json_stringn refuses invalid UTF-8: the callers validated already */
    v = json_stringn(value, len);
    if (v == NULL) {
        return NULL;
    }

    return json_pack("{s:o}", type, v);
}


static json_t *
ddbm_item_json(const dm_attr_t *attrs, size_t n)
{
    size_t   i;
    json_t  *item, *v;

    item = json_object();
    if (item == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        v = ddbm_attr_value(attrs[i].type, attrs[i].value, attrs[i].len);

        if (v == NULL || json_object_set_new(item, attrs[i].name, v) != 0) {
            json_decref(item);
            return NULL;
        }
    }

    return item;
}


static json_t *
ddbm_key_json(const ddbm_key_t *key)
{
    return json_pack("{s:{s:s}, s:{s:s}}", "pk", "S", key->pk,
                     "sk", "S", key->sk);
}


/* one BatchWriteItem call, then its unprocessed items until none are left */
static int
ddbm_batch_send(ddbm_client_t *c, json_t *requests)
{
    unsigned   round;
    json_t    *req, *ans, *left;

    req = json_pack("{s:{s:O}}", "RequestItems", c->opts->table, requests);
    if (req == NULL) {
        ddbm_error("out of memory");
        return -1;
    }

    for (round = 0; round < DDBM_UNPROCESSED_ROUNDS; round++) {

        if (ddbm_ask(c, "BatchWriteItem", req, NULL, &ans, NULL) != 0) {
            json_decref(req);
            return -1;
        }

        left = json_object_get(ans, "UnprocessedItems");

        if (json_object_size(left) == 0) {
            json_decref(ans);
            json_decref(req);
            return 0;
        }

        /* DynamoDB shed part of the batch: resend that part, later */
        json_object_set(req, "RequestItems", left);
        json_decref(ans);

        ddbm_sleep_ms(ddbm_backoff_ms(round));
    }

    json_decref(req);
    ddbm_error("BatchWriteItem: items still unprocessed after %d rounds "
               "(throttled?); run the command again", DDBM_UNPROCESSED_ROUNDS);

    return -1;
}


/*
 * All deletes go before all puts, in separate batches, so a key that is
 * both deleted and put ends up put (a batch may not name a key twice).
 */
int
ddbm_batch_write(ddbm_client_t *c, const ddbm_item_t *puts, size_t nputs,
    const ddbm_key_t *deletes, size_t ndeletes)
{
    size_t   i, total;
    json_t  *requests, *r, *body;

    requests = json_array();
    if (requests == NULL) {
        ddbm_error("out of memory");
        return -1;
    }

    total = ndeletes + nputs;

    for (i = 0; i < total; i++) {

        if (i < ndeletes) {
            body = ddbm_key_json(&deletes[i]);
            r = body ? json_pack("{s:{s:o}}", "DeleteRequest", "Key", body)
                     : NULL;

        } else {
            body = ddbm_item_json(puts[i - ndeletes].attrs,
                                  puts[i - ndeletes].nattrs);
            r = body ? json_pack("{s:{s:o}}", "PutRequest", "Item", body)
                     : NULL;
        }

        if (r == NULL || json_array_append_new(requests, r) != 0) {
            ddbm_error("cannot encode an item (invalid UTF-8?)");
            json_decref(requests);
            return -1;
        }

        if (json_array_size(requests) == DDBM_BATCH_MAX
            || i + 1 == total || i + 1 == ndeletes)
        {
            if (ddbm_batch_send(c, requests) != 0) {
                json_decref(requests);
                return -1;
            }

            json_array_clear(requests);
        }
    }

    json_decref(requests);

    return 0;
}
