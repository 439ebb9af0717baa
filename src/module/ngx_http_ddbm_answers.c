/*
 * Answers to the client: JSON bodies, error codes, CORS headers and the
 * preflight.  Each answer finalizes the request and returns NGX_DONE: the
 * request may be freed by then, so callers return at once (the lifetime
 * rule in ngx_http_ddbm.h).
 */

#include "ngx_http_ddbm.h"


static ngx_http_output_header_filter_pt  ngx_http_ddbm_next_header_filter;


/* ---- answers ----------------------------------------------------------- */

ngx_int_t
ngx_http_ddbm_respond(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t status,
    const u_char *body, size_t len)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->answered) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ddbm: pattern \"%V\" answered twice",
                      &ctx->pattern->name);
        return NGX_DONE;
    }

    ctx->answered = 1;

    ngx_http_ddbm_stop_timers(ctx);

    if (ctx->body_too_large) {
        /* the rest of the body is still on its way: no keepalive */
        r->keepalive = 0;
        r->lingering_close = 1;

    } else if (r->request_body == NULL) {
        /* answered before reading it */
        (void) ngx_http_discard_request_body(r);
    }

    return ngx_http_ddbm_send_json(r, status, body, len);
}


ngx_int_t
ngx_http_ddbm_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const u_char *body, size_t len)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_module);

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_ddbm_cors(r, dlcf, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only || len == 0) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    b->pos = (u_char *) body;
    b->last = (u_char *) body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


ngx_int_t
ngx_http_ddbm_respond_error(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *message)
{
    dm_buf_t  b;

    ctx->error = code;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    dm_buf_append_str(&b, "{\"error\":");
    dm_buf_json_string(&b, (const u_char *) code, ngx_strlen(code));
    dm_buf_append_str(&b, ",\"message\":");
    dm_buf_json_string(&b, (const u_char *) message, ngx_strlen(message));
    dm_buf_append_str(&b, "}");

    if (b.failed) {
        return ngx_http_ddbm_respond(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     (u_char *) "{}", 2);
    }

    return ngx_http_ddbm_respond(ctx, status, b.data, b.len);
}


ngx_int_t
ngx_http_ddbm_respond_codes(ngx_http_ddbm_ctx_t *ctx, const char **codes,
    ngx_uint_t n)
{
    ngx_uint_t  i;
    dm_buf_t    b;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    dm_buf_append_str(&b, "[");

    for (i = 0; i < n; i++) {
        if (i) {
            dm_buf_append_str(&b, ",");
        }
        dm_buf_json_string(&b, (const u_char *) codes[i],
                           ngx_strlen(codes[i]));
    }

    dm_buf_append_str(&b, "]");

    if (b.failed) {
        return ngx_http_ddbm_respond(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     (u_char *) "{}", 2);
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "ddbm: answered 422 %*s", b.len, b.data);

    return ngx_http_ddbm_respond(ctx, NGX_HTTP_DDBM_UNPROCESSABLE, b.data,
                                 b.len);
}


ngx_int_t
ngx_http_ddbm_respond_unreadable(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_call_t *call, const char *why)
{
    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "ddbm: unreadable DynamoDB %s answer: %s",
                  call->operation, why);

    return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_GATEWAY,
                                       "dynamodb_answer_unreadable",
                                       "the database answer was unreadable");
}


ngx_int_t
ngx_http_ddbm_respond_unavailable(ngx_http_ddbm_ctx_t *ctx, const char *code,
    const char *message)
{
    ngx_str_t  one;

    ngx_str_set(&one, "1");
    if (ngx_http_ddbm_add_header(ctx->request, "Retry-After", &one)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       code, message);
}


ngx_int_t
ngx_http_ddbm_respond_call_failure(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_call_t *call)
{
    const char  *code, *message;

    if (call->result == NGX_HTTP_DDBM_CALL_CANCELED || call->failure == NULL) {
        /* a cancellation the pattern did not read: still an answer */
        code = "dynamodb_error";
        call->http_status = NGX_HTTP_BAD_GATEWAY;

    } else {
        code = call->failure;
    }

    if (ngx_strcmp(code, "dynamodb_answer_unreadable") == 0) {
        message = "the database answer was unreadable";

    } else if (ngx_strcmp(code, "credentials_unavailable") == 0) {
        message = "no valid database credentials yet: try again shortly";

    } else {
        message = "the database call failed";
    }

    if (call->http_status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        return ngx_http_ddbm_respond_unavailable(ctx, code, message);
    }

    return ngx_http_ddbm_respond_error(ctx, call->http_status, code,
                                       message);
}


