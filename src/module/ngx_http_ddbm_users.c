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


/*
 * The user under kind + id: from the cache (user->cached, found or known
 * not to exist), or a GetItem of pk issued, to be read by read_user.
 */
static ngx_int_t
ngx_http_ddbm_get_user(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    u_char kind, ngx_str_t *id, const char *pk, ngx_http_ddbm_user_t *user)
{
    dm_buf_t               b;
    ngx_str_t              key, v[3];
    ngx_uint_t             n;
    ngx_http_ddbm_call_t  *call;

    if (ngx_http_ddbm_cache_key(ctx, kind, id, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ddbm_cache_get(ctx, &key, v, 3, &n) == NGX_OK) {
        ngx_memzero(user, sizeof(ngx_http_ddbm_user_t));
        user->cached = 1;

        if (n == 3) {
            user->uuid = v[0];
            user->handle = v[1];
            user->display_name = v[2];
            user->found = 1;
        }

        return NGX_OK;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_get_item(&b, (const char *) ctx->conf->table.data, pk,
                        DM_SK_USER, 1)
        != 0)
    {
        return NGX_ERROR;
    }

    call = ngx_http_ddbm_call(ctx, tag, "GetItem", &b);
    if (call == NULL) {
        return NGX_ERROR;
    }

    call->cache_key = key;

    return NGX_OK;
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

    return ngx_http_ddbm_get_user(ctx, tag, 'S', &ctx->sub, pk,
                                  &ctx->caller);
}


ngx_int_t
ngx_http_ddbm_lookup_handle(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_str_t *handle, ngx_http_ddbm_user_t *user)
{
    char  pk[DM_KEY_MAX];

    if (dm_key_user_handle(pk, sizeof(pk), (const char *) handle->data,
                           handle->len)
        == 0)
    {
        return NGX_DECLINED;
    }

    return ngx_http_ddbm_get_user(ctx, tag, 'H', handle, pk, user);
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
    ngx_str_t                     v[3];
    dm_ddb_answer_t               answer;
    dm_item_handler_t             h;
    ngx_http_ddbm_call_t         *call;
    ngx_http_ddbm_user_reader_t   ur;

    if (user->cached) {
        return NGX_OK;
    }

    ngx_memzero(user, sizeof(ngx_http_ddbm_user_t));

    ur.pool = ctx->request->pool;
    ur.user = user;

    h.item_begin = NULL;
    h.item_attr = ngx_http_ddbm_user_attr;
    h.item_end = NULL;
    h.key_attr = NULL;
    h.ctx = &ur;

    rc = ngx_http_ddbm_read_answer(ctx, tag, &h, &answer);
    if (rc != NGX_OK) {
        return rc;
    }

    call = ngx_http_ddbm_find_call(ctx, tag);

    if (answer.nitems == 0) {
        /* unknown for a while: a stranger's retries cost no reads */
        ngx_http_ddbm_cache_put(ctx, &call->cache_key, NULL, 0,
                                ctx->conf->cache
                                ? ctx->conf->cache->negative_ttl : 0);
        return NGX_OK;
    }

    if (!dm_uuid_valid((const char *) user->uuid.data, user->uuid.len)
        || user->handle.len == 0)
    {
        return ngx_http_ddbm_respond_unreadable(ctx, call,
                                                "a user directory item has "
                                                "no valid user_uuid or "
                                                "user_handle");
    }

    user->found = 1;

    v[0] = user->uuid;
    v[1] = user->handle;
    v[2] = user->display_name;

    ngx_http_ddbm_cache_put(ctx, &call->cache_key, v, 3,
                            ctx->conf->cache ? ctx->conf->cache->user_ttl
                                             : 0);

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
