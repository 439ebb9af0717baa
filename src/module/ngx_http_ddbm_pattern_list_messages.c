/*
 * GET /api/messages/<message_group_uuid>: the newest page of a
 * conversation's messages, returned oldest first, to its participants
 * only.  The caller and the membership record are read in parallel (or
 * come from the cache: then the page is the only call); the page is read
 * only once the caller is known to be a member, so no message of a
 * conversation is ever fetched for anyone else.
 */

#include "ngx_http_ddbm.h"


enum {
    LM_CALLER = 0,
    LM_META,
    LM_ROWS,
    LM_PAGE
};

enum {
    LM_STEP_MEMBERS = 0,
    LM_STEP_ROWS,
    LM_STEP_PAGE
};


typedef struct {
    ngx_uint_t             limit;
    char                   cursor[64];
    ngx_http_ddbm_group_t  g;
} ngx_http_ddbm_lm_t;


static ngx_int_t
ngx_http_ddbm_lm_start(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_http_ddbm_lm_t  *lm;

    lm = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_lm_t));
    if (lm == NULL) {
        return NGX_ERROR;
    }

    ctx->data = lm;
    lm->g.group = ctx->arg;

    if (!dm_uuid_valid((const char *) ctx->arg.data, ctx->arg.len)) {
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_NOT_FOUND,
                                           "conversation_not_found",
                                           "no such conversation: "
                                           "not a message_group_uuid");
    }

    rc = ngx_http_ddbm_page_args(ctx, &lm->limit, lm->cursor,
                                 sizeof(lm->cursor));
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ddbm_lookup_caller(ctx, LM_CALLER) != NGX_OK
        || ngx_http_ddbm_lookup_group_meta(ctx, LM_META, &lm->g, 0, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_lm_resume(ngx_http_ddbm_ctx_t *ctx)
{
    char                 pk[DM_KEY_MAX];
    ngx_int_t            rc;
    ngx_http_ddbm_lm_t  *lm;

    lm = ctx->data;

    switch (ctx->step) {

    case LM_STEP_MEMBERS:
        rc = ngx_http_ddbm_check_caller(ctx, LM_CALLER);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_ddbm_read_group_meta(ctx, LM_META, &lm->g);
        if (rc != NGX_OK) {
            return rc;
        }

        if (lm->g.nmembers == 0 && !lm->g.cached) {
            /* written by the reference's tools only: ask its index */
            ngx_http_ddbm_reset_calls(ctx);

            if (ngx_http_ddbm_lookup_group_rows(ctx, LM_ROWS, &lm->g.group, 0)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ctx->step = LM_STEP_ROWS;
            return NGX_AGAIN;
        }

        break;

    case LM_STEP_ROWS:
        rc = ngx_http_ddbm_read_group_rows(ctx, LM_ROWS, &lm->g);
        if (rc != NGX_OK) {
            return rc;
        }

        break;

    default: /* LM_STEP_PAGE */
        return ngx_http_ddbm_respond_page(ctx, LM_PAGE, dm_message_fields,
                                          DM_PAGE_FIELDS, 1);
    }

    rc = ngx_http_ddbm_check_member(ctx, &lm->g);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_ddbm_reset_calls(ctx);

    if (dm_key_msg(pk, sizeof(pk), (const char *) lm->g.group.data,
                   lm->g.group.len)
        == 0
        || ngx_http_ddbm_query_page(ctx, LM_PAGE, pk, lm->limit, lm->cursor,
                                    dm_message_fields, DM_PAGE_FIELDS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->step = LM_STEP_PAGE;
    return NGX_AGAIN;
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_list_messages = {
    ngx_string("list_messages"),
    NGX_HTTP_GET|NGX_HTTP_HEAD,
    0,                                     /* reads_body */
    1,                                     /* needs_identity */
    1,                                     /* takes_arg */
    ngx_http_ddbm_lm_start,
    ngx_http_ddbm_lm_resume,
    NULL                                   /* route */
};