ngx_int_t
ngx_http_ddbm_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/* ---- CORS -------------------------------------------------------------- */

ngx_table_elt_t *
ngx_http_ddbm_find_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


ngx_int_t
ngx_http_ddbm_cors(ngx_http_request_t *r, ngx_http_ddbm_loc_conf_t *dlcf,
    ngx_uint_t preflight)
{
    ngx_str_t        *o, v;
    ngx_uint_t        i;
    ngx_table_elt_t  *origin;

    if (dlcf->cors_origins == NULL
        || dlcf->cors_origins == NGX_CONF_UNSET_PTR)
    {
        return NGX_OK;
    }

    origin = ngx_http_ddbm_find_header(r, "Origin", 6);
    if (origin == NULL) {
        return NGX_OK;
    }

    o = dlcf->cors_origins->elts;

    for (i = 0; i < dlcf->cors_origins->nelts; i++) {
        if ((o[i].len == 1 && o[i].data[0] == '*')
            || (o[i].len == origin->value.len
                && ngx_strncasecmp(o[i].data, origin->value.data, o[i].len)
                   == 0))
        {
            break;
        }
    }

    if (i == dlcf->cors_origins->nelts) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ddbm: origin \"%V\" not allowed", &origin->value);
        return NGX_OK;
    }

    if (ngx_http_ddbm_add_header(r, "Access-Control-Allow-Origin",
                                 &origin->value) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* Vary: Origin is the header filter's, on every answer */

    if (!preflight) {
        ngx_str_set(&v, "Authorization, WWW-Authenticate, X-Next-Cursor");
        return ngx_http_ddbm_add_header(r, "Access-Control-Expose-Headers",
                                        &v);
    }

    ngx_str_set(&v, "Content-Type, Authorization, Idempotency-Key");
    if (ngx_http_ddbm_add_header(r, "Access-Control-Allow-Headers", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "OPTIONS, GET, HEAD, POST");
    if (ngx_http_ddbm_add_header(r, "Access-Control-Allow-Methods", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "600");
    return ngx_http_ddbm_add_header(r, "Access-Control-Max-Age", &v);
}


/*
 * Where CORS is configured, an answer depends on the request's Origin
 * whether or not one was sent or allowed: every answer of the location,
 * the module's, the token check's and NGINX's own (429 of limit_req, 413,
 * ...), says "Vary: Origin", so that a cache never gives one origin's
 * answer to another.
 */
static ngx_int_t
ngx_http_ddbm_vary_filter(ngx_http_request_t *r)
{
    ngx_str_t                  v;
    ngx_uint_t                 i;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    if (r != r->main) {
        return ngx_http_ddbm_next_header_filter(r);
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_module);

    if (dlcf == NULL
        || dlcf->cors_origins == NULL
        || dlcf->cors_origins == NGX_CONF_UNSET_PTR)
    {
        return ngx_http_ddbm_next_header_filter(r);
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == 4
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Vary", 4) == 0
            && h[i].value.len == 6
            && ngx_strncasecmp(h[i].value.data, (u_char *) "Origin", 6) == 0)
        {
            return ngx_http_ddbm_next_header_filter(r);
        }
    }

    ngx_str_set(&v, "Origin");
    if (ngx_http_ddbm_add_header(r, "Vary", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_next_header_filter(r);
}


ngx_int_t
ngx_http_ddbm_vary_filter_init(ngx_conf_t *cf)
{
    ngx_http_ddbm_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ddbm_vary_filter;

    return NGX_OK;
}


ngx_uint_t
ngx_http_ddbm_is_preflight(ngx_http_request_t *r)
{
    return r->method == NGX_HTTP_OPTIONS
           && ngx_http_ddbm_find_header(r, "Origin", 6) != NULL
           && ngx_http_ddbm_find_header(r, "Access-Control-Request-Method",
                                        29)
              != NULL;
}


ngx_int_t
ngx_http_ddbm_preflight(ngx_http_request_t *r,
    ngx_http_ddbm_loc_conf_t *dlcf)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ddbm_cors(r, dlcf, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/* ---- request helpers for the patterns ---------------------------------- */

ngx_int_t
ngx_http_ddbm_query_arg(ngx_http_ddbm_ctx_t *ctx, const char *name,
    size_t len, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(ctx->request, (u_char *) name, len, &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(ctx->request->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);
    value->len = dst - value->data;
    *dst = '\0';

    return NGX_OK;
}


char *
ngx_http_ddbm_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}
