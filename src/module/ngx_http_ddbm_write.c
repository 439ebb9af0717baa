/*
 * The one write the API has: a message, both participants' conversation
 * rows moved to its time, the conversation's GRPMETA# record, and the
 * request's receipt, in one TransactWriteItems.
 *
 * Why it cannot go wrong under concurrency, whatever the clock says:
 *   - the record is written with "rev = :rev AND last_sk = :last" (or
 *     attribute_not_exists for a new one): of two writers that read the
 *     same record one wins, the other reads again; a cached record of a
 *     re-created table does not pass by chance;
 *   - the message is written with attribute_not_exists(pk): no message is
 *     ever overwritten;
 *   - a row is put only where no row is or where this conversation's is,
 *     and deleted only if it is this conversation's: rows of two
 *     conversations sharing a member and a microsecond never replace or
 *     delete each other (the loser plans again after the taken time);
 *   - the receipt (the Idempotency-Key record, or RECEIPT#<message uuid>)
 *     is written with attribute_not_exists: an attempt whose outcome was
 *     lost (a 5xx, a timeout) and that was applied makes every later plan
 *     of the same request fail on it, so the message is stored once and
 *     the stored answer is given; when retries run out after such an
 *     attempt, one read of the receipt decides between 200 and the error.
 */

#include "ngx_http_ddbm.h"


/* ---- idempotency ------------------------------------------------------- */

ngx_int_t
ngx_http_ddbm_idempotency_key(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    h = ngx_http_ddbm_find_header(ctx->request, "Idempotency-Key",
                                  sizeof("Idempotency-Key") - 1);
    if (h == NULL) {
        return NGX_DECLINED;
    }

    if (!dm_idempotency_key_valid((const char *) h->value.data,
                                  h->value.len))
    {
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_idempotency_key",
                                           "Idempotency-Key must be 1 to "
                                           "255 printable ASCII characters");
    }

    ctx->idempotency_key = h->value;

    return NGX_OK;
}


static size_t
ngx_http_ddbm_idempotency_pk(ngx_http_ddbm_ctx_t *ctx, char *pk, size_t size)
{
    /* keyed by the identity, so one user cannot replay another's */
    return dm_key_idempotency(pk, size, (const char *) ctx->sub.data,
                              ctx->sub.len,
                              (const char *) ctx->idempotency_key.data,
                              ctx->idempotency_key.len);
}


/* the request's receipt: its Idempotency-Key record, or its own */
static size_t
ngx_http_ddbm_receipt_pk(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_write_t *w,
    char *pk, size_t size, const char **sk)
{
    if (ctx->idempotency_key.len) {
        *sk = DM_SK_IDEMPOTENCY;
        return ngx_http_ddbm_idempotency_pk(ctx, pk, size);
    }

    *sk = DM_SK_RECEIPT;
    return dm_key_receipt(pk, size, w->message_uuid, DM_UUID_LEN);
}


