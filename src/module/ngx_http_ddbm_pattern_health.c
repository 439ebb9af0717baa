/*
 * GET /health: DescribeTable, so a load balancer sees that NGINX reaches
 * DynamoDB with working credentials and that the table exists.
 */

#include "ngx_http_ddbm.h"


static ngx_int_t
ngx_http_ddbm_health_start(ngx_http_ddbm_ctx_t *ctx)
{
    dm_buf_t  b;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    dm_buf_append_str(&b, "{\"TableName\":");
    dm_buf_json_string(&b, ctx->conf->table.data, ctx->conf->table.len);
    dm_buf_append_str(&b, "}");

    if (ngx_http_ddbm_call(ctx, 0, "DescribeTable", &b) == NULL) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_health_resume(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t              rc;
    dm_buf_t               b;
    ngx_http_ddbm_call_t  *call;

    rc = ngx_http_ddbm_call_answer(ctx, 0, &call);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    dm_buf_append_str(&b, "{\"status\":\"ok\",\"table\":");
    dm_buf_json_string(&b, ctx->conf->table.data, ctx->conf->table.len);
    dm_buf_append_str(&b, "}");

    if (b.failed) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, b.data, b.len);
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_health = {
    ngx_string("health"),
    NGX_HTTP_GET|NGX_HTTP_HEAD,
    0,                                     /* reads_body */
    0,                                     /* needs_identity */
    0,                                     /* takes_arg */
    ngx_http_ddbm_health_start,
    ngx_http_ddbm_health_resume
};
