/*
 * POST /api/messages with {"message", "handle"}: a new conversation with
 * the user whose handle is given, and its first message, in one
 * transaction (the reference used a non-atomic BatchWriteItem).
 */

#include "ngx_http_ddbm.h"


enum {
    SC_CALLER = 0,
    SC_RECEIVER
};

enum {
    SC_STEP_READ = 0,
    SC_STEP_WRITE
};


typedef struct {
    ngx_http_ddbm_write_t  w;
    ngx_flag_t             receiver_invalid;
} ngx_http_ddbm_sc_t;


static ngx_int_t
ngx_http_ddbm_sc_start(ngx_http_ddbm_ctx_t *ctx)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_str_t            handle, message;
    ngx_http_ddbm_sc_t  *sc;

    /* the body's rules were checked when it was read (dm_api_post_check) */

    if (ctx->post.update) {
        /* a location of this pattern alone starts conversations only */
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_type",
                                           "a new conversation takes "
                                           "\"handle\", not "
                                           "\"message_group_uuid\"");
    }

    message.data = (u_char *) ctx->post.message;
    message.len = ctx->post.message_len;
    handle.data = (u_char *) ctx->post.handle;
    handle.len = ctx->post.handle_len;

    rc = ngx_http_ddbm_idempotency_key(ctx);
    if (rc != NGX_OK && rc != NGX_DECLINED) {
        return rc;
    }

    sc = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_sc_t));
    p = ngx_pnalloc(ctx->request->pool, DM_UUID_LEN + 1);
    if (sc == NULL || p == NULL || dm_uuid_v4((char *) p) != 0) {
        return NGX_ERROR;
    }

    ctx->data = sc;
    sc->w.new_group = 1;
    sc->w.message = message;
    sc->w.g.group.data = p;
    sc->w.g.group.len = DM_UUID_LEN;

    if (ngx_http_ddbm_lookup_caller(ctx, SC_CALLER) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_ddbm_lookup_handle(ctx, SC_RECEIVER, &handle,
                                     &sc->w.receiver);

    if (rc == NGX_DECLINED) {
        /* no user can have such a handle; decided after the caller */
        sc->receiver_invalid = 1;

    } else if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* an earlier answer for the Idempotency-Key: the transaction finds it */
    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_sc_write(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_sc_t *sc,
    ngx_msec_t delay)
{
    ngx_http_ddbm_reset_calls(ctx);

    if (ngx_http_ddbm_write_message(ctx, &sc->w, delay) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->step = SC_STEP_WRITE;
    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_sc_resume(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t              rc;
    ngx_http_ddbm_sc_t    *sc;
    ngx_http_ddbm_user_t  *rcv;
    static const char     *not_found[] = { "user_receiver_not_found" };
    static const char     *self[] = { "user_receiver_is_sender" };

    sc = ctx->data;
    rcv = &sc->w.receiver;

    if (ctx->step == SC_STEP_WRITE) {
        rc = ngx_http_ddbm_write_resume(ctx, &sc->w);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        /* nothing to read again (a new conversation has no rival): wait */
        return ngx_http_ddbm_sc_write(ctx, sc, sc->w.pause);
    }

    rc = ngx_http_ddbm_check_caller(ctx, SC_CALLER);
    if (rc != NGX_OK) {
        return rc;
    }

    if (sc->receiver_invalid) {
        return ngx_http_ddbm_respond_codes(ctx, not_found, 1);
    }

    rc = ngx_http_ddbm_read_user(ctx, SC_RECEIVER, rcv);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!rcv->found) {
        return ngx_http_ddbm_respond_codes(ctx, not_found, 1);
    }

    if (rcv->uuid.len == ctx->caller.uuid.len
        && ngx_strncmp(rcv->uuid.data, ctx->caller.uuid.data,
                       rcv->uuid.len) == 0)
    {
        return ngx_http_ddbm_respond_codes(ctx, self, 1);
    }

    return ngx_http_ddbm_sc_write(ctx, sc, 0);
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_start_conversation = {
    ngx_string("start_conversation"),
    NGX_HTTP_POST,
    1,                                     /* reads_body */
    1,                                     /* needs_identity */
    ngx_http_ddbm_sc_start,
    ngx_http_ddbm_sc_resume,
    NULL                                   /* route */
};
