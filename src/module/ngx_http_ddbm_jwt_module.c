/*
 * ngx_http_ddbm_jwt_module: verifies the caller's Cognito access token
 * (Authorization: Bearer, RS256 against a JWKS file read at configuration
 * time) in the access phase, and exposes its claims as variables:
 * $ddbm_jwt_sub, $ddbm_jwt_username, $ddbm_jwt_client_id.
 *
 * A second module in ngx_http_ddbm_module.so: the messaging module takes
 * the caller's identity from a variable (ddbm_identity $ddbm_jwt_sub), so
 * this one can also guard other locations, feed auth_request_set or logs.
 *
 * Verified tokens are kept in a bounded per-worker cache keyed by SHA-256
 * of the token (and of what it was verified against), never past "exp":
 * an RSA verification costs tens of microseconds, a lookup far less.
 */

/* ngx_config.h (through ngx_http_ddbm.h) must come first: _GNU_SOURCE */
#include "ngx_http_ddbm.h"

#include <openssl/evp.h>

#include "dm_jwt.h"


#define NGX_HTTP_DDBM_JWT_NO_TOKEN   -1     /* ctx->rc: no Bearer token */
#define NGX_HTTP_DDBM_JWT_NO_KEYS    -2     /* no ddbm_jwt_jwks here */
#define NGX_HTTP_DDBM_JWT_LEEWAY_MAX 3600


typedef struct {
    ngx_uint_t                   cache_size;
} ngx_http_ddbm_jwt_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_str_t                    jwks_file;
    dm_jwks_t                   *keys;
    u_char                      *keys_digest;   /* SHA-256 of the file */
    ngx_str_t                    issuer;
    ngx_array_t                 *client_ids;    /* const char * */
    time_t                       leeway;
    /* SHA-256 of everything a verification depends on: cache entries */
    u_char                       fingerprint[32];
} ngx_http_ddbm_jwt_loc_conf_t;


typedef struct {
    /* the location whose policy gave the verdict: no other may reuse it */
    ngx_http_ddbm_jwt_loc_conf_t *conf;
    ngx_int_t                    rc;            /* dm_jwt_rc_e or above */
    const char                  *detail;        /* for the log */
    ngx_str_t                    sub;
    ngx_str_t                    username;
    ngx_str_t                    client_id;
    unsigned                     cached:1;
} ngx_http_ddbm_jwt_ctx_t;


/* the per-worker cache: an rbtree by digest, least recently used last */
typedef struct {
    ngx_rbtree_node_t            node;          /* key: digest's head */
    ngx_queue_t                  queue;
    u_char                       digest[32];
    time_t                       exp;
    u_char                       sub_len;
    u_char                       username_len;
    u_char                       client_id_len;
    u_char                       data[1];       /* the three, in turn */
} ngx_http_ddbm_jwt_entry_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  lru;
    ngx_uint_t                   n;
    unsigned                     ready:1;
} ngx_http_ddbm_jwt_cache_t;


