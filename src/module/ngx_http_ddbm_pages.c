/*
 * Pages of items: ?limit= and ?cursor= (an addition to the reference's API
 * that leaves its default answers unchanged), the newest-first Query, and
 * the answer rewritten in one streaming pass with X-Next-Cursor.
 */

#include "ngx_http_ddbm.h"


ngx_int_t
ngx_http_ddbm_page_args(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t *limit,
    char *cursor, size_t cursor_size)
{
    int64_t    us;
    ngx_int_t  n, rc;
    ngx_str_t  v;

    *limit = ctx->conf->page_default;
    cursor[0] = '\0';

    rc = ngx_http_ddbm_query_arg(ctx, "limit", 5, &v);

    if (rc == NGX_OK) {
        n = ngx_atoi(v.data, v.len);

        if (n < 1 || (ngx_uint_t) n > ctx->conf->page_max) {
            return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                               "invalid_limit",
                                               "limit must be a whole "
                                               "number from 1 to the page "
                                               "maximum");
        }

        *limit = n;

    } else if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_http_ddbm_query_arg(ctx, "cursor", 6, &v);

    if (rc == NGX_OK) {
        if (v.len >= cursor_size
            || !dm_time_parse((const char *) v.data, v.len, &us))
        {
            return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                               "invalid_cursor",
                                               "cursor must be the "
                                               "X-Next-Cursor value of a "
                                               "previous page");
        }

        ngx_memcpy(cursor, v.data, v.len + 1);

    } else if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_query_page(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    const char *pk, ngx_uint_t limit, const char *cursor,
    const dm_field_map_t *map, size_t nmap)
{
    dm_buf_t        b;
    dm_ddb_query_t  q;

    ngx_memzero(&q, sizeof(dm_ddb_query_t));
    q.table = (const char *) ctx->conf->table.data;
    q.key_name = "pk";
    q.key_value = pk;
    q.sk_before = cursor[0] ? cursor : NULL;
    q.limit = limit;
    q.forward = 0;
    q.consistent = 1;
    q.project = map;
    q.nproject = nmap;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_query(&b, &q) != 0
        || ngx_http_ddbm_call(ctx, tag, "Query", &b) == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ddbm_set_next_cursor(ngx_http_ddbm_ctx_t *ctx,
    dm_ddb_answer_t *answer)
{
    ngx_str_t  v;

    if (!answer->has_last_key || answer->last_sk[0] == '\0') {
        return NGX_OK;
    }

    if (answer->last_sk_truncated) {
        /* not a time this module or the reference writes: no cursor */
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "ddbm: a sort key too long for a cursor; the page "
                      "has no X-Next-Cursor");
        return NGX_OK;
    }

    v.len = ngx_strlen(answer->last_sk);
    v.data = ngx_pnalloc(ctx->request->pool, v.len);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(v.data, answer->last_sk, v.len);

    return ngx_http_ddbm_add_header(ctx->request, "X-Next-Cursor", &v);
}


ngx_int_t
ngx_http_ddbm_respond_page(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    const dm_field_map_t *map, size_t nmap, ngx_uint_t oldest_first)
{
    ngx_int_t              rc;
    dm_buf_t               b;
    dm_allocator_t         a;
    dm_ddb_answer_t        answer;
    ngx_http_ddbm_call_t  *call;

    rc = ngx_http_ddbm_call_answer(ctx, tag, &call);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);
    ngx_http_ddbm_allocator(&a, ctx->request->pool);

    if (dm_ddb_rewrite_items(call->answer.data, call->answer.len, map, nmap,
                             oldest_first, &b, &answer, &a)
        != 0)
    {
        return ngx_http_ddbm_respond_unreadable(ctx, call,
                                                answer.error_message);
    }

    if (ngx_http_ddbm_set_next_cursor(ctx, &answer) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, b.data, b.len);
}
