/*
 * The one write the API has: a message, both participants' conversation
 * rows moved to its time, the conversation's GRPMETA# item, and an
 * idempotency record, in one TransactWriteItems.
 *
 * Why it cannot go wrong under concurrency: the GRPMETA# item is written
 * with "rev = :rev" (or attribute_not_exists for a new one), so of two
 * writers that read the same revision one wins and the other reads again;
 * the message is written with attribute_not_exists(pk), so no message is
 * ever overwritten; every time is later than the conversation's last, so
 * keys never repeat and the rows' Delete and Put never name the same item.
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


ngx_int_t
ngx_http_ddbm_idempotency_lookup(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag)
{
    char      pk[DM_KEY_MAX];
    dm_buf_t  b;

    if (ngx_http_ddbm_idempotency_pk(ctx, pk, sizeof(pk)) == 0) {
        return NGX_ERROR;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_get_item(&b, (const char *) ctx->conf->table.data, pk,
                        DM_SK_IDEMPOTENCY, 1)
        != 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_call(ctx, tag, "GetItem", &b) ? NGX_OK : NGX_ERROR;
}


typedef struct {
    ngx_pool_t  *pool;
    ngx_str_t    response;
    ngx_str_t    request_hash;
    ngx_str_t    expires_at;
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


ngx_int_t
ngx_http_ddbm_idempotency_replay(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag)
{
    char                          hash[65];
    time_t                        expires;
    ngx_int_t                     rc;
    ngx_str_t                     yes;
    dm_ddb_answer_t               answer;
    dm_item_handler_t             h;
    ngx_http_ddbm_idem_reader_t   ir;
    static const char            *reused[] = { "idempotency_key_reused" };

    if (ngx_http_ddbm_find_call(ctx, tag) == NULL) {
        /* no Idempotency-Key, or not this round */
        return NGX_DECLINED;
    }

    ngx_memzero(&ir, sizeof(ir));
    ir.pool = ctx->request->pool;

    h.item_begin = NULL;
    h.item_attr = ngx_http_ddbm_idem_attr;
    h.item_end = NULL;
    h.ctx = &ir;

    rc = ngx_http_ddbm_read_answer(ctx, tag, &h, &answer);
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


/* the GRP#<owner> row: the time, the last message, the other member */
static void
ngx_http_ddbm_tx_row(dm_buf_t *b, ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w, ngx_http_ddbm_user_t *owner,
    ngx_http_ddbm_user_t *other, ngx_str_t *old_sk)
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

        dm_ddb_tx_delete(b, table, pk, old, NULL, NULL, 0);
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

    dm_ddb_tx_put(b, table, row, 7, NULL, NULL, 0);
}


