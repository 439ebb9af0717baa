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


static const dm_field_map_t  ngx_http_ddbm_conversation_fields[] = {
    { "message_group_uuid", "uuid" },
    { "user_display_name", "display_name" },
    { "user_handle", "handle" },
    { "message", "message" },
    { "sk", "created_at" },
};


static ngx_int_t
ngx_http_ddbm_lc_start(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_http_ddbm_lc_t  *lc;

    lc = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_lc_t));
    if (lc == NULL) {
        return NGX_ERROR;
    }

    ctx->data = lc;

    if (ngx_http_ddbm_page_args(ctx, &lc->limit, lc->cursor,
                                sizeof(lc->cursor))
        != NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_http_ddbm_lookup_caller(ctx, LC_CALLER) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_ddbm_lc_resume(ngx_http_ddbm_ctx_t *ctx)
{
    char                   pk[DM_KEY_MAX];
    dm_buf_t               b;
    dm_allocator_t         a;
    dm_ddb_query_t         q;
    dm_ddb_answer_t        answer;
    ngx_http_ddbm_lc_t    *lc;
    ngx_http_ddbm_call_t  *call;

    lc = ctx->data;

    if (ctx->step == 0) {
        if (ngx_http_ddbm_check_caller(ctx, LC_CALLER) != NGX_OK) {
            return NGX_OK;
        }

        if (dm_key_grp(pk, sizeof(pk), (const char *) ctx->caller.uuid.data,
                       ctx->caller.uuid.len)
            == 0)
        {
            return NGX_ERROR;
        }

        ngx_memzero(&q, sizeof(dm_ddb_query_t));
        q.table = (const char *) ctx->conf->table.data;
        q.key_name = "pk";
        q.key_value = pk;
        q.sk_before = lc->cursor[0] ? lc->cursor : NULL;
        q.limit = lc->limit;
        q.forward = 0;
        q.consistent = 1;

        ngx_http_ddbm_buf_init(&b, ctx->request->pool);

        if (dm_ddb_query(&b, &q) != 0
            || ngx_http_ddbm_call(ctx, LC_QUERY, "Query", &b) == NULL)
        {
            return NGX_ERROR;
        }

        ctx->step = 1;
        return NGX_DONE;
    }

    call = ngx_http_ddbm_find_call(ctx, LC_QUERY);

    if (call->result != NGX_HTTP_DDBM_CALL_OK) {
        return ngx_http_ddbm_respond_call_failure(ctx, call);
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);
    ngx_http_ddbm_allocator(&a, ctx->request->pool);

    if (dm_ddb_rewrite_items(call->answer.data, call->answer.len,
                             ngx_http_ddbm_conversation_fields,
                             sizeof(ngx_http_ddbm_conversation_fields)
                             / sizeof(dm_field_map_t),
                             0, &b, &answer, &a)
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "ddbm: unreadable DynamoDB Query answer: %s",
                      answer.error_message);
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_GATEWAY,
                                           "dynamodb_answer_unreadable",
                                           "the database answer was "
                                           "unreadable");
    }

    if (ngx_http_ddbm_set_next_cursor(ctx, &answer) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, b.data, b.len);
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_list_conversations = {
    ngx_string("list_conversations"),
    NGX_HTTP_GET|NGX_HTTP_HEAD,
    0,                                     /* reads_body */
    1,                                     /* needs_identity */
    0,                                     /* takes_arg */
    ngx_http_ddbm_lc_start,
    ngx_http_ddbm_lc_resume
};