static ngx_int_t
ngx_http_ddbm_receipt_lookup(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    char        pk[DM_KEY_MAX];
    const char *sk;
    dm_buf_t    b;

    if (ngx_http_ddbm_receipt_pk(ctx, w, pk, sizeof(pk), &sk) == 0) {
        return NGX_ERROR;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_get_item(&b, (const char *) ctx->conf->table.data, pk, sk, 1)
        != 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_call(ctx, NGX_HTTP_DDBM_TAG_REPLAY, "GetItem", &b)
           ? NGX_OK : NGX_ERROR;
}


typedef struct {
    ngx_pool_t  *pool;
    ngx_str_t    response;
    ngx_str_t    request_hash;
    ngx_str_t    expires_at;
    ngx_str_t    message_uuid;
} ngx_http_ddbm_idem_reader_t;


static int
ngx_http_ddbm_idem_attr(void *data, const char *name, size_t len, char type,
    const unsigned char *v, size_t vlen)
{
    ngx_http_ddbm_idem_reader_t  *ir = data;

    ngx_str_t  *dst;

    if (len == 8 && ngx_strncmp(name, "response", 8) == 0) {
        dst = &ir->response;

    } else if (len == 12 && ngx_strncmp(name, "request_hash", 12) == 0) {
        dst = &ir->request_hash;

    } else if (len == 10 && ngx_strncmp(name, "expires_at", 10) == 0
               && type == 'N')
    {
        dst = &ir->expires_at;

    } else if (len == 12 && ngx_strncmp(name, "message_uuid", 12) == 0) {
        dst = &ir->message_uuid;

    } else {
        return 0;
    }

    dst->data = ngx_pnalloc(ir->pool, vlen);
    if (dst->data == NULL) {
        return -1;
    }

    ngx_memcpy(dst->data, v, vlen);
    dst->len = vlen;

    return 0;
}


/*
 * The answer the receipt keeps: this request's own (an earlier attempt
 * was applied after all), or its twin's, replayed (NGX_DONE); NGX_DECLINED
 * when there is none (or only an expired one).
 */
static ngx_int_t
ngx_http_ddbm_receipt_replay(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    char                          hash[65];
    time_t                        expires;
    ngx_int_t                     rc;
    ngx_str_t                     yes;
    dm_ddb_answer_t               answer;
    dm_item_handler_t             h;
    ngx_http_ddbm_idem_reader_t   ir;
    static const char            *reused[] = { "idempotency_key_reused" };

    if (ngx_http_ddbm_find_call(ctx, NGX_HTTP_DDBM_TAG_REPLAY) == NULL) {
        return NGX_DECLINED;
    }

    ngx_memzero(&ir, sizeof(ir));
    ir.pool = ctx->request->pool;

    h.item_begin = NULL;
    h.item_attr = ngx_http_ddbm_idem_attr;
    h.item_end = NULL;
    h.key_attr = NULL;
    h.ctx = &ir;

    rc = ngx_http_ddbm_read_answer(ctx, NGX_HTTP_DDBM_TAG_REPLAY, &h,
                                   &answer);
    if (rc != NGX_OK) {
        return rc;
    }

    if (answer.nitems == 0) {
        return NGX_DECLINED;
    }

    /* DynamoDB's TTL deletes expired items late, if ever: don't wait */
    expires = ir.expires_at.len ? ngx_atotm(ir.expires_at.data,
                                            ir.expires_at.len)
                                : NGX_ERROR;

    if (expires != NGX_ERROR && expires < ngx_time()) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "ddbm: idempotency record expired");
        return NGX_DECLINED;
    }

    if (dm_sha256_hex(ctx->raw_body.data, ctx->raw_body.len, hash) != 0) {
        return NGX_ERROR;
    }

    if (ir.request_hash.len != 64
        || ngx_strncmp(ir.request_hash.data, hash, 64) != 0)
    {
        return ngx_http_ddbm_respond_codes(ctx, reused, 1);
    }

    if (ir.message_uuid.len == DM_UUID_LEN
        && ngx_strncmp(ir.message_uuid.data, w->message_uuid, DM_UUID_LEN)
           == 0)
    {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "ddbm: message \"%s\" was stored by an attempt whose "
                      "answer was lost", w->message_uuid);

        return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, ir.response.data,
                                     ir.response.len);
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "ddbm: idempotent replay of an earlier answer");

    ngx_str_set(&yes, "true");
    if (ngx_http_ddbm_add_header(ctx->request, "Idempotent-Replayed", &yes)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, ir.response.data,
                                 ir.response.len);
}


/* ---- the transaction --------------------------------------------------- */

static int64_t
ngx_http_ddbm_sk_us(ngx_str_t *sk)
{
    int64_t  us;

    if (sk->len && dm_time_parse((const char *) sk->data, sk->len, &us)) {
        return us;
    }

    return 0;
}


