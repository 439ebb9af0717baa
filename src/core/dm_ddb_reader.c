/*
 * One streaming pass (yajl SAX) over DynamoDB answers: items, error type
 * and message, cancellation reasons, Count and LastEvaluatedKey.sk, and
 * BatchGetItem's Responses (items) and UnprocessedKeys (keys).  No tree
 * is built; strings are reported while the parser holds them.
 */

#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include "dm_ddb.h"


typedef enum {
    DM_ST_START = 0,
    DM_ST_TOP,                  /* in the top object: a key or the end */
    DM_ST_TOP_VALUE,            /* after a top key we do not care about */
    DM_ST_ITEMS,                /* in "Items": [ ... ] */
    DM_ST_ITEM,                 /* in an item: attribute names */
    DM_ST_ATTR,                 /* in {"S": ...}: the type key */
    DM_ST_ATTR_VALUE,           /* the scalar after the type key */
    DM_ST_ATTR_DONE,            /* after the value: end of the attr map */
    DM_ST_LEK,                  /* in LastEvaluatedKey: attribute names */
    DM_ST_LEK_ATTR,
    DM_ST_LEK_VALUE,
    DM_ST_LEK_DONE,
    DM_ST_CANCEL,               /* in "CancellationReasons": [ ... ] */
    DM_ST_CANCEL_OBJ,
    DM_ST_CANCEL_CODE,
    DM_ST_RESP,                 /* in "Responses": table names, arrays */
    DM_ST_UNPROC,               /* in "UnprocessedKeys": table names */
    DM_ST_UNPROC_TABLE,         /* in a table's: "Keys", others skipped */
    DM_ST_UNPROC_KEYS,          /* in "Keys": [ ... ], each read as an item */
    DM_ST_DONE
} dm_state_e;

typedef enum {
    DM_TOP_OTHER = 0,
    DM_TOP_ITEMS,
    DM_TOP_ITEM,
    DM_TOP_COUNT,
    DM_TOP_LEK,
    DM_TOP_TYPE,
    DM_TOP_MESSAGE,
    DM_TOP_CANCEL,
    DM_TOP_RESPONSES,
    DM_TOP_UNPROCESSED
} dm_top_key_e;


typedef struct {
    const dm_item_handler_t  *handler;
    dm_ddb_answer_t          *answer;
    dm_state_e                state;
    dm_top_key_e              top_key;
    int                       single_item;  /* "Item", not "Items" */
    int                       in_responses; /* Items of a Responses table */
    int                       in_key;       /* an unprocessed key, not an
                                               item */
    unsigned                  skip;         /* depth of a skipped value */
    int                       skip_next;    /* the next value is skipped */
    size_t                    attr_name_len;
    char                      attr_name[256];   /* DynamoDB's limit */
    char                      attr_type;    /* S, N, B(OOL), 0 (NULL) */
    int                       attr_wanted;
    int                       lek_is_sk;
    int                       in_code;
    int                       have_message;
} dm_reader_t;


static void
dm_copy_str(char *dst, size_t size, const unsigned char *s, size_t len)
{
    if (len >= size) {
        len = size - 1;
    }

    memcpy(dst, s, len);
    dst[len] = '\0';
}


static void
dm_stop(dm_reader_t *rd, const char *why)
{
    if (rd->answer->error_message[0] == '\0') {
        dm_copy_str(rd->answer->error_message,
                    sizeof(rd->answer->error_message),
                    (const unsigned char *) why, strlen(why));
    }
}


/* a value has been consumed entirely: where the parser goes next */
static void
dm_value_done(dm_reader_t *rd)
{
    switch (rd->state) {
    case DM_ST_TOP_VALUE:
        rd->state = DM_ST_TOP;
        break;
    case DM_ST_ATTR_VALUE:
        rd->state = DM_ST_ATTR_DONE;
        break;
    case DM_ST_LEK_VALUE:
        rd->state = DM_ST_LEK_DONE;
        break;
    default:
        break;
    }
}


