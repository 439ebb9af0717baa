/*
 * What a DynamoDB call needs around it (the call itself is in
 * ngx_http_ddbm_request.c): the core's memory from the request pool, the
 * $ddbm_* variables through which the internal location named by
 * ddbm_backend sends our headers, and the filter that keeps an oversized
 * answer from failing the client's connection.
 */

#include "ngx_http_ddbm.h"


static ngx_int_t ngx_http_ddbm_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_ddbm_request_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


enum {
    NGX_HTTP_DDBM_VAR_TARGET = 0,
    NGX_HTTP_DDBM_VAR_DATE,
    NGX_HTTP_DDBM_VAR_AUTHORIZATION,
    NGX_HTTP_DDBM_VAR_SECURITY_TOKEN,
    NGX_HTTP_DDBM_VAR_HOST
};


enum {
    NGX_HTTP_DDBM_VAR_CALLS = 0,
    NGX_HTTP_DDBM_VAR_CACHE,
    NGX_HTTP_DDBM_VAR_DDB_TIME,
    NGX_HTTP_DDBM_VAR_RETRIES,
    NGX_HTTP_DDBM_VAR_ERROR,
    NGX_HTTP_DDBM_VAR_REQUEST_IDS
};


static ngx_http_variable_t  ngx_http_ddbm_vars[] = {

    { ngx_string("ddbm_target"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_TARGET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_date"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_DATE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_authorization"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_AUTHORIZATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_security_token"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_SECURITY_TOKEN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_host"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_HOST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_calls"), NULL, ngx_http_ddbm_request_variable,
      NGX_HTTP_DDBM_VAR_CALLS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_cache"), NULL, ngx_http_ddbm_request_variable,
      NGX_HTTP_DDBM_VAR_CACHE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_ddb_time"), NULL, ngx_http_ddbm_request_variable,
      NGX_HTTP_DDBM_VAR_DDB_TIME, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_retries"), NULL, ngx_http_ddbm_request_variable,
      NGX_HTTP_DDBM_VAR_RETRIES, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_error"), NULL, ngx_http_ddbm_request_variable,
      NGX_HTTP_DDBM_VAR_ERROR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_request_ids"), NULL, ngx_http_ddbm_request_variable,
      NGX_HTTP_DDBM_VAR_REQUEST_IDS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* ---- memory from the request pool -------------------------------------- */

static void *
ngx_http_ddbm_pool_grow(void *pool, void *old, size_t used, size_t cap)
{
    void  *p;

    if (cap == 0) {
        if (old) {
            ngx_pfree(pool, old);
        }
        return NULL;
    }

    p = ngx_palloc(pool, cap);
    if (p == NULL) {
        return NULL;
    }

    if (old && used) {
        ngx_memcpy(p, old, used);
    }

    if (old) {
        /* frees only large blocks, which is what a grown buffer is */
        ngx_pfree(pool, old);
    }

    return p;
}


void
ngx_http_ddbm_buf_init(dm_buf_t *b, ngx_pool_t *pool)
{
    dm_buf_init(b, ngx_http_ddbm_pool_grow, pool);
}


/* yajl asks realloc without the old size: keep it in front of the block */

static void *
ngx_http_ddbm_yajl_malloc(void *pool, size_t size)
{
    size_t  *p;

    p = ngx_palloc(pool, size + sizeof(size_t));
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_http_ddbm_yajl_realloc(void *pool, void *old, size_t size)
{
    size_t  *p, *o;

    p = ngx_http_ddbm_yajl_malloc(pool, size);
    if (p == NULL || old == NULL) {
        return p;
    }

    o = (size_t *) old - 1;
    ngx_memcpy(p, old, ngx_min(*o, size));
    ngx_pfree(pool, o);

    return p;
}


static void
ngx_http_ddbm_yajl_free(void *pool, void *p)
{
    if (p) {
        ngx_pfree(pool, (size_t *) p - 1);
    }
}


void
ngx_http_ddbm_allocator(dm_allocator_t *a, ngx_pool_t *pool)
{
    a->malloc = ngx_http_ddbm_yajl_malloc;
    a->realloc = ngx_http_ddbm_yajl_realloc;
    a->free = ngx_http_ddbm_yajl_free;
    a->ctx = pool;
}


/* ---- the answer filter ------------------------------------------------- */

static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


/*
 * An answer larger than subrequest_output_buffer_size makes NGINX's
 * in-memory collector fail with NGX_ERROR, and that marks the client's
 * connection failed: the client would get no answer at all.  Ahead of it,
 * an oversized answer is dropped here and the call flagged, so the client
 * gets a 502 that says so.
 */
static ngx_int_t
ngx_http_ddbm_answer_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t                      size, limit;
    ngx_chain_t               *cl;
    ngx_http_ddbm_call_t      *call;
    ngx_http_core_loc_conf_t  *clcf;

    call = ngx_http_ddbm_subrequest_call(r);

    if (call == NULL || !r->subrequest_in_memory) {
        return ngx_http_next_body_filter(r, in);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    limit = clcf->subrequest_output_buffer_size;

    size = 0;
    for (cl = in; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (!call->too_large
        && (r->headers_out.content_length_n > limit
            || call->received + size > limit))
    {
        call->too_large = 1;
    }

    call->received += size;

    if (!call->too_large) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_answer_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ddbm_answer_filter;

    return NGX_OK;
}


/* ---- variables for the internal location ------------------------------ */

static ngx_int_t
ngx_http_ddbm_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_http_ddbm_call_t  *call;

    call = ngx_http_ddbm_subrequest_call(r);
    if (call == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_HTTP_DDBM_VAR_TARGET:
        v->data = call->target.data;
        v->len = call->target.len;
        break;

    case NGX_HTTP_DDBM_VAR_DATE:
        v->data = (u_char *) call->amz_date;
        v->len = DM_SIGV4_AMZ_DATE_LEN;
        break;

    case NGX_HTTP_DDBM_VAR_AUTHORIZATION:
        v->data = (u_char *) call->authorization;
        v->len = ngx_strlen(call->authorization);
        break;

    case NGX_HTTP_DDBM_VAR_SECURITY_TOKEN:
        v->data = call->session_token.len ? call->session_token.data
                                          : (u_char *) "";
        v->len = call->session_token.len;
        break;

    default: /* NGX_HTTP_DDBM_VAR_HOST */
        v->data = call->ctx->conf->host.data;
        v->len = call->ctx->conf->host.len;
        break;
    }

    return NGX_OK;
}


/* what the client's request cost and how it ended, for the access log */
static ngx_int_t
ngx_http_ddbm_request_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    ngx_uint_t            n;
    ngx_http_ddbm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ddbm_module);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_HTTP_DDBM_VAR_CALLS:
    case NGX_HTTP_DDBM_VAR_DDB_TIME:
    case NGX_HTTP_DDBM_VAR_RETRIES:
        n = (data == NGX_HTTP_DDBM_VAR_CALLS) ? ctx->attempts
            : (data == NGX_HTTP_DDBM_VAR_RETRIES) ? ctx->retries
            : ctx->ddb_time;

        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%ui", n) - p;
        return NGX_OK;

    case NGX_HTTP_DDBM_VAR_ERROR:
        if (ctx->error == NULL) {
            ngx_str_set(v, "-");
        } else {
            v->data = (u_char *) ctx->error;
            v->len = ngx_strlen(ctx->error);
        }
        return NGX_OK;

    case NGX_HTTP_DDBM_VAR_REQUEST_IDS:
        if (ctx->request_ids.len == 0) {
            ngx_str_set(v, "-");
        } else {
            v->data = ctx->request_ids.data;
            v->len = ctx->request_ids.len;
        }
        return NGX_OK;
    }

    if (ctx->cache_hits && ctx->cache_misses) {
        ngx_str_set(v, "PARTIAL");
    } else if (ctx->cache_hits) {
        ngx_str_set(v, "HIT");
    } else if (ctx->cache_misses) {
        ngx_str_set(v, "MISS");
    } else {
        ngx_str_set(v, "-");
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_variables_add(ngx_conf_t *cf)
{
    return ngx_http_ddbm_add_variables(cf, ngx_http_ddbm_vars);
}


ngx_int_t
ngx_http_ddbm_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