static ngx_int_t
ngx_http_ddbm_build_response(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    dm_buf_t               b;
    ngx_http_ddbm_user_t  *c;

    c = &ctx->caller;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    /* "uuid" is the sender's user uuid, as the reference answers */
    dm_buf_append_str(&b, "{\"message_group_uuid\":");
    dm_buf_json_string(&b, w->g.group.data, w->g.group.len);
    dm_buf_append_str(&b, ",\"uuid\":");
    dm_buf_json_string(&b, c->uuid.data, c->uuid.len);
    dm_buf_append_str(&b, ",\"display_name\":");
    dm_buf_json_string(&b, c->display_name.data, c->display_name.len);
    dm_buf_append_str(&b, ",\"handle\":");
    dm_buf_json_string(&b, c->handle.data, c->handle.len);
    dm_buf_append_str(&b, ",\"message\":");
    dm_buf_json_string(&b, w->message.data, w->message.len);
    dm_buf_append_str(&b, ",\"created_at\":");
    dm_buf_json_string(&b, (u_char *) w->sk, DM_TIME_LEN);
    dm_buf_append_str(&b, "}");

    if (b.failed) {
        return NGX_ERROR;
    }

    w->response.data = b.data;
    w->response.len = b.len;

    return NGX_OK;
}


/* an N attribute (or value) from a number kept as text */
static dm_attr_t
ngx_http_ddbm_attr_n(const char *name, const char *value)
{
    dm_attr_t  a;

    a.name = name;
    a.type = "N";
    a.value = value;
    a.len = ngx_strlen(value);

    return a;
}


/*
 * The GRP#<owner> row: the time, the last message, the other member.  The
 * old row goes only if it is this conversation's; the new one goes only
 * where no row is, or where this conversation's is (a retry's own).
 */
static void
ngx_http_ddbm_tx_row(dm_buf_t *b, ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w, ngx_http_ddbm_user_t *owner,
    ngx_http_ddbm_user_t *other, ngx_str_t *old_sk, dm_attr_t *group)
{
    char        pk[DM_KEY_MAX];
    char       *table, *old;
    dm_attr_t   row[7];

    table = (char *) ctx->conf->table.data;

    if (dm_key_grp(pk, sizeof(pk), (const char *) owner->uuid.data,
                   owner->uuid.len)
        == 0)
    {
        b->failed = 1;
        return;
    }

    if (old_sk->len) {
        old = ngx_http_ddbm_cstr(ctx->request->pool, old_sk);
        if (old == NULL) {
            b->failed = 1;
            return;
        }

        dm_ddb_tx_delete(b, table, pk, old, "message_group_uuid = :g",
                         group, 1);
        w->action[w->nactions++] = NGX_HTTP_DDBM_ACT_ROW_DELETE;
    }

    row[0] = (dm_attr_t) dm_attr_s("pk", pk, ngx_strlen(pk));
    row[1] = (dm_attr_t) dm_attr_s("sk", w->sk, DM_TIME_LEN);
    row[2] = (dm_attr_t) dm_attr_s("message_group_uuid",
                                   (char *) w->g.group.data, w->g.group.len);
    row[3] = (dm_attr_t) dm_attr_s("message", (char *) w->message.data,
                                   w->message.len);
    row[4] = (dm_attr_t) dm_attr_s("user_uuid", (char *) other->uuid.data,
                                   other->uuid.len);
    row[5] = (dm_attr_t) dm_attr_s("user_display_name",
                                   (char *) other->display_name.data,
                                   other->display_name.len);
    row[6] = (dm_attr_t) dm_attr_s("user_handle", (char *) other->handle.data,
                                   other->handle.len);

    dm_ddb_tx_put(b, table, row, 7,
                  "attribute_not_exists(pk) OR message_group_uuid = :g",
                  group, 1);
    w->action[w->nactions++] = NGX_HTTP_DDBM_ACT_ROW_PUT;
}