/*
 * Every scalar goes through here.  type is 'S' for strings, 'N' for
 * numbers, 'B' for booleans, 0 for null.
 */
static int
dm_scalar(dm_reader_t *rd, char type, const unsigned char *v, size_t len)
{
    dm_ddb_answer_t  *a;
    long long         n;
    size_t            i;

    if (rd->skip) {
        return 1;
    }

    if (rd->skip_next) {
        rd->skip_next = 0;
        dm_value_done(rd);
        return 1;
    }

    a = rd->answer;

    switch (rd->state) {

    case DM_ST_TOP_VALUE:
        switch (rd->top_key) {

        case DM_TOP_COUNT:
            if (type == 'N') {
                for (n = 0, i = 0; i < len && v[i] >= '0' && v[i] <= '9';
                     i++)
                {
                    /* no real Count is near; a huge one must not overflow */
                    if (n > (LLONG_MAX - 9) / 10) {
                        n = LLONG_MAX;
                        break;
                    }

                    n = n * 10 + (v[i] - '0');
                }
                a->count = n;
            }
            break;

        case DM_TOP_TYPE:
            if (type == 'S') {
                /* "com.amazonaws.dynamodb.v20120810#ThrottlingException" */
                for (i = len; i > 0 && v[i - 1] != '#'; i--) { /* void */ }
                dm_copy_str(a->error_type, sizeof(a->error_type), v + i,
                            len - i);
            }
            break;

        case DM_TOP_MESSAGE:
            if (type == 'S') {
                dm_copy_str(a->error_message, sizeof(a->error_message), v,
                            len);
                rd->have_message = 1;
            }
            break;

        default:
            break;
        }

        rd->state = DM_ST_TOP;
        return 1;

    case DM_ST_ATTR_VALUE:
        if (rd->attr_type == 0) {
            v = (const unsigned char *) "";
            len = 0;
        }

        if (rd->in_key) {
            if (rd->attr_wanted && rd->handler && rd->handler->key_attr
                && rd->handler->key_attr(rd->handler->ctx,
                                         a->nunprocessed - 1, rd->attr_name,
                                         rd->attr_name_len, rd->attr_type,
                                         v, len) != 0)
            {
                dm_stop(rd, "key handler refused an attribute");
                return 0;
            }

        } else if (rd->attr_wanted && rd->handler
                   && rd->handler->item_attr)
        {
            if (rd->handler->item_attr(rd->handler->ctx, rd->attr_name,
                                       rd->attr_name_len, rd->attr_type,
                                       v, len) != 0)
            {
                dm_stop(rd, "item handler refused an attribute");
                return 0;
            }
        }
        rd->state = DM_ST_ATTR_DONE;
        return 1;

    case DM_ST_LEK_VALUE:
        if (rd->lek_is_sk && type == 'S') {
            dm_copy_str(a->last_sk, sizeof(a->last_sk), v, len);
            a->last_sk_truncated = (len >= sizeof(a->last_sk));
        }
        rd->state = DM_ST_LEK_DONE;
        return 1;

    case DM_ST_CANCEL_CODE:
        if (a->ncancel < DM_DDB_MAX_CANCEL) {
            unsigned char  code = DM_CANCEL_OTHER;

            if (type == 'S') {
                if (len == 4 && memcmp(v, "None", 4) == 0) {
                    code = DM_CANCEL_NONE;
                } else if (len == 22
                           && memcmp(v, "ConditionalCheckFailed", 22) == 0)
                {
                    code = DM_CANCEL_CONDITION;
                } else if (len == 19
                           && memcmp(v, "TransactionConflict", 19) == 0)
                {
                    code = DM_CANCEL_CONFLICT;
                } else if ((len >= 10 && memcmp(v, "Throttling", 10) == 0)
                           || (len >= 20
                               && memcmp(v, "ProvisionedThroughput", 20)
                                  == 0)
                           || (len >= 12 && memcmp(v, "RequestLimit", 12)
                                            == 0))
                {
                    code = DM_CANCEL_THROTTLED;
                }
            }

            a->cancel[a->ncancel] = code;
            rd->in_code = 1;
        }
        rd->state = DM_ST_CANCEL_OBJ;
        return 1;

    default:
        dm_stop(rd, "unexpected value in DynamoDB answer");
        return 0;
    }
}


