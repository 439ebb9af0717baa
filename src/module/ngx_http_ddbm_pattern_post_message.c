/*
 * POST /api/messages with {"message", "message_group_uuid"}: a message in
 * an existing conversation, by one of its two participants.  A body
 * without message_group_uuid starts a conversation instead (the
 * reference's "create" mode): see ngx_http_ddbm_pattern_start_conversation.c.
 *
 * Rounds: caller and conversation item in parallel (none when the cache
 * knows both); for a conversation only the reference wrote, its rows; the
 * transaction (which also finds an earlier answer to the same
 * Idempotency-Key: that one is then replayed);
 * on a lost race, the conversation item again after a short pause (with
 * its rows through the index when one was not where the record said), as
 * many times as ddbm_write_retries allows; on a time taken by a row of
 * another conversation, the transaction again at a later time.
 */

#include "ngx_http_ddbm.h"


enum {
    PM_CALLER = 0,
    PM_META,
    PM_ROWS
};

enum {
    PM_STEP_READ = 0,
    PM_STEP_ROWS,
    PM_STEP_WRITE
};


static ngx_int_t
ngx_http_ddbm_pm_start(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t               rc;
    ngx_str_t               group, message;
    ngx_http_ddbm_write_t  *w;

    /* the body's rules were checked when it was read (dm_api_post_check) */

    if (!ctx->post.update) {
        ctx->pattern = &ngx_http_ddbm_pattern_start_conversation;
        return ctx->pattern->start(ctx);
    }

    group.data = (u_char *) ctx->post.message_group_uuid;
    group.len = ctx->post.message_group_uuid_len;
    message.data = (u_char *) ctx->post.message;
    message.len = ctx->post.message_len;

    rc = ngx_http_ddbm_idempotency_key(ctx);
    if (rc != NGX_OK && rc != NGX_DECLINED) {
        return rc;
    }

    w = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_write_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    ctx->data = w;
    w->g.group = group;
    w->message = message;

    /* an earlier answer for the Idempotency-Key: the transaction finds it */
    if (ngx_http_ddbm_lookup_caller(ctx, PM_CALLER) != NGX_OK
        || ngx_http_ddbm_lookup_group_meta(ctx, PM_META, &w->g, 0, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_pm_write(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_write_t *w)
{
    ngx_int_t  rc;

    rc = ngx_http_ddbm_check_member(ctx, &w->g);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_ddbm_reset_calls(ctx);

    if (ngx_http_ddbm_write_message(ctx, w, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->step = PM_STEP_WRITE;
    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_pm_resume(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t               rc;
    ngx_http_ddbm_write_t  *w;

    w = ctx->data;

    switch (ctx->step) {

    case PM_STEP_READ:
        rc = ngx_http_ddbm_check_caller(ctx, PM_CALLER);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_ddbm_read_group_meta(ctx, PM_META, &w->g);
        if (rc != NGX_OK) {
            return rc;
        }

        if (w->find_rows) {
            /* a row was not where the record said: where the index has it */
            w->find_rows = 0;

            rc = ngx_http_ddbm_locate_group_rows(ctx, PM_ROWS, &w->g);
            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_http_ddbm_pm_write(ctx, w);
        }

        /* members known, or known not to exist (cached) */
        if (w->g.nmembers || w->g.cached) {
            return ngx_http_ddbm_pm_write(ctx, w);
        }

        if (ngx_http_ddbm_lookup_group_rows(ctx, PM_ROWS, &w->g.group, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ctx->step = PM_STEP_ROWS;
        return NGX_AGAIN;

    case PM_STEP_ROWS:
        rc = ngx_http_ddbm_read_group_rows(ctx, PM_ROWS, &w->g);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_ddbm_pm_write(ctx, w);

    default: /* PM_STEP_WRITE */
        rc = ngx_http_ddbm_write_resume(ctx, w);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        ngx_http_ddbm_reset_calls(ctx);

        if (!w->reread) {
            /* the record holds: only a later time (or a pause) is due */
            if (ngx_http_ddbm_write_message(ctx, w, w->pause) != NGX_OK) {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        /* lost a race: read the conversation again after the pause */
        if (ngx_http_ddbm_lookup_group_meta(ctx, PM_META, &w->g, w->pause, 1)
            != NGX_OK
            || (w->find_rows
                && ngx_http_ddbm_lookup_group_rows(ctx, PM_ROWS, &w->g.group,
                                                   w->pause)
                   != NGX_OK))
        {
            return NGX_ERROR;
        }

        ctx->step = PM_STEP_READ;
        return NGX_AGAIN;
    }
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_post_message = {
    ngx_string("post_message"),
    NGX_HTTP_POST,
    1,                                     /* reads_body */
    1,                                     /* needs_identity */
    ngx_http_ddbm_pm_start,
    ngx_http_ddbm_pm_resume,
    NULL                                   /* route */
};