/* the receipt: what was answered, for a retry or a lost answer */
static ngx_int_t
ngx_http_ddbm_tx_receipt(dm_buf_t *b, ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    u_char      *p;
    char         pk[DM_KEY_MAX], hash[65];
    char         expires[NGX_INT64_LEN + 1], now[NGX_INT64_LEN + 1];
    time_t       ttl;
    const char  *sk;
    dm_attr_t    item[6], now_value;

    if (ngx_http_ddbm_receipt_pk(ctx, w, pk, sizeof(pk), &sk) == 0
        || dm_sha256_hex(ctx->raw_body.data, ctx->raw_body.len, hash) != 0)
    {
        return NGX_ERROR;
    }

    ttl = ctx->idempotency_key.len ? NGX_HTTP_DDBM_IDEM_TTL
                                   : NGX_HTTP_DDBM_RECEIPT_TTL;

    p = ngx_sprintf((u_char *) expires, "%T", ngx_time() + ttl);
    *p = '\0';
    p = ngx_sprintf((u_char *) now, "%T", ngx_time());
    *p = '\0';

    now_value = ngx_http_ddbm_attr_n(":now", now);

    item[0] = (dm_attr_t) dm_attr_s("pk", pk, ngx_strlen(pk));
    item[1] = (dm_attr_t) dm_attr_s("sk", (char *) sk, ngx_strlen(sk));
    item[2] = (dm_attr_t) dm_attr_s("response", (char *) w->response.data,
                                    w->response.len);
    item[3] = (dm_attr_t) dm_attr_s("request_hash", hash, 64);
    item[4] = (dm_attr_t) dm_attr_s("message_uuid", w->message_uuid,
                                    DM_UUID_LEN);
    item[5] = ngx_http_ddbm_attr_n("expires_at", expires);

    /* an expired record is as good as none (TTL deletes it late) */
    dm_ddb_tx_put(b, (const char *) ctx->conf->table.data, item, 6,
                  "attribute_not_exists(pk) OR expires_at < :now",
                  &now_value, 1);
    w->action[w->nactions++] = NGX_HTTP_DDBM_ACT_RECEIPT;

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_write_message(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w, ngx_msec_t delay)
{
    u_char                *p;
    char                   pk[DM_KEY_MAX], rev[NGX_INT64_LEN + 1];
    char                   old_rev[NGX_INT64_LEN + 1], token[128];
    char                  *table, *last_sk;
    int64_t                last, t;
    ngx_int_t              r;
    ngx_uint_t             i;
    dm_buf_t               b;
    dm_attr_t              item[10], group, cond[2];
    ngx_str_t              none = ngx_null_string;
    ngx_http_ddbm_user_t  *m[2], *caller;

    table = (char *) ctx->conf->table.data;
    caller = &ctx->caller;

    if (w->new_group) {
        m[0] = caller;
        m[1] = &w->receiver;

    } else {
        /* the caller's name from the directory, the other's as known */
        m[0] = &w->g.member[0];
        m[1] = &w->g.member[1];
        m[w->g.caller] = caller;
    }

    /*
     * Later than anything the conversation has, so its keys never repeat,
     * and than any time a row of another conversation was found at.
     */
    last = ngx_http_ddbm_sk_us(&w->g.last_sk);
    for (i = 0; i < 2; i++) {
        last = ngx_max(last, ngx_http_ddbm_sk_us(&w->g.member_sk[i]));
    }

    last = ngx_max(last, w->floor);

    t = dm_time_next(dm_time_now_us(), last);
    dm_time_format(t, w->sk);

    if (w->message_uuid[0] == '\0' && dm_uuid_v4(w->message_uuid) != 0) {
        return NGX_ERROR;
    }

    if (ngx_http_ddbm_build_response(ctx, w) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * The same transaction sent again (a retry after a 5xx or a timeout)
     * carries the same token, so DynamoDB applies it at most once; a new
     * plan (a new time) is a new transaction with a token of its own, and
     * the receipt keeps it from being applied a second time.
     */
    p = ngx_snprintf((u_char *) token, sizeof(token), "%s %s %ui",
                     w->message_uuid, w->sk, w->attempts);
    if (dm_ddb_tx_token(token, p - (u_char *) token, token) != 0) {
        return NGX_ERROR;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);
    dm_ddb_tx_begin(&b, token);
    w->nactions = 0;

    /* the message, never over another one */
    if (dm_key_msg(pk, sizeof(pk), (const char *) w->g.group.data,
                   w->g.group.len)
        == 0)
    {
        return NGX_ERROR;
    }

    item[0] = (dm_attr_t) dm_attr_s("pk", pk, ngx_strlen(pk));
    item[1] = (dm_attr_t) dm_attr_s("sk", w->sk, DM_TIME_LEN);
    item[2] = (dm_attr_t) dm_attr_s("message_uuid", w->message_uuid,
                                    DM_UUID_LEN);
    item[3] = (dm_attr_t) dm_attr_s("message", (char *) w->message.data,
                                    w->message.len);
    item[4] = (dm_attr_t) dm_attr_s("user_uuid", (char *) caller->uuid.data,
                                    caller->uuid.len);
    item[5] = (dm_attr_t) dm_attr_s("user_display_name",
                                    (char *) caller->display_name.data,
                                    caller->display_name.len);
    item[6] = (dm_attr_t) dm_attr_s("user_handle",
                                    (char *) caller->handle.data,
                                    caller->handle.len);

    dm_ddb_tx_put(&b, table, item, 7, "attribute_not_exists(pk)", NULL, 0);
    w->action[w->nactions++] = NGX_HTTP_DDBM_ACT_MESSAGE;

    /* both members' rows */
    group = (dm_attr_t) dm_attr_s(":g", (char *) w->g.group.data,
                                  w->g.group.len);

    for (i = 0; i < 2; i++) {
        ngx_http_ddbm_tx_row(&b, ctx, w, m[i], m[1 - i],
                             w->new_group ? &none : &w->g.member_sk[i],
                             &group);
    }

    /* the conversation record, guarded by its revision and last time */
    if (dm_key_group_meta(pk, sizeof(pk), (const char *) w->g.group.data,
                          w->g.group.len)
        == 0)
    {
        return NGX_ERROR;
    }

    r = w->g.has_meta ? ngx_atoi(w->g.rev.data, w->g.rev.len) : 0;
    if (r == NGX_ERROR) {
        return NGX_ERROR;
    }

    p = ngx_sprintf((u_char *) rev, "%i", r + 1);
    *p = '\0';

    w->next_rev.len = p - (u_char *) rev;
    w->next_rev.data = ngx_pnalloc(ctx->request->pool, w->next_rev.len);
    if (w->next_rev.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(w->next_rev.data, rev, w->next_rev.len);
    p = ngx_sprintf((u_char *) old_rev, "%i", r);
    *p = '\0';

    item[0] = (dm_attr_t) dm_attr_s("pk", pk, ngx_strlen(pk));
    item[1] = (dm_attr_t) dm_attr_s("sk", DM_SK_GROUP_META,
                                    sizeof(DM_SK_GROUP_META) - 1);
    item[2] = (dm_attr_t) dm_attr_s("a_uuid", (char *) m[0]->uuid.data,
                                    m[0]->uuid.len);
    item[3] = (dm_attr_t) dm_attr_s("a_handle", (char *) m[0]->handle.data,
                                    m[0]->handle.len);
    item[4] = (dm_attr_t) dm_attr_s("a_display_name",
                                    (char *) m[0]->display_name.data,
                                    m[0]->display_name.len);
    item[5] = (dm_attr_t) dm_attr_s("b_uuid", (char *) m[1]->uuid.data,
                                    m[1]->uuid.len);
    item[6] = (dm_attr_t) dm_attr_s("b_handle", (char *) m[1]->handle.data,
                                    m[1]->handle.len);
    item[7] = (dm_attr_t) dm_attr_s("b_display_name",
                                    (char *) m[1]->display_name.data,
                                    m[1]->display_name.len);
    item[8] = (dm_attr_t) dm_attr_s("last_sk", w->sk, DM_TIME_LEN);
    item[9] = ngx_http_ddbm_attr_n("rev", rev);

    if (w->g.has_meta) {
        last_sk = ngx_http_ddbm_cstr(ctx->request->pool, &w->g.last_sk);
        if (last_sk == NULL) {
            return NGX_ERROR;
        }

        cond[0] = ngx_http_ddbm_attr_n(":rev", old_rev);
        cond[1] = (dm_attr_t) dm_attr_s(":last", last_sk,
                                        w->g.last_sk.len);

        dm_ddb_tx_put(&b, table, item, 10, "rev = :rev AND last_sk = :last",
                      cond, 2);

    } else {
        dm_ddb_tx_put(&b, table, item, 10, "attribute_not_exists(pk)",
                      NULL, 0);
    }

    w->action[w->nactions++] = NGX_HTTP_DDBM_ACT_RECORD;

    if (ngx_http_ddbm_tx_receipt(&b, ctx, w) != NGX_OK) {
        return NGX_ERROR;
    }

    dm_ddb_tx_end(&b);

    if (ngx_http_ddbm_call_after(ctx, NGX_HTTP_DDBM_TAG_WRITE,
                                 "TransactWriteItems", &b, delay)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the conversation as the transaction left it, for the next write */
static void
ngx_http_ddbm_write_keep(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_write_t *w)
{
    ngx_http_ddbm_group_t  g;

    g = w->g;

    if (w->new_group) {
        g.member[0] = ctx->caller;
        g.member[1] = w->receiver;

    } else {
        g.member[g.caller] = ctx->caller;
    }

    g.nmembers = 2;
    g.has_meta = 1;
    g.rev = w->next_rev;
    g.last_sk.data = (u_char *) w->sk;
    g.last_sk.len = DM_TIME_LEN;
    g.member_sk[0] = g.last_sk;
    g.member_sk[1] = g.last_sk;

    ngx_http_ddbm_group_keep(ctx, &g);
}


/* the receipt decides: stored after all (200), or the failure */
static ngx_int_t
ngx_http_ddbm_write_resolve(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                  "ddbm: message \"%s\": an attempt may have been applied, "
                  "reading its receipt", w->message_uuid);

    w->replaying = 1;
    w->resolving = 1;
    ngx_http_ddbm_reset_calls(ctx);

    if (ngx_http_ddbm_receipt_lookup(ctx, w) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* nothing was stored: the answer the failure calls for */
static ngx_int_t
ngx_http_ddbm_write_failed(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    if (w->failed) {
        return ngx_http_ddbm_respond_call_failure(ctx, w->failed);
    }

    if (w->give_up && ngx_strcmp(w->give_up, "conversation_busy") == 0) {
        return ngx_http_ddbm_respond_unavailable(ctx, w->give_up,
                                                 "too many concurrent "
                                                 "writes to this "
                                                 "conversation; retry");
    }

    if (w->give_up) {
        return ngx_http_ddbm_respond_unavailable(ctx, w->give_up,
                                                 "the database call "
                                                 "failed");
    }

    return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_GATEWAY,
                                       "dynamodb_error",
                                       "the database refused the write");
}


/* the failure, once the receipt (if it may exist) has been read */
static ngx_int_t
ngx_http_ddbm_write_fail(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_write_t *w)
{
    if (w->ambiguous) {
        return ngx_http_ddbm_write_resolve(ctx, w);
    }

    return ngx_http_ddbm_write_failed(ctx, w);
}


ngx_int_t
ngx_http_ddbm_write_resume(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    int64_t                us;
    ngx_int_t              rc;
    ngx_uint_t             i, race, throttled, collided, moved, refused;
    dm_ddb_answer_t       *e;
    ngx_http_ddbm_call_t  *call;

    if (w->replaying) {
        rc = ngx_http_ddbm_receipt_replay(ctx, w);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        if (w->resolving) {
            return ngx_http_ddbm_write_failed(ctx, w);
        }

        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "ddbm: the idempotency record that won the race "
                      "is gone");
        return NGX_ERROR;
    }

    call = ngx_http_ddbm_find_call(ctx, NGX_HTTP_DDBM_TAG_WRITE);
    if (call == NULL) {
        return NGX_ERROR;
    }

    if (call->ambiguous) {
        w->ambiguous = 1;
    }

    if (call->result == NGX_HTTP_DDBM_CALL_OK) {
        ngx_http_ddbm_write_keep(ctx, w);
        return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, w->response.data,
                                     w->response.len);
    }

    /* whatever the cache knew of the conversation may be out of date */
    ngx_http_ddbm_group_forget(ctx, &w->g.group);

    if (call->result != NGX_HTTP_DDBM_CALL_CANCELED) {
        w->failed = call;
        return ngx_http_ddbm_write_fail(ctx, w);
    }

    e = &call->error;
    race = 0;
    throttled = 0;
    collided = 0;
    moved = 0;
    refused = 0;

    for (i = 0; i < e->ncancel && i < w->nactions; i++) {
        switch (e->cancel[i]) {

        case DM_CANCEL_NONE:
            break;

        case DM_CANCEL_CONDITION:
            switch (w->action[i]) {

            case NGX_HTTP_DDBM_ACT_RECEIPT:
                /*
                 * Stored already: by an earlier attempt of this request
                 * whose answer was lost, or by a twin with the same
                 * Idempotency-Key.  Its receipt has the answer.
                 */
                w->replaying = 1;
                ngx_http_ddbm_reset_calls(ctx);

                if (ngx_http_ddbm_receipt_lookup(ctx, w) != NGX_OK) {
                    return NGX_ERROR;
                }

                return NGX_AGAIN;

            case NGX_HTTP_DDBM_ACT_ROW_DELETE:
                moved = 1;
                break;

            case NGX_HTTP_DDBM_ACT_RECORD:
                race = 1;
                break;

            default:
                /* the time is taken: a row of another conversation */
                collided = 1;
            }

            break;

        case DM_CANCEL_CONFLICT:
            race = 1;
            break;

        case DM_CANCEL_THROTTLED:
            throttled = 1;
            break;

        default:
            refused = 1;
            ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                          "ddbm: message transaction refused: action %ui: "
                          "%s", i, e->error_message);
        }
    }

    if (refused || !(race || throttled || collided || moved)) {
        if (!refused) {
            ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                          "ddbm: message transaction canceled without a "
                          "reason: %s", e->error_message);
        }

        return ngx_http_ddbm_write_fail(ctx, w);
    }

    if (collided && dm_time_parse(w->sk, DM_TIME_LEN, &us)) {
        /* after the taken time, by a random step: rivals spread out */
        w->floor = ngx_max(w->floor, us) + (int64_t) (ngx_random() % 64);
    }

    /* rows elsewhere than a stale record said are no news: read it */
    w->find_rows = moved && !race;
    w->reread = race || moved;

    /* a new round reads the conversation again and writes, and a failure
     * after an uncertain attempt reads the receipt: three calls */
    if (++w->attempts >= ctx->conf->write_retries
        || ctx->attempts + 3 > NGX_HTTP_DDBM_MAX_ATTEMPTS)
    {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "ddbm: conversation \"%V\" %s: gave up after %ui "
                      "attempts", &w->g.group,
                      throttled ? "throttled" : "too busy", w->attempts);

        w->give_up = throttled ? "dynamodb_throttled" : "conversation_busy";

        return ngx_http_ddbm_write_fail(ctx, w);
    }

    /*
     * Throttling backs off as any throttled call does; a lost race waits
     * a short, growing, random while, so that rivals spread out instead
     * of colliding again; a taken time needs no pause, only a later time.
     */
    if (throttled) {
        w->pause = ngx_http_ddbm_backoff(ctx->conf->retry_base,
                                         ctx->conf->retry_cap, w->attempts);

    } else if (race || moved) {
        w->pause = ngx_http_ddbm_backoff(NGX_HTTP_DDBM_RACE_BACKOFF,
                                         NGX_HTTP_DDBM_RACE_BACKOFF_CAP,
                                         w->attempts);

    } else {
        w->pause = 0;
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "ddbm: conversation \"%V\" %s, writing again in %Mms "
                  "(attempt %ui)", &w->g.group,
                  throttled ? "throttled"
                  : race ? "changed meanwhile"
                  : moved ? "has a row out of place"
                  : "met a row of another at its time",
                  w->pause, w->attempts + 1);

    return NGX_DECLINED;
}