static int
dm_on_null(void *ctx)
{
    return dm_scalar(ctx, 0, (const unsigned char *) "", 0);
}


static int
dm_on_boolean(void *ctx, int v)
{
    return dm_scalar(ctx, 'B', (const unsigned char *) (v ? "true" : "false"),
                     v ? 4 : 5);
}


static int
dm_on_number(void *ctx, const char *v, size_t len)
{
    return dm_scalar(ctx, 'N', (const unsigned char *) v, len);
}


static int
dm_on_string(void *ctx, const unsigned char *v, size_t len)
{
    return dm_scalar(ctx, 'S', v, len);
}


static int
dm_start_container(dm_reader_t *rd, int is_map)
{
    if (rd->skip) {
        rd->skip++;
        return 1;
    }

    if (rd->skip_next) {
        rd->skip_next = 0;
        rd->skip = 1;
        return 1;
    }

    switch (rd->state) {

    case DM_ST_START:
        if (!is_map) {
            break;
        }
        rd->state = DM_ST_TOP;
        return 1;

    case DM_ST_TOP_VALUE:
        if (rd->top_key == DM_TOP_ITEMS && !is_map) {
            rd->state = DM_ST_ITEMS;
            return 1;
        }

        if (rd->top_key == DM_TOP_ITEM && is_map) {
            goto item_begin;
        }

        if (rd->top_key == DM_TOP_LEK && is_map) {
            rd->state = DM_ST_LEK;
            return 1;
        }

        if (rd->top_key == DM_TOP_CANCEL && !is_map) {
            rd->state = DM_ST_CANCEL;
            return 1;
        }

        if (rd->top_key == DM_TOP_RESPONSES && is_map) {
            rd->state = DM_ST_RESP;
            return 1;
        }

        if (rd->top_key == DM_TOP_UNPROCESSED && is_map) {
            rd->state = DM_ST_UNPROC;
            return 1;
        }

        /* a value of a shape we do not read */
        rd->skip = 1;
        return 1;

    case DM_ST_ITEMS:
        if (!is_map) {
            break;
        }

    item_begin:

        rd->state = DM_ST_ITEM;
        rd->answer->nitems++;

        if (rd->handler && rd->handler->item_begin
            && rd->handler->item_begin(rd->handler->ctx,
                                       rd->answer->nitems - 1) != 0)
        {
            dm_stop(rd, "item handler refused an item");
            return 0;
        }
        return 1;

    case DM_ST_RESP:
        /* a table's items: read as a Query's */
        if (is_map) {
            break;
        }
        rd->state = DM_ST_ITEMS;
        rd->in_responses = 1;
        rd->single_item = 0;
        return 1;

    case DM_ST_UNPROC:
        if (!is_map) {
            break;
        }
        rd->state = DM_ST_UNPROC_TABLE;
        return 1;

    case DM_ST_UNPROC_TABLE:
        /* only "Keys" gets here: the table's other members are skipped */
        if (is_map) {
            break;
        }
        rd->state = DM_ST_UNPROC_KEYS;
        return 1;

    case DM_ST_UNPROC_KEYS:
        if (!is_map) {
            break;
        }
        rd->state = DM_ST_ITEM;
        rd->in_key = 1;
        rd->answer->nunprocessed++;
        return 1;

    case DM_ST_ITEM:
    case DM_ST_LEK:
        /* the attribute value map, after its name */
        if (!is_map) {
            break;
        }
        rd->state = (rd->state == DM_ST_ITEM) ? DM_ST_ATTR : DM_ST_LEK_ATTR;
        return 1;

    case DM_ST_CANCEL:
        if (!is_map) {
            break;
        }
        rd->state = DM_ST_CANCEL_OBJ;
        rd->in_code = 0;
        return 1;

    default:
        break;
    }

    dm_stop(rd, "unexpected structure in DynamoDB answer");
    return 0;
}


