/*
 * ngx_http_ddbm_module: directives, the content handler, the client's
 * body, CORS and the answers.  The access patterns live in their own files
 * (ngx_http_ddbm_pattern_*.c) behind ngx_http_ddbm_pattern_t.
 */

#include "ngx_http_ddbm.h"


static ngx_int_t ngx_http_ddbm_handler(ngx_http_request_t *r);
static void ngx_http_ddbm_body_handler(ngx_http_request_t *r);
static void ngx_http_ddbm_begin(ngx_http_ddbm_ctx_t *ctx);
static void ngx_http_ddbm_after(ngx_http_ddbm_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_ddbm_wake(ngx_http_request_t *r);
static ngx_int_t ngx_http_ddbm_preflight(ngx_http_request_t *r,
    ngx_http_ddbm_loc_conf_t *dlcf);
static ngx_int_t ngx_http_ddbm_read_body(ngx_http_ddbm_ctx_t *ctx);
static void ngx_http_ddbm_json_cleanup(void *data);

static void *ngx_http_ddbm_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ddbm_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ddbm_pattern(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_page_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_retries(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ddbm_init(ngx_conf_t *cf);


static ngx_http_ddbm_pattern_t  *ngx_http_ddbm_patterns[] = {
    &ngx_http_ddbm_pattern_health,
    &ngx_http_ddbm_pattern_list_conversations,
    &ngx_http_ddbm_pattern_list_messages,
    &ngx_http_ddbm_pattern_post_message,
    &ngx_http_ddbm_pattern_start_conversation,
    &ngx_http_ddbm_pattern_user_short,
    NULL
};


static ngx_command_t  ngx_http_ddbm_commands[] = {

    { ngx_string("ddbm_pattern"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_ddbm_pattern,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_table"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, table),
      NULL },

    { ngx_string("ddbm_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, region),
      NULL },

    { ngx_string("ddbm_endpoint_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, host),
      NULL },

    { ngx_string("ddbm_backend"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, backend),
      NULL },

    { ngx_string("ddbm_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ddbm_credentials,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_identity"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, identity),
      NULL },

    { ngx_string("ddbm_page_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_ddbm_page_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, body_max),
      NULL },

    { ngx_string("ddbm_retries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_ddbm_retries,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_write_retries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, write_retries),
      NULL },

    { ngx_string("ddbm_cors_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, cors_origins),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ddbm_module_ctx = {
    ngx_http_ddbm_init,                    /* preconfiguration */
    ngx_http_ddbm_answer_filter_init,      /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ddbm_create_loc_conf,         /* create location configuration */
    ngx_http_ddbm_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_ddbm_module = {
    NGX_MODULE_V1,
    &ngx_http_ddbm_module_ctx,             /* module context */
    ngx_http_ddbm_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ---- the request ------------------------------------------------------- */

static ngx_int_t
ngx_http_ddbm_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  allow;
    ngx_http_ddbm_ctx_t       *ctx;
    ngx_http_ddbm_pattern_t   *pattern;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_module);
    pattern = dlcf->pattern;

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_http_ddbm_preflight(r, dlcf);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ddbm_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = dlcf;
    ctx->pattern = pattern;

    ngx_http_set_ctx(r, ctx, ngx_http_ddbm_module);

    if (!(r->method & pattern->methods)) {
        r->main->count++;

        if (pattern->methods & NGX_HTTP_POST) {
            ngx_str_set(&allow, "POST, OPTIONS");
        } else {
            ngx_str_set(&allow, "GET, HEAD, OPTIONS");
        }

        if (ngx_http_ddbm_add_header(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_ddbm_respond_error(ctx, NGX_HTTP_NOT_ALLOWED,
                                    "method_not_allowed",
                                    "method not allowed here");
        return NGX_DONE;
    }

    if (pattern->needs_identity) {
        if (ngx_http_complex_value(r, dlcf->identity, &ctx->sub) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (!dm_uuid_valid((const char *) ctx->sub.data, ctx->sub.len)) {
            r->main->count++;

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ddbm: %s identity, answered 401",
                          ctx->sub.len ? "malformed" : "no");

            ngx_http_ddbm_respond(ctx, NGX_HTTP_UNAUTHORIZED,
                                  (u_char *) "{}", 2);
            return NGX_DONE;
        }
    }

    if (pattern->reads_body) {
        if (r->headers_in.content_length_n > (off_t) dlcf->body_max) {
            r->main->count++;
            ngx_http_ddbm_respond_error(ctx,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "body_too_large",
                                        "request body is too large");
            return NGX_DONE;
        }

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_ddbm_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;
    ngx_http_ddbm_begin(ctx);

    return NGX_DONE;
}


static void
ngx_http_ddbm_body_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    json_error_t          err;
    ngx_pool_cleanup_t   *cln;
    ngx_http_ddbm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ddbm_module);

    rc = ngx_http_ddbm_read_body(ctx);
    if (rc != NGX_OK) {
        return;
    }

    if (ctx->raw_body.len == 0) {
        ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                    "body_required",
                                    "a JSON object is required");
        return;
    }

    ctx->json = json_loadb((const char *) ctx->raw_body.data,
                           ctx->raw_body.len, JSON_REJECT_DUPLICATES, &err);
    if (ctx->json == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ddbm: malformed JSON body at byte %d, answered 400",
                      err.position);
        ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                    "malformed_json",
                                    "the body is not valid JSON");
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(ctx->json);
        ngx_http_ddbm_respond_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error", "out of memory");
        return;
    }

    cln->handler = ngx_http_ddbm_json_cleanup;
    cln->data = ctx->json;

    if (!json_is_object(ctx->json)) {
        ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                    "body_not_object",
                                    "the body must be a JSON object");
        return;
    }

    ngx_http_ddbm_begin(ctx);
}


static void
ngx_http_ddbm_json_cleanup(void *data)
{
    json_decref(data);
}


/* the body in one piece, from memory buffers or the temp file */
static ngx_int_t
ngx_http_ddbm_read_body(ngx_http_ddbm_ctx_t *ctx)
{
    u_char              *p;
    size_t               len;
    ssize_t              n;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ctx->raw_body.len = 0;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    if (len > ctx->conf->body_max) {
        ngx_http_ddbm_respond_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "body_too_large",
                                    "request body is too large");
        return NGX_DONE;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        ngx_http_ddbm_respond_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error", "out of memory");
        return NGX_DONE;
    }

    ctx->raw_body.data = p;
    ctx->raw_body.len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ddbm: cannot read the request body from \"%V\"",
                          &b->file->name);
            ngx_http_ddbm_respond_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "internal_error",
                                        "cannot read the request body");
            return NGX_DONE;
        }

        p += n;
    }

    *p = '\0';

    return NGX_OK;
}


static void
ngx_http_ddbm_begin(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_http_request_t        *r;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    r = ctx->request;
    dlcf = ctx->conf;

    r->write_event_handler = ngx_http_ddbm_wake;

    if (ctx->pattern->takes_arg) {
        if (dlcf->pattern_arg) {
            if (ngx_http_complex_value(r, dlcf->pattern_arg, &ctx->arg)
                != NGX_OK)
            {
                ngx_http_ddbm_after(ctx, NGX_ERROR);
                return;
            }

        } else {
            /* the last segment of the URI */
            ctx->arg.data = r->uri.data + r->uri.len;
            while (ctx->arg.data > r->uri.data && ctx->arg.data[-1] != '/') {
                ctx->arg.data--;
            }
            ctx->arg.len = r->uri.data + r->uri.len - ctx->arg.data;
        }
    }

    ngx_http_ddbm_after(ctx, ctx->pattern->start(ctx));
}


static void
ngx_http_ddbm_after(ngx_http_ddbm_ctx_t *ctx, ngx_int_t rc)
{
    if (ctx->finalized) {
        return;
    }

    if (rc == NGX_DONE && ctx->pending) {
        ctx->waiting = 1;
        return;
    }

    ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log, 0,
                  "ddbm: pattern \"%V\" stopped without an answer (rc %i)",
                  &ctx->pattern->name, rc);

    ngx_http_ddbm_respond_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal_error", "internal error");
}


/* the parent runs again: after each subrequest and each retry */
static void
ngx_http_ddbm_wake(ngx_http_request_t *r)
{
    ngx_uint_t             i, again;
    ngx_http_ddbm_ctx_t   *ctx;
    ngx_http_ddbm_call_t  *call;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ddbm_module);

    if (ctx == NULL || ctx->finalized || !ctx->waiting || ctx->pending) {
        return;
    }

    /* the upstream left "sending to client" behind: not what we do now */
    r->connection->log->action = NULL;

    again = 0;

    for (i = 0; i < ctx->ncalls; i++) {
        call = ctx->calls[i];

        if (!call->done || call->classified) {
            continue;
        }

        if (ngx_http_ddbm_classify(call) == NGX_AGAIN) {
            again = 1;
            continue;
        }

        call->classified = 1;
    }

    if (again) {
        return;
    }

    ctx->waiting = 0;

    ngx_http_ddbm_after(ctx, ctx->pattern->resume(ctx));
}


