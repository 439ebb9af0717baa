/*
 * The user directory: items the CLI imports under USER#SUB#<sub> and
 * USER#HANDLE#<handle> (sk "USER"), each holding user_uuid, user_handle and
 * user_display_name, so that one strongly consistent GetItem finds a user.
 */

#include "ngx_http_ddbm.h"


typedef struct {
    ngx_pool_t            *pool;
    ngx_http_ddbm_user_t  *user;
} ngx_http_ddbm_user_reader_t;


static ngx_int_t
ngx_http_ddbm_get_user(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    const char *pk)
{
    dm_buf_t  b;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_get_item(&b, (const char *) ctx->conf->table.data, pk,
                        DM_SK_USER, 1)
        != 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_call(ctx, tag, "GetItem", &b) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_ddbm_lookup_caller(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag)
{
    char  pk[DM_KEY_MAX];

    if (dm_key_user_sub(pk, sizeof(pk), (const char *) ctx->sub.data,
                        ctx->sub.len)
        == 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_get_user(ctx, tag, pk);
}


ngx_int_t
ngx_http_ddbm_lookup_handle(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_str_t *handle)
{
    char  pk[DM_KEY_MAX];

    if (dm_key_user_handle(pk, sizeof(pk), (const char *) handle->data,
                           handle->len)
        == 0)
    {
        return NGX_DECLINED;
    }

    return ngx_http_ddbm_get_user(ctx, tag, pk);
}


static int
ngx_http_ddbm_user_attr(void *data, const char *name, size_t name_len,
    char type, const unsigned char *value, size_t value_len)
{
    ngx_http_ddbm_user_reader_t  *ur = data;

    ngx_str_t  *dst;

    if (type != 'S') {
        return 0;
    }

    if (name_len == 9 && ngx_strncmp(name, "user_uuid", 9) == 0) {
        dst = &ur->user->uuid;

    } else if (name_len == 11 && ngx_strncmp(name, "user_handle", 11) == 0) {
        dst = &ur->user->handle;

    } else if (name_len == 17
               && ngx_strncmp(name, "user_display_name", 17) == 0)
    {
        dst = &ur->user->display_name;

    } else {
        return 0;
    }

    dst->data = ngx_pnalloc(ur->pool, value_len + 1);
    if (dst->data == NULL) {
        return -1;
    }

    ngx_memcpy(dst->data, value, value_len);
    dst->data[value_len] = '\0';
    dst->len = value_len;

    return 0;
}


ngx_int_t
ngx_http_ddbm_read_user(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_user_t *user)
{
    ngx_int_t                     rc;
    dm_ddb_answer_t               answer;
    dm_item_handler_t             h;
    ngx_http_ddbm_call_t         *call;
    ngx_http_ddbm_user_reader_t   ur;

    ngx_memzero(user, sizeof(ngx_http_ddbm_user_t));

    ur.pool = ctx->request->pool;
    ur.user = user;

    h.item_begin = NULL;
    h.item_attr = ngx_http_ddbm_user_attr;
    h.item_end = NULL;
    h.ctx = &ur;

    rc = ngx_http_ddbm_read_answer(ctx, tag, &h, &answer);
    if (rc != NGX_OK) {
        return rc;
    }

    if (answer.nitems == 0) {
        return NGX_OK;
    }

    if (!dm_uuid_valid((const char *) user->uuid.data, user->uuid.len)
        || user->handle.len == 0)
    {
        (void) ngx_http_ddbm_call_answer(ctx, tag, &call);
        return ngx_http_ddbm_respond_unreadable(ctx, call,
                                                "a user directory item has "
                                                "no valid user_uuid or "
                                                "user_handle");
    }

    user->found = 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_check_caller(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag)
{
    ngx_int_t  rc;

    if (ctx->caller.found) {
        return NGX_OK;
    }

    rc = ngx_http_ddbm_read_user(ctx, tag, &ctx->caller);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!ctx->caller.found) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "ddbm: identity \"%V\" is not in the user directory, "
                      "answered 401", &ctx->sub);
        return ngx_http_ddbm_respond(ctx, NGX_HTTP_UNAUTHORIZED,
                                     (u_char *) "{}", 2);
    }

    return NGX_OK;
}