static int
dm_on_start_map(void *ctx)
{
    return dm_start_container(ctx, 1);
}


static int
dm_on_start_array(void *ctx)
{
    return dm_start_container(ctx, 0);
}


static int
dm_end_container(dm_reader_t *rd)
{
    dm_ddb_answer_t  *a;

    if (rd->skip) {
        if (--rd->skip == 0) {
            dm_value_done(rd);
        }
        return 1;
    }

    a = rd->answer;

    switch (rd->state) {

    case DM_ST_TOP:
        rd->state = DM_ST_DONE;
        return 1;

    case DM_ST_ITEMS:
        rd->state = rd->in_responses ? DM_ST_RESP : DM_ST_TOP;
        return 1;

    case DM_ST_RESP:
        rd->in_responses = 0;
        rd->state = DM_ST_TOP;
        return 1;

    case DM_ST_LEK:
    case DM_ST_CANCEL:
    case DM_ST_UNPROC:
        rd->state = DM_ST_TOP;
        return 1;

    case DM_ST_UNPROC_TABLE:
        rd->state = DM_ST_UNPROC;
        return 1;

    case DM_ST_UNPROC_KEYS:
        rd->state = DM_ST_UNPROC_TABLE;
        return 1;

    case DM_ST_ITEM:
        if (rd->in_key) {
            rd->in_key = 0;
            rd->state = DM_ST_UNPROC_KEYS;
            return 1;
        }

        if (rd->handler && rd->handler->item_end
            && rd->handler->item_end(rd->handler->ctx, a->nitems - 1) != 0)
        {
            dm_stop(rd, "item handler refused an item");
            return 0;
        }
        rd->state = rd->single_item ? DM_ST_TOP : DM_ST_ITEMS;
        return 1;

    case DM_ST_ATTR:
    case DM_ST_ATTR_DONE:
        rd->state = DM_ST_ITEM;
        return 1;

    case DM_ST_LEK_ATTR:
    case DM_ST_LEK_DONE:
        rd->state = DM_ST_LEK;
        return 1;

    case DM_ST_CANCEL_OBJ:
        if (a->ncancel < DM_DDB_MAX_CANCEL) {
            if (!rd->in_code) {
                a->cancel[a->ncancel] = DM_CANCEL_NONE;
            }
            a->ncancel++;
        }
        rd->state = DM_ST_CANCEL;
        return 1;

    default:
        break;
    }

    dm_stop(rd, "unexpected end of a structure in DynamoDB answer");
    return 0;
}


static int
dm_on_end_map(void *ctx)
{
    return dm_end_container(ctx);
}


static int
dm_on_end_array(void *ctx)
{
    return dm_end_container(ctx);
}


#define dm_key_is(k, l, lit)                                                \
    ((l) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)


