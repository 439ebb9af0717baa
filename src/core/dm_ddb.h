/*
 * DynamoDB JSON: request bodies for the calls the project makes, and one
 * streaming (yajl SAX) pass over DynamoDB's answers.  No NGINX types: the
 * module, the CLI and the unit tests share this code.
 */

#ifndef DM_DDB_H
#define DM_DDB_H

#include <stddef.h>
#include <string.h>
#include "dm_buf.h"


/* an attribute with a scalar value; type is "S" or "N" */
typedef struct {
    const char     *name;
    const char     *type;
    const char     *value;
    size_t          len;
} dm_attr_t;

#define dm_attr_s(n, v, l)  { (n), "S", (v), (l) }


/* ---- request bodies ---------------------------------------------------- */

int dm_ddb_get_item(dm_buf_t *b, const char *table, const char *pk,
    const char *sk, int consistent);

/* an attribute of DynamoDB's items and the API answer's key for it */
typedef struct {
    const char     *attr;
    const char     *key;
} dm_field_map_t;

typedef struct {
    const char     *table;
    const char     *index;          /* NULL: the table */
    const char     *key_name;       /* "pk" */
    const char     *key_value;
    const char     *sk_before;      /* NULL, or only sk < this */
    const char     *filter_name;    /* NULL, or an equality filter */
    const char     *filter_value;
    unsigned        limit;          /* 0: none */
    int             forward;        /* ScanIndexForward */
    int             consistent;
    /* ProjectionExpression: only these attrs come back (none: all) */
    const dm_field_map_t  *project;
    size_t                 nproject;
} dm_ddb_query_t;

int dm_ddb_query(dm_buf_t *b, const dm_ddb_query_t *q);

/* PutItem with an optional condition expression and its values */
int dm_ddb_put_item(dm_buf_t *b, const char *table, const dm_attr_t *item,
    size_t nitem, const char *condition, const dm_attr_t *values,
    size_t nvalues);

/*
 * TransactWriteItems: begin, then any number of put/delete actions, then
 * end.  client_token may be NULL.
 */
int dm_ddb_tx_begin(dm_buf_t *b, const char *client_token);
int dm_ddb_tx_put(dm_buf_t *b, const char *table, const dm_attr_t *item,
    size_t nitem, const char *condition, const dm_attr_t *values,
    size_t nvalues);
int dm_ddb_tx_delete(dm_buf_t *b, const char *table, const char *pk,
    const char *sk, const char *condition, const dm_attr_t *values,
    size_t nvalues);
int dm_ddb_tx_end(dm_buf_t *b);

/*
 * A transaction's ClientRequestToken (36 characters and a NUL) from a text
 * that names that transaction alone (what makes it this request's: a new
 * uuid, a time): the same transaction sent again after an ambiguous
 * outcome (a timeout, a 5xx, an unreadable 200) carries the same token,
 * so DynamoDB applies it at most once.  token may be text.  0, or -1.
 */
#define DM_DDB_TX_TOKEN_LEN  36

int dm_ddb_tx_token(const void *text, size_t len, char *token);


/* ---- answers ----------------------------------------------------------- */

#define DM_DDB_MAX_CANCEL   100

typedef enum {
    DM_CANCEL_NONE = 0,
    DM_CANCEL_CONDITION,            /* ConditionalCheckFailed */
    DM_CANCEL_CONFLICT,             /* TransactionConflict */
    DM_CANCEL_THROTTLED,            /* ThrottlingError, ProvisionedThr... */
    DM_CANCEL_OTHER
} dm_cancel_code_e;

typedef struct {
    /* error answers: "__type" after the '#', and "message"/"Message" */
    char            error_type[96];
    char            error_message[256];
    /* TransactionCanceledException */
    unsigned char   cancel[DM_DDB_MAX_CANCEL];
    size_t          ncancel;
    /* Query / GetItem */
    size_t          nitems;         /* items seen ("Items" or "Item") */
    long long       count;          /* "Count", -1 when absent */
    char            last_sk[64];    /* LastEvaluatedKey.sk, "" when none */
    int             has_last_key;
    int             last_sk_truncated;  /* longer than last_sk holds */
    /* BatchGetItem: the keys of "UnprocessedKeys" (items: "Responses") */
    size_t          nunprocessed;
} dm_ddb_answer_t;

/*
 * Called for each item of "Items" (or for "Item", or of BatchGetItem's
 * "Responses").  Attribute values of type S, N, BOOL (value
 * "true"/"false") and NULL (value "") are reported; lists, maps, sets and
 * binaries are skipped.  key_attr is called for each attribute of each
 * key of BatchGetItem's "UnprocessedKeys" (index: the key's, from 0).  A
 * non-zero return stops the parse with an error.  Any may be NULL.
 */
typedef struct {
    int   (*item_begin)(void *ctx, size_t index);
    int   (*item_attr)(void *ctx, const char *name, size_t name_len,
              char type, const unsigned char *value, size_t value_len);
    int   (*item_end)(void *ctx, size_t index);
    int   (*key_attr)(void *ctx, size_t index, const char *name,
              size_t name_len, char type, const unsigned char *value,
              size_t value_len);
    void   *ctx;
} dm_item_handler_t;

/*
 * One pass over an answer body.  Returns 0 when the body is complete JSON
 * object, -1 when it is truncated or not JSON, or a handler stopped it
 * (error_message then says why).  handler may be NULL (an error answer).
 */
int dm_ddb_read(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer);

/*
 * The parser's own memory (yajl's state and its unescaped strings) from a
 * caller's allocator: the module hands it the request pool.  The shape is
 * yajl's, so no copy is needed.
 */
typedef struct {
    void  *(*malloc)(void *ctx, size_t size);
    void  *(*realloc)(void *ctx, void *p, size_t size);
    void   (*free)(void *ctx, void *p);
    void   *ctx;
} dm_allocator_t;

int dm_ddb_read_with(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer,
    const dm_allocator_t *allocator);

/*
 * The per-request rewrite: a Query/GetItem answer straight to the API's
 * JSON array, renaming attributes by the map (attributes not in the map
 * are dropped).  With reverse, items come out in the opposite order.
 */
int dm_ddb_rewrite_items(const unsigned char *body, size_t len,
    const dm_field_map_t *map, size_t nmap, int reverse, dm_buf_t *out,
    dm_ddb_answer_t *answer, const dm_allocator_t *allocator);

/* the type of the error ("ThrottlingException"), or "" */
#define dm_ddb_is_error(a, t)  (strcmp((a)->error_type, (t)) == 0)

#endif /* DM_DDB_H */
