/*
 * GET /api/messages/<message_group_uuid>: the newest page of a
 * conversation's messages, returned oldest first, to its participants
 * only.  The caller lookup, the membership record and the page are read in
 * parallel; the page is thrown away if the caller turns out not to be a
 * member.
 */

#include "ngx_http_ddbm.h"


enum {
    LM_CALLER = 0,
    LM_META,
    LM_PAGE,
    LM_ROWS
};


typedef struct {
    ngx_uint_t             limit;
    char                   cursor[64];
    ngx_http_ddbm_group_t  g;
} ngx_http_ddbm_lm_t;


static const dm_field_map_t  ngx_http_ddbm_message_fields[] = {
    { "message_uuid", "uuid" },
    { "user_display_name", "display_name" },
    { "user_handle", "handle" },
    { "message", "message" },
    { "sk", "created_at" },
};


static ngx_int_t
ngx_http_ddbm_lm_start(ngx_http_ddbm_ctx_t *ctx)
{
    char                 pk[DM_KEY_MAX];
    ngx_http_ddbm_lm_t  *lm;

    lm = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_lm_t));
    if (lm == NULL) {
        return NGX_ERROR;
    }

    ctx->data = lm;
    lm->g.group = ctx->arg;

    if (dm_key_msg(pk, sizeof(pk), (const char *) ctx->arg.data, ctx->arg.len)
        == 0)
    {
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_NOT_FOUND,
                                           "conversation_not_found",
                                           "no such conversation: "
                                           "not a message_group_uuid");
    }

    if (ngx_http_ddbm_page_args(ctx, &lm->limit, lm->cursor,
                                sizeof(lm->cursor))
        != NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_http_ddbm_lookup_caller(ctx, LM_CALLER) != NGX_OK
        || ngx_http_ddbm_lookup_group_meta(ctx, LM_META, &ctx->arg, 0)
           != NGX_OK
        || ngx_http_ddbm_query_page(ctx, LM_PAGE, pk, lm->limit, lm->cursor)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_ddbm_lm_resume(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_http_ddbm_lm_t  *lm;

    lm = ctx->data;

    if (ctx->step == 0) {
        if (ngx_http_ddbm_check_caller(ctx, LM_CALLER) != NGX_OK
            || ngx_http_ddbm_read_group_meta(ctx, LM_META, &lm->g) != NGX_OK)
        {
            return NGX_OK;
        }

        if (!lm->g.has_meta) {
            /* written by the reference's tools only: ask its index */
            if (ngx_http_ddbm_lookup_group_rows(ctx, LM_ROWS, &lm->g.group)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ctx->step = 1;
            return NGX_DONE;
        }

    } else if (ngx_http_ddbm_read_group_rows(ctx, LM_ROWS, &lm->g)
               != NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_http_ddbm_check_member(ctx, &lm->g) != NGX_OK) {
        return NGX_OK;
    }

    return ngx_http_ddbm_respond_page(ctx, LM_PAGE,
               ngx_http_ddbm_message_fields,
               sizeof(ngx_http_ddbm_message_fields) / sizeof(dm_field_map_t),
               1);
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_list_messages = {
    ngx_string("list_messages"),
    NGX_HTTP_GET|NGX_HTTP_HEAD,
    0,                                     /* reads_body */
    1,                                     /* needs_identity */
    1,                                     /* takes_arg */
    ngx_http_ddbm_lm_start,
    ngx_http_ddbm_lm_resume
};