static int
dm_on_map_key(void *ctx, const unsigned char *k, size_t len)
{
    dm_reader_t  *rd = ctx;

    if (rd->skip) {
        return 1;
    }

    switch (rd->state) {

    case DM_ST_TOP:
        rd->state = DM_ST_TOP_VALUE;

        if (dm_key_is(k, len, "Items")) {
            rd->top_key = DM_TOP_ITEMS;
            rd->single_item = 0;
        } else if (dm_key_is(k, len, "Item")
                   || dm_key_is(k, len, "Attributes"))
        {
            /* GetItem's item; UpdateItem's with ReturnValues */
            rd->top_key = DM_TOP_ITEM;
            rd->single_item = 1;
        } else if (dm_key_is(k, len, "Count")) {
            rd->top_key = DM_TOP_COUNT;
        } else if (dm_key_is(k, len, "LastEvaluatedKey")) {
            rd->top_key = DM_TOP_LEK;
            rd->answer->has_last_key = 1;
        } else if (dm_key_is(k, len, "__type")) {
            rd->top_key = DM_TOP_TYPE;
        } else if (dm_key_is(k, len, "message")
                   || (dm_key_is(k, len, "Message") && !rd->have_message))
        {
            rd->top_key = DM_TOP_MESSAGE;
        } else if (dm_key_is(k, len, "CancellationReasons")) {
            rd->top_key = DM_TOP_CANCEL;
        } else if (dm_key_is(k, len, "Responses")) {
            rd->top_key = DM_TOP_RESPONSES;
        } else if (dm_key_is(k, len, "UnprocessedKeys")) {
            rd->top_key = DM_TOP_UNPROCESSED;
        } else {
            rd->top_key = DM_TOP_OTHER;
            rd->skip_next = 1;
        }
        return 1;

    case DM_ST_ITEM:
        /* yajl may reuse its buffer for the value: keep a copy */
        if (len >= sizeof(rd->attr_name)) {
            break;
        }
        memcpy(rd->attr_name, k, len);
        rd->attr_name_len = len;
        return 1;

    case DM_ST_ATTR:
        rd->state = DM_ST_ATTR_VALUE;

        if (dm_key_is(k, len, "S")) {
            rd->attr_type = 'S';
        } else if (dm_key_is(k, len, "N")) {
            rd->attr_type = 'N';
        } else if (dm_key_is(k, len, "BOOL")) {
            rd->attr_type = 'B';
        } else if (dm_key_is(k, len, "NULL")) {
            rd->attr_type = 0;
        } else {
            rd->skip_next = 1;
            rd->attr_wanted = 0;
            return 1;
        }

        rd->attr_wanted = 1;
        return 1;

    case DM_ST_ATTR_DONE:
    case DM_ST_LEK_DONE:
        /* a second type key in one attribute value: not DynamoDB JSON */
        break;

    case DM_ST_LEK:
        rd->lek_is_sk = dm_key_is(k, len, "sk");
        return 1;

    case DM_ST_RESP:
    case DM_ST_UNPROC:
        /* a table's name: the request names one table */
        return 1;

    case DM_ST_UNPROC_TABLE:
        if (!dm_key_is(k, len, "Keys")) {
            rd->skip_next = 1;
        }
        return 1;

    case DM_ST_LEK_ATTR:
        rd->state = DM_ST_LEK_VALUE;
        if (!dm_key_is(k, len, "S")) {
            rd->skip_next = 1;
        }
        return 1;

    case DM_ST_CANCEL_OBJ:
        if (dm_key_is(k, len, "Code")) {
            rd->state = DM_ST_CANCEL_CODE;
        } else {
            rd->skip_next = 1;
        }
        return 1;

    default:
        break;
    }

    dm_stop(rd, "unexpected key in DynamoDB answer");
    return 0;
}


static const yajl_callbacks  dm_reader_callbacks = {
    dm_on_null,
    dm_on_boolean,
    NULL,
    NULL,
    dm_on_number,
    dm_on_string,
    dm_on_start_map,
    dm_on_map_key,
    dm_on_end_map,
    dm_on_start_array,
    dm_on_end_array
};


int
dm_ddb_read_with(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer,
    const dm_allocator_t *allocator)
{
    yajl_handle       h;
    yajl_status       st;
    dm_reader_t       rd;
    yajl_alloc_funcs  af, *afp;

    memset(answer, 0, sizeof(dm_ddb_answer_t));
    answer->count = -1;

    memset(&rd, 0, sizeof(dm_reader_t));
    rd.handler = handler;
    rd.answer = answer;

    afp = NULL;

    if (allocator) {
        af.malloc = allocator->malloc;
        af.realloc = allocator->realloc;
        af.free = allocator->free;
        af.ctx = allocator->ctx;
        afp = &af;
    }

    h = yajl_alloc(&dm_reader_callbacks, afp, &rd);
    if (h == NULL) {
        dm_stop(&rd, "out of memory");
        return -1;
    }

    st = yajl_parse(h, body, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st != yajl_status_ok) {
        dm_stop(&rd, "truncated or malformed JSON from DynamoDB");
        return -1;
    }

    if (rd.state != DM_ST_DONE) {
        dm_stop(&rd, "DynamoDB answer is not a JSON object");
        return -1;
    }

    return 0;
}