static ngx_int_t ngx_http_ddbm_jwt_access_handler(ngx_http_request_t *r);
static ngx_http_ddbm_jwt_ctx_t *ngx_http_ddbm_jwt_verify_request(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_ddbm_jwt_refuse(ngx_http_request_t *r,
    ngx_http_ddbm_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_ddbm_jwt_digest(u_char *fingerprint,
    ngx_str_t *token, u_char *digest);
static ngx_int_t ngx_http_ddbm_jwt_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_http_ddbm_jwt_entry_t *ngx_http_ddbm_jwt_cache_find(
    u_char *digest, time_t now);
static void ngx_http_ddbm_jwt_cache_insert(ngx_uint_t max, u_char *digest,
    dm_jwt_claims_t *claims);
static void ngx_http_ddbm_jwt_cache_delete(ngx_http_ddbm_jwt_entry_t *e);
static void ngx_http_ddbm_jwt_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);

static ngx_int_t ngx_http_ddbm_jwt_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ddbm_jwt_init(ngx_conf_t *cf);
static void *ngx_http_ddbm_jwt_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ddbm_jwt_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ddbm_jwt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ddbm_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ddbm_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_jwt_client_id(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_ddbm_jwt_keys_cleanup(void *data);
static void ngx_http_ddbm_jwt_exit_process(ngx_cycle_t *cycle);


static ngx_http_ddbm_jwt_cache_t  ngx_http_ddbm_jwt_cache;

/* SHA-256 as OpenSSL 3 fetched it, once per worker */
static EVP_MD                    *ngx_http_ddbm_jwt_sha256;
static EVP_MD_CTX                *ngx_http_ddbm_jwt_md;


static ngx_conf_num_bounds_t  ngx_http_ddbm_jwt_cache_bounds = {
    ngx_conf_check_num_bounds, 0, 10000000
};


static ngx_command_t  ngx_http_ddbm_jwt_commands[] = {

    { ngx_string("ddbm_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_jwt_loc_conf_t, enable),
      NULL },

    { ngx_string("ddbm_jwt_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_jwt_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_jwt_loc_conf_t, issuer),
      NULL },

    { ngx_string("ddbm_jwt_client_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ddbm_jwt_client_id,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_jwt_loc_conf_t, leeway),
      NULL },

    { ngx_string("ddbm_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ddbm_jwt_main_conf_t, cache_size),
      &ngx_http_ddbm_jwt_cache_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ddbm_jwt_module_ctx = {
    ngx_http_ddbm_jwt_add_variables,       /* preconfiguration */
    ngx_http_ddbm_jwt_init,                /* postconfiguration */

    ngx_http_ddbm_jwt_create_main_conf,    /* create main configuration */
    ngx_http_ddbm_jwt_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ddbm_jwt_create_loc_conf,     /* create location configuration */
    ngx_http_ddbm_jwt_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_ddbm_jwt_module = {
    NGX_MODULE_V1,
    &ngx_http_ddbm_jwt_module_ctx,         /* module context */
    ngx_http_ddbm_jwt_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ddbm_jwt_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_ddbm_jwt_vars[] = {

    { ngx_string("ddbm_jwt_sub"), NULL, ngx_http_ddbm_jwt_variable,
      offsetof(ngx_http_ddbm_jwt_ctx_t, sub),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_jwt_username"), NULL, ngx_http_ddbm_jwt_variable,
      offsetof(ngx_http_ddbm_jwt_ctx_t, username),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_jwt_client_id"), NULL, ngx_http_ddbm_jwt_variable,
      offsetof(ngx_http_ddbm_jwt_ctx_t, client_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* ---- the request ------------------------------------------------------- */

static ngx_int_t
ngx_http_ddbm_jwt_access_handler(ngx_http_request_t *r)
{
    ngx_http_ddbm_jwt_ctx_t       *ctx;
    ngx_http_ddbm_jwt_loc_conf_t  *jlcf;

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_jwt_module);

    if (!jlcf->enable) {
        return NGX_DECLINED;
    }

    /*
     * A CORS preflight carries no credentials, so it passes, but only a
     * real one (Origin, Access-Control-Request-Method) and only where the
     * messaging module answers it: never to a backend behind proxy_pass.
     */
    if (ngx_http_ddbm_is_preflight(r)
        && ((ngx_http_ddbm_loc_conf_t *)
            ngx_http_get_module_loc_conf(r, ngx_http_ddbm_module))->pattern)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ddbm_jwt_verify_request(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->rc == DM_JWT_OK) {
        return NGX_OK;
    }

    ngx_http_ddbm_metrics_jwt(ctx->rc == NGX_HTTP_DDBM_JWT_NO_TOKEN
                              ? -1 : ctx->rc);

    if (ctx->rc == NGX_HTTP_DDBM_JWT_NO_TOKEN) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ddbm_jwt: no bearer token%s%s, answered 401",
                      ctx->detail ? ": " : "",
                      ctx->detail ? ctx->detail : "");

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ddbm_jwt: token refused: %s (%s), answered 401",
                      dm_jwt_reason((dm_jwt_rc_e) ctx->rc),
                      ctx->detail ? ctx->detail : "");
    }

    return ngx_http_ddbm_jwt_refuse(r, ctx);
}


/*
 * The request's verification, done once (the access phase and the
 * variables share it): ctx->rc says how it went.  NULL: out of memory.
 */
static ngx_http_ddbm_jwt_ctx_t *
ngx_http_ddbm_jwt_verify_request(ngx_http_request_t *r)
{
    u_char                         *p, *last, digest[32], *detail;
    ngx_str_t                       token;
    dm_jwt_rc_e                     rc;
    dm_jwt_claims_t                 claims;
    dm_jwt_policy_t                 policy;
    ngx_table_elt_t                *h;
    ngx_http_ddbm_jwt_ctx_t        *ctx;
    ngx_http_ddbm_jwt_entry_t      *e;
    ngx_http_ddbm_jwt_loc_conf_t   *jlcf;
    ngx_http_ddbm_jwt_main_conf_t  *jmcf;

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_jwt_module);
    jmcf = ngx_http_get_module_main_conf(r, ngx_http_ddbm_jwt_module);

    ctx = ngx_http_get_module_ctx(r, ngx_http_ddbm_jwt_module);

    if (ctx && ctx->conf == jlcf) {
        return ctx;
    }

    /* none yet, or given under another location's keys and policy */
    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ddbm_jwt_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->conf = jlcf;
    ngx_http_set_ctx(r, ctx, ngx_http_ddbm_jwt_module);

    if (jlcf->keys == NULL) {
        ctx->rc = NGX_HTTP_DDBM_JWT_NO_KEYS;
        return ctx;
    }

    ctx->rc = NGX_HTTP_DDBM_JWT_NO_TOKEN;

    h = r->headers_in.authorization;
    if (h == NULL) {
        return ctx;
    }

    /* RFC 6750 2.1: "Bearer" (any case), spaces, the token */
    p = h->value.data;
    last = p + h->value.len;

    if (h->value.len < 6 || ngx_strncasecmp(p, (u_char *) "Bearer", 6) != 0
        || (h->value.len > 6 && p[6] != ' '))
    {
        ctx->detail = "another authorization scheme";
        return ctx;
    }

    for (p += 6; p < last && *p == ' '; p++) { /* void */ }
    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) { last--; }

    token.data = p;
    token.len = last - p;

    ngx_memzero(&claims, sizeof(dm_jwt_claims_t));

    if (token.len == 0) {
        ctx->rc = DM_JWT_MALFORMED;
        ctx->detail = "empty bearer token";
        return ctx;
    }

    if (token.len > DM_JWT_TOKEN_MAX) {
        ctx->rc = DM_JWT_TOO_LARGE;
        ctx->detail = "bearer token over 8192 bytes";
        return ctx;
    }

    if (jmcf->cache_size) {
        /* the cache key: the whole token and what it is verified against */
        if (ngx_http_ddbm_jwt_digest(jlcf->fingerprint, &token, digest)
            != NGX_OK)
        {
            return NULL;
        }

        e = ngx_http_ddbm_jwt_cache_find(digest, ngx_time());

        if (e) {
            ctx->rc = DM_JWT_OK;
            ctx->cached = 1;
            p = e->data;

            ctx->sub.data = p;
            ctx->sub.len = e->sub_len;
            p += e->sub_len;

            ctx->username.data = p;
            ctx->username.len = e->username_len;
            p += e->username_len;

            ctx->client_id.data = p;
            ctx->client_id.len = e->client_id_len;

            /* the entry may be evicted before the request ends: copy */
            p = ngx_pnalloc(r->pool, ctx->sub.len + ctx->username.len
                                     + ctx->client_id.len + 1);
            if (p == NULL) {
                return NULL;
            }

            ngx_memcpy(p, e->data, ctx->sub.len + ctx->username.len
                                   + ctx->client_id.len);
            ctx->sub.data = p;
            ctx->username.data = p + ctx->sub.len;
            ctx->client_id.data = p + ctx->sub.len + ctx->username.len;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ddbm_jwt: cached token of sub \"%V\"",
                           &ctx->sub);
            return ctx;
        }
    }

    policy.alg = DM_JWT_ALG_RS256;
    policy.issuer = (const char *) jlcf->issuer.data;
    policy.client_ids = jlcf->client_ids->elts;
    policy.nclient_ids = jlcf->client_ids->nelts;
    policy.token_use = "access";
    policy.leeway = jlcf->leeway;
    policy.now = ngx_time();

    rc = dm_jwt_verify(jlcf->keys, &policy, (const char *) token.data,
                       token.len, &claims);

    ctx->rc = rc;

    if (rc != DM_JWT_OK) {
        detail = ngx_pnalloc(r->pool, sizeof(claims.detail));
        if (detail == NULL) {
            return NULL;
        }

        ngx_memcpy(detail, claims.detail, sizeof(claims.detail));
        ctx->detail = (const char *) detail;

        return ctx;
    }

    ctx->sub.len = ngx_strlen(claims.sub);
    ctx->username.len = ngx_strlen(claims.username);
    ctx->client_id.len = ngx_strlen(claims.client_id);

    p = ngx_pnalloc(r->pool, ctx->sub.len + ctx->username.len
                             + ctx->client_id.len + 1);
    if (p == NULL) {
        return NULL;
    }

    ctx->sub.data = p;
    p = ngx_cpymem(p, claims.sub, ctx->sub.len);
    ctx->username.data = p;
    p = ngx_cpymem(p, claims.username, ctx->username.len);
    ctx->client_id.data = p;
    ngx_memcpy(p, claims.client_id, ctx->client_id.len);

    if (jmcf->cache_size) {
        ngx_http_ddbm_jwt_cache_insert(jmcf->cache_size, digest, &claims);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ddbm_jwt: verified token of sub \"%V\"", &ctx->sub);

    return ctx;
}


static ngx_int_t
ngx_http_ddbm_jwt_refuse(ngx_http_request_t *r, ngx_http_ddbm_jwt_ctx_t *ctx)
{
    u_char                    *p;
    size_t                     len;
    ngx_int_t                  rc;
    const char                *reason;
    ngx_table_elt_t           *h;
    ngx_http_core_loc_conf_t  *clcf;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (ctx->rc == NGX_HTTP_DDBM_JWT_NO_TOKEN) {
        /* RFC 6750 3.1: no error code when no credentials were sent */
        ngx_str_set(&h->value, "Bearer");

    } else {
        /* the reason is ours (a fixed text), never the token's content */
        reason = dm_jwt_reason((dm_jwt_rc_e) ctx->rc);
        len = sizeof("Bearer error=\"invalid_token\", error_description=\"\"")
              - 1 + ngx_strlen(reason);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.data = p;
        h->value.len = ngx_sprintf(p, "Bearer error=\"invalid_token\", "
                                   "error_description=\"%s\"", reason) - p;
    }

    r->headers_out.www_authenticate = h;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy != NGX_HTTP_SATISFY_ALL) {
        /* "satisfy any": another access module may still let it in */
        return NGX_HTTP_UNAUTHORIZED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* with the CORS headers: else a browser hides the 401 from the app */
    return ngx_http_ddbm_send_json(r, NGX_HTTP_UNAUTHORIZED,
                                   (u_char *) "{}", 2);
}


static ngx_int_t
ngx_http_ddbm_jwt_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *s;
    ngx_http_ddbm_jwt_ctx_t  *ctx;

    ctx = ngx_http_ddbm_jwt_verify_request(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    if (ctx->rc != DM_JWT_OK || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* ---- the per-worker cache ---------------------------------------------- */

/* SHA-256 of fingerprint and token, with what OpenSSL 3 fetched once */
static ngx_int_t
ngx_http_ddbm_jwt_digest(u_char *fingerprint, ngx_str_t *token,
    u_char *digest)
{
    EVP_MD      *sha256;
    EVP_MD_CTX  *md;

    if (ngx_http_ddbm_jwt_md == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        md = EVP_MD_CTX_new();

        if (sha256 == NULL || md == NULL) {
            EVP_MD_free(sha256);
            EVP_MD_CTX_free(md);
            return NGX_ERROR;
        }

        ngx_http_ddbm_jwt_sha256 = sha256;
        ngx_http_ddbm_jwt_md = md;
    }

    sha256 = ngx_http_ddbm_jwt_sha256;
    md = ngx_http_ddbm_jwt_md;

    if (EVP_DigestInit_ex(md, sha256, NULL) != 1
        || EVP_DigestUpdate(md, fingerprint, 32) != 1
        || EVP_DigestUpdate(md, token->data, token->len) != 1
        || EVP_DigestFinal_ex(md, digest, NULL) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* what the worker holds for the cache goes with it */
static void
ngx_http_ddbm_jwt_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t                *q;
    ngx_http_ddbm_jwt_entry_t  *e;

    if (ngx_http_ddbm_jwt_cache.ready) {
        while (!ngx_queue_empty(&ngx_http_ddbm_jwt_cache.lru)) {
            q = ngx_queue_last(&ngx_http_ddbm_jwt_cache.lru);
            e = ngx_queue_data(q, ngx_http_ddbm_jwt_entry_t, queue);
            ngx_http_ddbm_jwt_cache_delete(e);
        }
    }

    EVP_MD_CTX_free(ngx_http_ddbm_jwt_md);
    EVP_MD_free(ngx_http_ddbm_jwt_sha256);
    ngx_http_ddbm_jwt_md = NULL;
    ngx_http_ddbm_jwt_sha256 = NULL;
}


static ngx_rbtree_key_t
ngx_http_ddbm_jwt_key(u_char *digest)
{
    ngx_rbtree_key_t  key;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    return key;
}


static void
ngx_http_ddbm_jwt_cache_delete(ngx_http_ddbm_jwt_entry_t *e)
{
    ngx_rbtree_delete(&ngx_http_ddbm_jwt_cache.rbtree, &e->node);
    ngx_queue_remove(&e->queue);
    ngx_http_ddbm_jwt_cache.n--;
    ngx_free(e);
}


static ngx_http_ddbm_jwt_entry_t *
ngx_http_ddbm_jwt_cache_find(u_char *digest, time_t now)
{
    ngx_int_t                   rc;
    ngx_rbtree_key_t            key;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_ddbm_jwt_entry_t  *e;

    if (!ngx_http_ddbm_jwt_cache.ready) {
        return NULL;
    }

    key = ngx_http_ddbm_jwt_key(digest);
    node = ngx_http_ddbm_jwt_cache.rbtree.root;
    sentinel = ngx_http_ddbm_jwt_cache.rbtree.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        e = (ngx_http_ddbm_jwt_entry_t *) node;
        rc = ngx_memcmp(digest, e->digest, 32);

        if (rc == 0) {
            /* never past "exp", whatever the leeway says */
            if (now >= e->exp) {
                ngx_http_ddbm_jwt_cache_delete(e);
                return NULL;
            }

            ngx_queue_remove(&e->queue);
            ngx_queue_insert_head(&ngx_http_ddbm_jwt_cache.lru, &e->queue);

            return e;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_ddbm_jwt_cache_insert(ngx_uint_t max, u_char *digest,
    dm_jwt_claims_t *claims)
{
    size_t                      sub_len, username_len, client_id_len;
    u_char                     *p;
    ngx_queue_t                *q;
    ngx_http_ddbm_jwt_entry_t  *e;

    if (claims->exp <= ngx_time()) {
        /* accepted within the leeway only: not worth keeping */
        return;
    }

    if (!ngx_http_ddbm_jwt_cache.ready) {
        ngx_rbtree_init(&ngx_http_ddbm_jwt_cache.rbtree,
                        &ngx_http_ddbm_jwt_cache.sentinel,
                        ngx_http_ddbm_jwt_rbtree_insert);
        ngx_queue_init(&ngx_http_ddbm_jwt_cache.lru);
        ngx_http_ddbm_jwt_cache.ready = 1;
    }

    /* the least recently used go first (max may shrink on reload) */
    while (ngx_http_ddbm_jwt_cache.n >= max) {
        q = ngx_queue_last(&ngx_http_ddbm_jwt_cache.lru);
        e = ngx_queue_data(q, ngx_http_ddbm_jwt_entry_t, queue);
        ngx_http_ddbm_jwt_cache_delete(e);
    }

    sub_len = ngx_strlen(claims->sub);
    username_len = ngx_strlen(claims->username);
    client_id_len = ngx_strlen(claims->client_id);

    e = ngx_alloc(offsetof(ngx_http_ddbm_jwt_entry_t, data) + sub_len
                  + username_len + client_id_len, ngx_cycle->log);
    if (e == NULL) {
        return;
    }

    ngx_memcpy(e->digest, digest, 32);
    e->node.key = ngx_http_ddbm_jwt_key(digest);
    e->exp = (time_t) claims->exp;
    e->sub_len = (u_char) sub_len;
    e->username_len = (u_char) username_len;
    e->client_id_len = (u_char) client_id_len;

    p = ngx_cpymem(e->data, claims->sub, sub_len);
    p = ngx_cpymem(p, claims->username, username_len);
    ngx_memcpy(p, claims->client_id, client_id_len);

    ngx_rbtree_insert(&ngx_http_ddbm_jwt_cache.rbtree, &e->node);
    ngx_queue_insert_head(&ngx_http_ddbm_jwt_cache.lru, &e->queue);
    ngx_http_ddbm_jwt_cache.n++;
}


static void
ngx_http_ddbm_jwt_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t          **p;
    ngx_http_ddbm_jwt_entry_t   *e, *t;

    e = (ngx_http_ddbm_jwt_entry_t *) node;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            t = (ngx_http_ddbm_jwt_entry_t *) temp;
            p = (ngx_memcmp(e->digest, t->digest, 32) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* ---- configuration ----------------------------------------------------- */

static ngx_int_t
ngx_http_ddbm_jwt_add_variables(ngx_conf_t *cf)
{
    return ngx_http_ddbm_add_variables(cf, ngx_http_ddbm_jwt_vars);
}


static ngx_int_t
ngx_http_ddbm_jwt_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ddbm_jwt_access_handler;

    return NGX_OK;
}


static void *
ngx_http_ddbm_jwt_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ddbm_jwt_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_jwt_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    jmcf->cache_size = NGX_CONF_UNSET_UINT;

    return jmcf;
}


static char *
ngx_http_ddbm_jwt_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ddbm_jwt_main_conf_t  *jmcf = conf;

    /* about 200 bytes an entry: 10000 tokens, 2 MB per worker at most */
    ngx_conf_init_uint_value(jmcf->cache_size, 10000);

    return NGX_CONF_OK;
}


static void *
ngx_http_ddbm_jwt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ddbm_jwt_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_jwt_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->jwks_file = { 0, NULL };
     *     conf->issuer = { 0, NULL };
     *     conf->keys_digest = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->client_ids = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_ddbm_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ddbm_jwt_loc_conf_t *prev = parent;
    ngx_http_ddbm_jwt_loc_conf_t *conf = child;

    time_t        leeway;
    ngx_uint_t    i;
    EVP_MD_CTX   *md;
    const char  **id;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->keys == NGX_CONF_UNSET_PTR) {
        if (prev->keys == NGX_CONF_UNSET_PTR) {
            conf->keys = NULL;

        } else {
            conf->keys = prev->keys;
            conf->keys_digest = prev->keys_digest;
            conf->jwks_file = prev->jwks_file;
        }
    }

    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_ptr_value(conf->client_ids, prev->client_ids, NULL);
    /*
     * 60 s: hosts drift a few seconds even with NTP; a minute more on a
     * one-hour Cognito token is a small price for not refusing tokens
     * minted "in the future" by a pool whose clock is a little ahead
     */
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 60);

    if (conf->leeway > NGX_HTTP_DDBM_JWT_LEEWAY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_jwt_leeway must not exceed 1h");
        return NGX_CONF_ERROR;
    }

    if (conf->enable) {
        if (conf->keys == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ddbm_jwt on\" needs \"ddbm_jwt_jwks\": "
                               "the user pool's JWKS file");
            return NGX_CONF_ERROR;
        }

        if (conf->issuer.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ddbm_jwt on\" needs \"ddbm_jwt_issuer\": "
                               "https://cognito-idp.<region>.amazonaws.com/"
                               "<user pool id>");
            return NGX_CONF_ERROR;
        }

        if (conf->client_ids == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ddbm_jwt on\" needs \"ddbm_jwt_client_id\":"
                               " the app client ids whose tokens are "
                               "accepted");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->keys == NULL) {
        return NGX_CONF_OK;
    }

    if (conf->issuer.len == 0 || conf->client_ids == NULL) {
        /* keys for the variables, but no policy: verify nothing */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ddbm_jwt_jwks\" needs \"ddbm_jwt_issuer\" and "
                           "\"ddbm_jwt_client_id\" too");
        return NGX_CONF_ERROR;
    }

    /* what a cached verification holds for: keys, issuer, clients, leeway */
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_CONF_ERROR;
    }

    leeway = conf->leeway;
    id = conf->client_ids->elts;

    EVP_DigestUpdate(md, conf->keys_digest, 32);
    EVP_DigestUpdate(md, conf->issuer.data, conf->issuer.len + 1);

    for (i = 0; i < conf->client_ids->nelts; i++) {
        EVP_DigestUpdate(md, id[i], ngx_strlen(id[i]) + 1);
    }

    EVP_DigestUpdate(md, &leeway, sizeof(time_t));

    if (EVP_DigestFinal_ex(md, conf->fingerprint, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_CONF_ERROR;
    }

    EVP_MD_CTX_free(md);

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_jwt_loc_conf_t  *jlcf = conf;

    char                 err[256];
    u_char              *buf;
    size_t               size;
    ssize_t              n;
    ngx_str_t           *value, name;
    ngx_file_t           file;
    dm_jwks_t           *keys;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;

    if (jlcf->keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    /* read once here, in the master: never per request, never blocking */
    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "ddbm_jwt_jwks: cannot open \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "ddbm_jwt_jwks: cannot stat \"%V\"", &name);
        goto failed;
    }

    size = (size_t) ngx_file_size(&fi);

    if (size == 0 || size > DM_JWKS_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_jwt_jwks: \"%V\" is %s", &name,
                           size ? "larger than 1 MB" : "empty");
        goto failed;
    }

    buf = ngx_pnalloc(cf->temp_pool, size);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, buf, size, 0);
    if (n != (ssize_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, n < 0 ? ngx_errno : 0,
                           "ddbm_jwt_jwks: cannot read \"%V\"", &name);
        goto failed;
    }

    ngx_close_file(file.fd);

    keys = dm_jwks_parse((const char *) buf, size, err, sizeof(err));
    if (keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_jwt_jwks: \"%V\" is not a usable JWKS: %s",
                           &name, err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        dm_jwks_free(keys);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ddbm_jwt_keys_cleanup;
    cln->data = keys;

    jlcf->keys = keys;
    jlcf->jwks_file = name;

    jlcf->keys_digest = ngx_palloc(cf->pool, 32);
    if (jlcf->keys_digest == NULL
        || EVP_Digest(buf, size, jlcf->keys_digest, NULL, EVP_sha256(), NULL)
           != 1)
    {
        return NGX_CONF_ERROR;
    }

    if (dm_jwks_skipped(keys)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "ddbm_jwt_jwks: \"%V\": %uz keys that are not "
                           "RS256 signing keys are ignored", &name,
                           dm_jwks_skipped(keys));
    }

    return NGX_CONF_OK;

failed:

    ngx_close_file(file.fd);

    return NGX_CONF_ERROR;
}


static void
ngx_http_ddbm_jwt_keys_cleanup(void *data)
{
    dm_jwks_free(data);
}


static char *
ngx_http_ddbm_jwt_client_id(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_jwt_loc_conf_t  *jlcf = conf;

    ngx_str_t    *value;
    ngx_uint_t    i;
    const char  **id;

    if (jlcf->client_ids != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    jlcf->client_ids = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                        sizeof(const char *));
    if (jlcf->client_ids == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0 || value[i].len > DM_JWT_CLAIM_MAX) {
            return "takes app client ids of 1 to 255 characters";
        }

        id = ngx_array_push(jlcf->client_ids);
        if (id == NULL) {
            return NGX_CONF_ERROR;
        }

        /* the configuration parser NUL-terminates its arguments */
        *id = (const char *) value[i].data;
    }

    return NGX_CONF_OK;
}