ngx_int_t
ngx_http_ddbm_write_message(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w, ngx_msec_t delay)
{
    u_char                *p;
    char                   pk[DM_KEY_MAX], rev[NGX_INT64_LEN + 1];
    char                   old_rev[NGX_INT64_LEN + 1], hash[65];
    char                   expires[NGX_INT64_LEN + 1];
    char                   now[NGX_INT64_LEN + 1], token[128];
    char                  *table;
    int64_t                last, t;
    ngx_int_t              n, r;
    ngx_uint_t             i;
    dm_buf_t               b;
    dm_attr_t              item[10], cond_value, now_value;
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

    /* later than anything the conversation has: keys never repeat */
    last = ngx_http_ddbm_sk_us(&w->g.last_sk);
    for (i = 0; i < 2; i++) {
        last = ngx_max(last, ngx_http_ddbm_sk_us(&w->g.member_sk[i]));
    }

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
     * plan (a new time) is a new transaction with a token of its own.
     */
    p = ngx_snprintf((u_char *) token, sizeof(token), "%s %s %ui",
                     w->message_uuid, w->sk, w->attempts);
    if (dm_sha256_hex(token, p - (u_char *) token, token) != 0) {
        return NGX_ERROR;
    }
    token[36] = '\0';

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);
    dm_ddb_tx_begin(&b, token);
    n = 0;

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
    w->message_action = n++;

    /* both members' rows */
    for (i = 0; i < 2; i++) {
        if (w->new_group) {
            ngx_str_t  none = ngx_null_string;

            ngx_http_ddbm_tx_row(&b, ctx, w, m[i], m[1 - i], &none);
            n++;

        } else {
            ngx_http_ddbm_tx_row(&b, ctx, w, m[i], m[1 - i],
                                 &w->g.member_sk[i]);
            n += w->g.member_sk[i].len ? 2 : 1;
        }
    }

    /* the conversation item, guarded by its revision */
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
    item[9].name = "rev";
    item[9].type = "N";
    item[9].value = rev;
    item[9].len = ngx_strlen(rev);

    cond_value.name = ":rev";
    cond_value.type = "N";
    cond_value.value = old_rev;
    cond_value.len = ngx_strlen(old_rev);

    if (w->g.has_meta) {
        dm_ddb_tx_put(&b, table, item, 10, "rev = :rev", &cond_value, 1);

    } else {
        dm_ddb_tx_put(&b, table, item, 10, "attribute_not_exists(pk)",
                      NULL, 0);
    }

    w->meta_action = n++;

    /* the answer, kept for a retry with the same Idempotency-Key */
    w->idempotency_action = -1;

    if (ctx->idempotency_key.len) {
        if (ngx_http_ddbm_idempotency_pk(ctx, pk, sizeof(pk)) == 0) {
            return NGX_ERROR;
        }

        if (dm_sha256_hex(ctx->raw_body.data, ctx->raw_body.len, hash)
            != 0)
        {
            return NGX_ERROR;
        }

        p = ngx_sprintf((u_char *) expires, "%T",
                        ngx_time() + NGX_HTTP_DDBM_IDEM_TTL);
        *p = '\0';
        p = ngx_sprintf((u_char *) now, "%T", ngx_time());
        *p = '\0';

        now_value.name = ":now";
        now_value.type = "N";
        now_value.value = now;
        now_value.len = ngx_strlen(now);

        item[0] = (dm_attr_t) dm_attr_s("pk", pk, ngx_strlen(pk));
        item[1] = (dm_attr_t) dm_attr_s("sk", DM_SK_IDEMPOTENCY,
                                        sizeof(DM_SK_IDEMPOTENCY) - 1);
        item[2] = (dm_attr_t) dm_attr_s("response",
                                        (char *) w->response.data,
                                        w->response.len);
        item[3] = (dm_attr_t) dm_attr_s("request_hash", hash, 64);
        item[4].name = "expires_at";
        item[4].type = "N";
        item[4].value = expires;
        item[4].len = ngx_strlen(expires);

        /* an expired record is as good as none (TTL deletes it late) */
        dm_ddb_tx_put(&b, table, item, 5,
                      "attribute_not_exists(pk) OR expires_at < :now",
                      &now_value, 1);
        w->idempotency_action = n++;
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


ngx_int_t
ngx_http_ddbm_write_resume(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w)
{
    ngx_int_t              rc;
    ngx_uint_t             i, race, throttled;
    dm_ddb_answer_t       *e;
    ngx_http_ddbm_call_t  *call;

    if (w->replaying) {
        rc = ngx_http_ddbm_idempotency_replay(ctx, NGX_HTTP_DDBM_TAG_REPLAY);

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                          "ddbm: the idempotency record that won the race "
                          "is gone");
            return NGX_ERROR;
        }

        return rc;
    }

    call = ngx_http_ddbm_find_call(ctx, NGX_HTTP_DDBM_TAG_WRITE);
    if (call == NULL) {
        return NGX_ERROR;
    }

    if (call->result == NGX_HTTP_DDBM_CALL_OK) {
        ngx_http_ddbm_write_keep(ctx, w);
        return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, w->response.data,
                                     w->response.len);
    }

    /* whatever the cache knew of the conversation may be out of date */
    ngx_http_ddbm_group_forget(ctx, &w->g.group);

    if (call->result != NGX_HTTP_DDBM_CALL_CANCELED) {
        return ngx_http_ddbm_respond_call_failure(ctx, call);
    }

    e = &call->error;

    if (w->idempotency_action >= 0
        && (size_t) w->idempotency_action < e->ncancel
        && e->cancel[w->idempotency_action] == DM_CANCEL_CONDITION)
    {
        /* the same request has been stored meanwhile: answer as it did */
        w->replaying = 1;
        ngx_http_ddbm_reset_calls(ctx);

        if (ngx_http_ddbm_idempotency_lookup(ctx, NGX_HTTP_DDBM_TAG_REPLAY)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    race = 0;
    throttled = 0;

    for (i = 0; i < e->ncancel; i++) {
        switch (e->cancel[i]) {
        case DM_CANCEL_NONE:
            break;
        case DM_CANCEL_CONDITION:
        case DM_CANCEL_CONFLICT:
            race = 1;
            break;
        case DM_CANCEL_THROTTLED:
            throttled = 1;
            break;
        default:
            ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                          "ddbm: message transaction refused: action %ui: "
                          "%s", i, e->error_message);
            return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_GATEWAY,
                                               "dynamodb_error",
                                               "the database refused the "
                                               "write");
        }
    }

    if (!race && !throttled) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "ddbm: message transaction canceled without a "
                      "reason: %s", e->error_message);
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_GATEWAY,
                                           "dynamodb_error",
                                           "the database refused the write");
    }

    /* a new round reads the conversation again and writes: two calls */
    if (++w->attempts >= ctx->conf->write_retries
        || ctx->attempts + 2 > NGX_HTTP_DDBM_MAX_ATTEMPTS)
    {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "ddbm: conversation \"%V\" %s: gave up after %ui "
                      "attempts", &w->g.group,
                      throttled ? "throttled" : "too busy", w->attempts);

        if (throttled) {
            return ngx_http_ddbm_respond_unavailable(ctx,
                                                     "dynamodb_throttled",
                                                     "the database call "
                                                     "failed");
        }

        return ngx_http_ddbm_respond_unavailable(ctx, "conversation_busy",
                                                 "too many concurrent "
                                                 "writes to this "
                                                 "conversation; retry");
    }

    /*
     * Throttling backs off as any throttled call does; a lost race waits
     * a short, growing, random while, so that rivals spread out instead
     * of colliding again.
     */
    w->pause = throttled
               ? ngx_http_ddbm_backoff(ctx->conf->retry_base,
                                       ctx->conf->retry_cap, w->attempts)
               : ngx_http_ddbm_backoff(NGX_HTTP_DDBM_RACE_BACKOFF,
                                       NGX_HTTP_DDBM_RACE_BACKOFF_CAP,
                                       w->attempts);

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "ddbm: conversation \"%V\" %s, writing again in %Mms "
                  "(attempt %ui)", &w->g.group,
                  throttled ? "throttled" : "changed meanwhile", w->pause,
                  w->attempts + 1);

    return NGX_DECLINED;
}