int
dm_ddb_read(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer)
{
    return dm_ddb_read_with(body, len, handler, answer, NULL);
}


/* ---- the rewrite ------------------------------------------------------- */

#define DM_REWRITE_MAX_ITEMS   1000
#define DM_REWRITE_MAX_FIELDS  16


/*
 * Each item's values are rendered into a scratch buffer as they come, then
 * written out in the map's order: the answer's keys do not depend on the
 * order DynamoDB happens to list attributes in.
 */
typedef struct {
    dm_buf_t              *out;
    dm_buf_t               scratch;
    const dm_field_map_t  *map;
    size_t                 nmap;
    size_t                 attr_len[DM_REWRITE_MAX_FIELDS];
    size_t                 key_len[DM_REWRITE_MAX_FIELDS];
    size_t                 vstart[DM_REWRITE_MAX_FIELDS];
    size_t                 vlen[DM_REWRITE_MAX_FIELDS];
    unsigned char          seen[DM_REWRITE_MAX_FIELDS];
    size_t                 start[DM_REWRITE_MAX_ITEMS];
    size_t                 end[DM_REWRITE_MAX_ITEMS];
} dm_rewrite_t;


static int
dm_rewrite_item_begin(void *ctx, size_t index)
{
    dm_rewrite_t  *rw = ctx;

    if (index >= DM_REWRITE_MAX_ITEMS) {
        return -1;
    }

    if (index) {
        dm_buf_append(rw->out, ",", 1);
    }

    rw->start[index] = rw->out->len;
    rw->scratch.len = 0;
    memset(rw->seen, 0, sizeof(rw->seen));

    return rw->out->failed ? -1 : 0;
}


/* RFC 8259's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
dm_json_number(const unsigned char *p, size_t n)
{
    size_t  i, d;

    i = 0;

    if (i < n && p[i] == '-') {
        i++;
    }

    for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++) { /* void */ }

    if (i == d || (p[d] == '0' && i - d > 1)) {
        return 0;
    }

    if (i < n && p[i] == '.') {
        for (d = ++i; i < n && p[i] >= '0' && p[i] <= '9'; i++) { /* void */ }

        if (i == d) {
            return 0;
        }
    }

    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;

        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }

        for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++) { /* void */ }

        if (i == d) {
            return 0;
        }
    }

    return i == n;
}


static int
dm_rewrite_item_attr(void *ctx, const char *name, size_t name_len, char type,
    const unsigned char *value, size_t value_len)
{
    dm_rewrite_t  *rw = ctx;
    size_t         i;

    for (i = 0; i < rw->nmap; i++) {
        if (rw->attr_len[i] == name_len
            && memcmp(rw->map[i].attr, name, name_len) == 0)
        {
            break;
        }
    }

    if (i == rw->nmap) {
        return 0;
    }

    rw->vstart[i] = rw->scratch.len;

    /*
     * The type is the attribute's ("N"), the value whatever JSON followed
     * it: only a value that is valid JSON of that type goes out verbatim,
     * anything else as a string, so the answer is always JSON.
     */
    if (type == 0) {
        dm_buf_append(&rw->scratch, "null", 4);

    } else if ((type == 'N' && dm_json_number(value, value_len))
               || (type == 'B'
                   && ((value_len == 4 && memcmp(value, "true", 4) == 0)
                       || (value_len == 5
                           && memcmp(value, "false", 5) == 0))))
    {
        dm_buf_append(&rw->scratch, value, value_len);

    } else {
        dm_buf_json_string(&rw->scratch, value, value_len);
    }

    rw->vlen[i] = rw->scratch.len - rw->vstart[i];
    rw->seen[i] = 1;

    return rw->scratch.failed ? -1 : 0;
}


