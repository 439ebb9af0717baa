/*
 * GET /api/users/@<handle>/short: {uuid, handle, display_name} from the
 * user directory, as the reference's new-conversation page asks for it.
 */

#include "ngx_http_ddbm.h"


static ngx_int_t
ngx_http_ddbm_us_start(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t              rc;
    ngx_http_ddbm_user_t  *user;

    user = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_user_t));
    if (user == NULL) {
        return NGX_ERROR;
    }

    ctx->data = user;

    /* "@handle" from a prefix location's last segment */
    if (ctx->arg.len && ctx->arg.data[0] == '@') {
        ctx->arg.data++;
        ctx->arg.len--;
    }

    rc = ngx_http_ddbm_lookup_handle(ctx, 0, &ctx->arg, user);

    if (rc == NGX_DECLINED) {
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_NOT_FOUND,
                                           "user_not_found",
                                           "no user has this handle");
    }

    /* none may be under way: the cache knew the handle */
    return rc == NGX_OK ? NGX_AGAIN : NGX_ERROR;
}


static ngx_int_t
ngx_http_ddbm_us_resume(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t              rc;
    dm_buf_t               b;
    ngx_http_ddbm_user_t  *user;

    user = ctx->data;

    rc = ngx_http_ddbm_read_user(ctx, 0, user);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!user->found) {
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_NOT_FOUND,
                                           "user_not_found",
                                           "no user has this handle");
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    dm_buf_append_str(&b, "{\"uuid\":");
    dm_buf_json_string(&b, user->uuid.data, user->uuid.len);
    dm_buf_append_str(&b, ",\"handle\":");
    dm_buf_json_string(&b, user->handle.data, user->handle.len);
    dm_buf_append_str(&b, ",\"display_name\":");
    dm_buf_json_string(&b, user->display_name.data,
                       user->display_name.len);
    dm_buf_append_str(&b, "}");

    if (b.failed) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, b.data, b.len);
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_user_short = {
    ngx_string("user_short"),
    NGX_HTTP_GET|NGX_HTTP_HEAD,
    0,                                     /* reads_body */
    0,                                     /* needs_identity */
    1,                                     /* takes_arg */
    ngx_http_ddbm_us_start,
    ngx_http_ddbm_us_resume,
    NULL                                   /* route */
};
