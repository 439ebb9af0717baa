/*
 * GET /api/message_groups: the caller's conversation rows (GRP#<caller>),
 * newest first, as the reference frontend reads them.  Strongly consistent:
 * a conversation is listed as soon as the POST that made it returns.
 */

#include "ngx_http_ddbm.h"


enum {
    LC_CALLER = 0,
    LC_QUERY
};


typedef struct {
    ngx_uint_t  limit;
    char        cursor[64];
} ngx_http_ddbm_lc_t;


static ngx_int_t
ngx_http_ddbm_lc_start(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_http_ddbm_lc_t  *lc;

    lc = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_lc_t));
    if (lc == NULL) {
        return NGX_ERROR;
    }

    ctx->data = lc;

    rc = ngx_http_ddbm_page_args(ctx, &lc->limit, lc->cursor,
                                 sizeof(lc->cursor));
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ddbm_lookup_caller(ctx, LC_CALLER) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_lc_resume(ngx_http_ddbm_ctx_t *ctx)
{
    char                 pk[DM_KEY_MAX];
    ngx_int_t            rc;
    ngx_http_ddbm_lc_t  *lc;

    lc = ctx->data;

    if (ctx->step == 1) {
        return ngx_http_ddbm_respond_page(ctx, LC_QUERY, dm_conversation_fields,
                                          DM_PAGE_FIELDS, 0);
    }

    rc = ngx_http_ddbm_check_caller(ctx, LC_CALLER);
    if (rc != NGX_OK) {
        return rc;
    }

    if (dm_key_grp(pk, sizeof(pk), (const char *) ctx->caller.uuid.data,
                   ctx->caller.uuid.len)
        == 0
        || ngx_http_ddbm_query_page(ctx, LC_QUERY, pk, lc->limit, lc->cursor,
                                    dm_conversation_fields, DM_PAGE_FIELDS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->step = 1;
    return NGX_AGAIN;
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_list_conversations = {
    ngx_string("list_conversations"),
    NGX_HTTP_GET|NGX_HTTP_HEAD,
    0,                                     /* reads_body */
    1,                                     /* needs_identity */
    0,                                     /* takes_arg */
    ngx_http_ddbm_lc_start,
    ngx_http_ddbm_lc_resume,
    NULL                                   /* route */
};