static int
dm_rewrite_item_end(void *ctx, size_t index)
{
    dm_rewrite_t   *rw = ctx;
    size_t          i, n, need;
    unsigned char  *p;

    /* measured first, then written in place: no check per piece */
    for (i = 0, need = 2; i < rw->nmap; i++) {
        if (rw->seen[i]) {
            need += rw->key_len[i] + 4 + rw->vlen[i];
        }
    }

    if (dm_buf_reserve(rw->out, need) != 0) {
        return -1;
    }

    p = rw->out->data + rw->out->len;
    *p++ = '{';

    for (i = 0, n = 0; i < rw->nmap; i++) {
        if (!rw->seen[i]) {
            continue;
        }

        if (n++) {
            *p++ = ',';
        }

        *p++ = '"';
        memcpy(p, rw->map[i].key, rw->key_len[i]);
        p += rw->key_len[i];
        *p++ = '"';
        *p++ = ':';
        memcpy(p, rw->scratch.data + rw->vstart[i], rw->vlen[i]);
        p += rw->vlen[i];
    }

    *p++ = '}';
    rw->out->len = p - rw->out->data;
    rw->end[index] = rw->out->len;

    return 0;
}


static void
free_rewrite_state(const dm_allocator_t *allocator, dm_rewrite_t *rw)
{
    if (allocator) {
        allocator->free(allocator->ctx, rw);

    } else {
        free(rw);
    }
}


static void
dm_rewrite_done(const dm_allocator_t *allocator, dm_rewrite_t *rw)
{
    dm_buf_release(&rw->scratch);

    free_rewrite_state(allocator, rw);
}


int
dm_ddb_rewrite_items(const unsigned char *body, size_t len,
    const dm_field_map_t *map, size_t nmap, int reverse, dm_buf_t *out,
    dm_ddb_answer_t *answer, const dm_allocator_t *allocator)
{
    size_t             i, n, base, total;
    dm_rewrite_t      *rw;
    dm_item_handler_t  h;

    rw = allocator ? allocator->malloc(allocator->ctx, sizeof(dm_rewrite_t))
                   : malloc(sizeof(dm_rewrite_t));
    if (rw == NULL) {
        return -1;
    }

    if (nmap > DM_REWRITE_MAX_FIELDS) {
        free_rewrite_state(allocator, rw);
        return -1;
    }

    rw->out = out;
    rw->map = map;
    rw->nmap = nmap;
    dm_buf_init(&rw->scratch, out->grow, out->alloc_ctx);

    /* names measured once, not per attribute of every item */
    for (i = 0; i < nmap; i++) {
        rw->attr_len[i] = strlen(map[i].attr);
        rw->key_len[i] = strlen(map[i].key);
    }

    /*
     * The answer is shorter than DynamoDB's (no type wrappers): one
     * reservation instead of growing (and copying) as items come; twice
     * that when the items are laid out again in reverse.
     */
    if (dm_buf_reserve(out, reverse ? 2 * len + 4 : len + 2) != 0) {
        free_rewrite_state(allocator, rw);
        return -1;
    }

    h.item_begin = dm_rewrite_item_begin;
    h.item_attr = dm_rewrite_item_attr;
    h.item_end = dm_rewrite_item_end;
    h.key_attr = NULL;
    h.ctx = rw;

    base = out->len;
    dm_buf_append(out, "[", 1);

    if (dm_ddb_read_with(body, len, &h, answer, allocator) != 0) {
        goto failed;
    }

    dm_buf_append(out, "]", 1);

    n = answer->nitems;

    if (reverse && n > 1 && !out->failed) {
        /* lay the items out again, last first, after the forward copy */
        total = out->len - base;

        if (dm_buf_reserve(out, total) != 0) {
            goto failed;
        }

        dm_buf_append(out, "[", 1);

        for (i = n; i-- > 0; /* void */) {
            dm_buf_append(out, out->data + rw->start[i],
                          rw->end[i] - rw->start[i]);
            if (i) {
                dm_buf_append(out, ",", 1);
            }
        }

        dm_buf_append(out, "]", 1);

        memmove(out->data + base, out->data + base + total, total);
        out->len = base + total;
    }

    if (out->failed) {
        goto failed;
    }

    dm_rewrite_done(allocator, rw);
    return 0;

failed:

    dm_rewrite_done(allocator, rw);
    return -1;
}