/* ---- answers ----------------------------------------------------------- */

ngx_int_t
ngx_http_ddbm_respond(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t status,
    const u_char *body, size_t len)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->finalized) {
        return NGX_OK;
    }

    ctx->finalized = 1;

    if (r->request_body == NULL) {
        /* answered before reading it */
        (void) ngx_http_discard_request_body(r);
    }

    (void) ngx_http_ddbm_send_json(r, status, body, len);

    return NGX_OK;
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
ngx_http_ddbm_respond_call_failure(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_call_t *call)
{
    ngx_str_t  one;

    if (call->http_status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        ngx_str_set(&one, "1");
        if (ngx_http_ddbm_add_header(ctx->request, "Retry-After", &one)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_ddbm_respond_error(ctx, call->http_status,
                                       call->failure,
                                       ngx_strcmp(call->failure,
                                           "dynamodb_answer_unreadable") == 0
                                       ? "the database answer was unreadable"
                                       : "the database call failed");
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

    ngx_str_set(&v, "Origin");
    if (ngx_http_ddbm_add_header(r, "Vary", &v) != NGX_OK) {
        return NGX_ERROR;
    }

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


static ngx_int_t
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


/* ---- configuration ----------------------------------------------------- */

static void *
ngx_http_ddbm_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ddbm_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->table = { 0, NULL };
     *     conf->region = { 0, NULL };
     *     conf->host = { 0, NULL };
     *     conf->backend = { 0, NULL };
     *     conf->pattern = NULL;
     *     conf->pattern_arg = NULL;
     */

    conf->credentials = NGX_CONF_UNSET_PTR;
    conf->identity = NGX_CONF_UNSET_PTR;
    conf->page_default = NGX_CONF_UNSET_UINT;
    conf->page_max = NGX_CONF_UNSET_UINT;
    conf->body_max = NGX_CONF_UNSET_SIZE;
    conf->retries = NGX_CONF_UNSET_UINT;
    conf->retry_base = NGX_CONF_UNSET_MSEC;
    conf->write_retries = NGX_CONF_UNSET_UINT;
    conf->cors_origins = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_ddbm_credentials_from_env(ngx_conf_t *cf,
    ngx_http_ddbm_credentials_t *c)
{
    char  *akid, *secret, *token;

    akid = getenv("AWS_ACCESS_KEY_ID");
    secret = getenv("AWS_SECRET_ACCESS_KEY");
    token = getenv("AWS_SESSION_TOKEN");

    if (akid == NULL || *akid == '\0' || secret == NULL || *secret == '\0') {
        return "env: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set "
               "in the environment nginx was started with";
    }

    /* the master's environment can change: keep our own copies */
    c->creds.access_key_id = ngx_http_ddbm_cstr(cf->pool,
                                  &(ngx_str_t) { ngx_strlen(akid),
                                                 (u_char *) akid });
    c->creds.secret_access_key = ngx_http_ddbm_cstr(cf->pool,
                                  &(ngx_str_t) { ngx_strlen(secret),
                                                 (u_char *) secret });
    c->creds.session_token = token ? ngx_http_ddbm_cstr(cf->pool,
                                  &(ngx_str_t) { ngx_strlen(token),
                                                 (u_char *) token })
                                   : NULL;

    if (c->creds.access_key_id == NULL || c->creds.secret_access_key == NULL
        || (token && c->creds.session_token == NULL))
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the AWS shared credentials file: [profile] key = value lines */
static char *
ngx_http_ddbm_credentials_from_file(ngx_conf_t *cf,
    ngx_http_ddbm_credentials_t *c, ngx_str_t *path, ngx_str_t *profile)
{
    FILE        *f;
    char         line[2048], *p, *e, *k, *v;
    ngx_str_t    s;
    ngx_uint_t   in_profile, found;

    f = fopen((const char *) path->data, "r");
    if (f == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "ddbm_credentials: cannot open \"%V\"", path);
        return NGX_CONF_ERROR;
    }

    in_profile = 0;
    found = 0;

    while (fgets(line, sizeof(line), f)) {

        for (p = line; *p == ' ' || *p == '\t'; p++) { /* void */ }
        for (e = p + ngx_strlen(p);
             e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '
                       || e[-1] == '\t');
             e--)
        { /* void */ }
        *e = '\0';

        if (*p == '#' || *p == ';' || *p == '\0') {
            continue;
        }

        if (*p == '[') {
            in_profile = (e - p == (ssize_t) profile->len + 2
                          && e[-1] == ']'
                          && ngx_strncmp(p + 1, profile->data, profile->len)
                             == 0);
            found |= in_profile;
            continue;
        }

        if (!in_profile || (v = strchr(p, '=')) == NULL) {
            continue;
        }

        for (k = v; k > p && (k[-1] == ' ' || k[-1] == '\t'); k--) {
            /* void */
        }
        *k = '\0';
        for (v++; *v == ' ' || *v == '\t'; v++) { /* void */ }

        s.data = (u_char *) v;
        s.len = ngx_strlen(v);

        if (ngx_strcmp(p, "aws_access_key_id") == 0) {
            c->creds.access_key_id = ngx_http_ddbm_cstr(cf->pool, &s);

        } else if (ngx_strcmp(p, "aws_secret_access_key") == 0) {
            c->creds.secret_access_key = ngx_http_ddbm_cstr(cf->pool, &s);

        } else if (ngx_strcmp(p, "aws_session_token") == 0) {
            c->creds.session_token = ngx_http_ddbm_cstr(cf->pool, &s);
        }
    }

    fclose(f);
    ngx_explicit_memzero(line, sizeof(line));

    if (!found || c->creds.access_key_id == NULL
        || c->creds.secret_access_key == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_credentials: no aws_access_key_id and "
                           "aws_secret_access_key for profile \"%V\" in "
                           "\"%V\"", profile, path);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_credentials(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    char                         *rv;
    ngx_str_t                    *value, profile;
    ngx_http_ddbm_credentials_t  *c;

    if (dlcf->credentials != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    c = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_credentials_t));
    if (c == NULL) {
        return NGX_CONF_ERROR;
    }

    c->source = value[1];

    if (ngx_strcmp(value[1].data, "env") == 0 && cf->args->nelts == 2) {
        rv = ngx_http_ddbm_credentials_from_env(cf, c);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

    } else if (ngx_strcmp(value[1].data, "static") == 0
               && (cf->args->nelts == 4 || cf->args->nelts == 5))
    {
        c->creds.access_key_id = (char *) value[2].data;
        c->creds.secret_access_key = (char *) value[3].data;
        c->creds.session_token = cf->args->nelts == 5
                                 ? (char *) value[4].data : NULL;

    } else if (ngx_strcmp(value[1].data, "file") == 0
               && (cf->args->nelts == 3 || cf->args->nelts == 4))
    {
        if (cf->args->nelts == 4) {
            profile = value[3];
        } else {
            ngx_str_set(&profile, "default");
        }

        rv = ngx_http_ddbm_credentials_from_file(cf, c, &value[2], &profile);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

    } else {
        return "takes \"env\", \"static <key id> <secret> [<token>]\" or "
               "\"file <path> [<profile>]\"";
    }

    dlcf->credentials = c;

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_pattern(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_compile_complex_value_t   ccv;

    if (dlcf->pattern) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; ngx_http_ddbm_patterns[i]; i++) {
        if (ngx_http_ddbm_patterns[i]->name.len == value[1].len
            && ngx_strncmp(ngx_http_ddbm_patterns[i]->name.data,
                           value[1].data, value[1].len) == 0)
        {
            break;
        }
    }

    if (ngx_http_ddbm_patterns[i] == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_pattern: unknown pattern \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    dlcf->pattern = ngx_http_ddbm_patterns[i];

    if (cf->args->nelts == 3) {
        if (!dlcf->pattern->takes_arg) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ddbm_pattern: \"%V\" takes no argument",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        dlcf->pattern_arg = ngx_palloc(cf->pool,
                                       sizeof(ngx_http_complex_value_t));
        if (dlcf->pattern_arg == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &value[2];
        ccv.complex_value = dlcf->pattern_arg;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ddbm_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_page_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    ngx_int_t   def, max;
    ngx_str_t  *value;

    if (dlcf->page_default != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    def = ngx_atoi(value[1].data, value[1].len);
    max = ngx_atoi(value[2].data, value[2].len);

    /* DynamoDB's Query answers are at most 1 MB: keep pages modest */
    if (def < 1 || max < def || max > 1000) {
        return "takes a default and a maximum page size, "
               "1 <= default <= maximum <= 1000";
    }

    dlcf->page_default = def;
    dlcf->page_max = max;

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_retries(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (dlcf->retries != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n > 10) {
        return "takes a number of retries from 0 to 10";
    }

    dlcf->retries = n;

    if (cf->args->nelts == 3) {
        dlcf->retry_base = ngx_parse_time(&value[2], 0);
        if (dlcf->retry_base == (ngx_msec_t) NGX_ERROR
            || dlcf->retry_base == 0)
        {
            return "has an invalid backoff time";
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ddbm_loc_conf_t *prev = parent;
    ngx_http_ddbm_loc_conf_t *conf = child;

    char                         *rv;
    u_char                       *p;
    ngx_http_ddbm_credentials_t  *c;

    ngx_conf_merge_str_value(conf->table, prev->table, "cruddur-messages");
    ngx_conf_merge_str_value(conf->region, prev->region, "us-east-1");
    ngx_conf_merge_str_value(conf->host, prev->host, "");
    ngx_conf_merge_str_value(conf->backend, prev->backend, "/_ddbm");
    ngx_conf_merge_ptr_value(conf->credentials, prev->credentials, NULL);
    ngx_conf_merge_ptr_value(conf->identity, prev->identity, NULL);
    ngx_conf_merge_uint_value(conf->page_default, prev->page_default, 20);
    ngx_conf_merge_uint_value(conf->page_max, prev->page_max, 100);
    ngx_conf_merge_size_value(conf->body_max, prev->body_max, 16384);
    ngx_conf_merge_uint_value(conf->retries, prev->retries, 3);
    ngx_conf_merge_msec_value(conf->retry_base, prev->retry_base, 25);
    ngx_conf_merge_uint_value(conf->write_retries, prev->write_retries, 16);
    ngx_conf_merge_ptr_value(conf->cors_origins, prev->cors_origins, NULL);

    if (conf->host.len == 0) {
        /* the regional endpoint's name, NUL-terminated for the signer */
        p = ngx_pnalloc(cf->pool, sizeof("dynamodb..amazonaws.com")
                                  + conf->region.len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        conf->host.data = p;
        conf->host.len = ngx_sprintf(p, "dynamodb.%V.amazonaws.com%Z",
                                     &conf->region) - p - 1;
    }

    if (conf->pattern == NULL) {
        return NGX_CONF_OK;
    }

    if (conf->credentials == NULL) {
        /* the standard chain's first link, checked now, not per request */
        c = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_credentials_t));
        if (c == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&c->source, "env");

        rv = ngx_http_ddbm_credentials_from_env(cf, c);
        if (rv != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ddbm_pattern \"%V\" has no credentials: "
                               "set ddbm_credentials (%s)",
                               &conf->pattern->name, rv);
            return NGX_CONF_ERROR;
        }

        conf->credentials = c;
    }

    if (conf->pattern->needs_identity && conf->identity == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_pattern \"%V\" needs ddbm_identity: the "
                           "variable that holds the caller's Cognito sub",
                           &conf->pattern->name);
        return NGX_CONF_ERROR;
    }

    if (conf->backend.len == 0 || conf->backend.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_backend \"%V\" must be a location URI "
                           "starting with \"/\"", &conf->backend);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ddbm_init(ngx_conf_t *cf)
{
    return ngx_http_ddbm_variables_add(cf);
}
