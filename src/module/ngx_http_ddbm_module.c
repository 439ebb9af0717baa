/*
 * ngx_http_ddbm_module: its directives and their configuration.  The
 * request loop is in ngx_http_ddbm_request.c, the access patterns in
 * their own files (ngx_http_ddbm_pattern_*.c) behind
 * ngx_http_ddbm_pattern_t.
 */

#include "ngx_http_ddbm.h"
#include "ngx_http_ddbm_route.h"
#include "dm_credentials.h"


static void *ngx_http_ddbm_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ddbm_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ddbm_pattern(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_page_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_retries(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_allowed_regions(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ddbm_check_regions(ngx_conf_t *cf,
    ngx_http_ddbm_loc_conf_t *conf);
static char *ngx_http_ddbm_cors_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_identity(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ddbm_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_ddbm_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_ddbm_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_ddbm_init_process(ngx_cycle_t *cycle);
static void ngx_http_ddbm_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_ddbm_write_retries_bounds = {
    ngx_conf_check_num_bounds, 1, NGX_HTTP_DDBM_WRITE_RETRIES_MAX
};


/* patterns that were C once and are ddbm_route blocks now */
static ngx_str_t  ngx_http_ddbm_declared_now[] = {
    ngx_string("list_conversations"),
    ngx_string("list_messages"),
    ngx_string("user_short"),
    ngx_null_string
};


ngx_http_ddbm_pattern_t  *ngx_http_ddbm_patterns[] = {
    &ngx_http_ddbm_pattern_health,
    &ngx_http_ddbm_pattern_post_message,
    &ngx_http_ddbm_pattern_start_conversation,
    NULL
};


static ngx_command_t  ngx_http_ddbm_commands[] = {

    { ngx_string("ddbm_pattern"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_pattern,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_type"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_ddbm_type_directive,
      0,
      0,
      NULL },

    { ngx_string("ddbm_schema"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE2,
      ngx_http_ddbm_schema_directive,
      0,
      0,
      NULL },

    { ngx_string("ddbm_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_BLOCK|NGX_CONF_2MORE,
      ngx_http_ddbm_route_directive,
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

    { ngx_string("ddbm_allowed_regions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ddbm_allowed_regions,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
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
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_ddbm_identity,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, identity),
      NULL },

    /* removed with the C read patterns: kept to say what replaces it */
    { ngx_string("ddbm_page_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
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
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_ddbm_retries,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_retry_quota"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_retry_quota,
      0,
      0,
      NULL },

    { ngx_string("ddbm_request_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, request_timeout),
      NULL },

    { ngx_string("ddbm_health_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, health_interval),
      NULL },

    { ngx_string("ddbm_write_retries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ddbm_loc_conf_t, write_retries),
      &ngx_http_ddbm_write_retries_bounds },

    { ngx_string("ddbm_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ddbm_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ddbm_cache_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ddbm_cors_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ddbm_cors_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ddbm_module_ctx = {
    ngx_http_ddbm_preconfiguration,        /* preconfiguration */
    ngx_http_ddbm_postconfiguration,       /* postconfiguration */

    ngx_http_ddbm_create_main_conf,        /* create main configuration */
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
    ngx_http_ddbm_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ddbm_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ---- configuration ----------------------------------------------------- */

static void *
ngx_http_ddbm_create_main_conf(ngx_conf_t *cf)
{
    /* set by ngx_pcalloc(): dmcf->autoc = NULL */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_main_conf_t));
}


static ngx_int_t
ngx_http_ddbm_init_process(ngx_cycle_t *cycle)
{
    return ngx_http_ddbm_credentials_init_process(cycle);
}


static void
ngx_http_ddbm_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ddbm_credentials_exit_process(cycle);
}


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
     */

    conf->credentials = NGX_CONF_UNSET_PTR;
    conf->identity = NGX_CONF_UNSET_PTR;
    conf->body_max = NGX_CONF_UNSET_SIZE;
    conf->retries = NGX_CONF_UNSET_UINT;
    conf->retry_base = NGX_CONF_UNSET_MSEC;
    conf->retry_cap = NGX_CONF_UNSET_MSEC;
    conf->request_timeout = NGX_CONF_UNSET_MSEC;
    conf->write_retries = NGX_CONF_UNSET_UINT;
    conf->cors_origins = NGX_CONF_UNSET_PTR;
    conf->cache = NGX_CONF_UNSET_PTR;
    conf->allowed_regions = NGX_CONF_UNSET_PTR;
    conf->health_interval = NGX_CONF_UNSET;

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


/*
 * The AWS shared credentials file, read by the core's parser (lines of any
 * length: a session token is over 1000 bytes).  A relative path is
 * resolved against the configuration prefix, as ssl_certificate_key is.
 */
static char *
ngx_http_ddbm_credentials_from_file(ngx_conf_t *cf,
    ngx_http_ddbm_credentials_t *c, ngx_str_t *path, ngx_str_t *profile)
{
    char              *rv;
    const char        *why;
    ngx_err_t          err;
    ngx_str_t          s;
    dm_aws_profile_t   p;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (dm_aws_profile_read((const char *) path->data,
                            DM_AWS_CREDENTIALS_FILE,
                            (const char *) profile->data, &p)
        != 0)
    {
        err = ngx_errno;
        dm_aws_profile_free(&p);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "ddbm_credentials: cannot read \"%V\"%s", path,
                           err == EINVAL ? ": a NUL byte in the file" : "");
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_OK;

    if (!p.found) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_credentials: no profile \"%V\" in \"%V\"",
                           profile, path);
        rv = NGX_CONF_ERROR;
        goto done;
    }

    if (p.access_key_id == NULL || p.access_key_id[0] == '\0'
        || p.secret_access_key == NULL || p.secret_access_key[0] == '\0')
    {
        /* say why a profile without keys cannot be used */
        why = p.role_arn ? " (it uses role_arn, which is not implemented)"
              : p.sso ? " (it uses SSO, which is not implemented)"
              : p.credential_process
                ? " (it uses credential_process, which is not implemented)"
              : "";

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_credentials: no aws_access_key_id and "
                           "aws_secret_access_key for profile \"%V\" in "
                           "\"%V\"%s", profile, path, why);
        rv = NGX_CONF_ERROR;
        goto done;
    }

    s.data = (u_char *) p.access_key_id;
    s.len = ngx_strlen(p.access_key_id);
    c->creds.access_key_id = ngx_http_ddbm_cstr(cf->pool, &s);

    s.data = (u_char *) p.secret_access_key;
    s.len = ngx_strlen(p.secret_access_key);
    c->creds.secret_access_key = ngx_http_ddbm_cstr(cf->pool, &s);

    if (p.session_token != NULL) {
        s.data = (u_char *) p.session_token;
        s.len = ngx_strlen(p.session_token);
        c->creds.session_token = ngx_http_ddbm_cstr(cf->pool, &s);
    }

    if (c->creds.access_key_id == NULL || c->creds.secret_access_key == NULL
        || (p.session_token != NULL && c->creds.session_token == NULL))
    {
        rv = NGX_CONF_ERROR;
    }

done:

    dm_aws_profile_free(&p);

    return rv;
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

    } else if (ngx_strcmp(value[1].data, "auto") == 0) {
        rv = ngx_http_ddbm_credentials_auto(cf, c, &value[1],
                                            cf->args->nelts - 1);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

    } else {
        return "takes \"auto [profile=<name>] [imds_v1=on]\", \"env\", "
               "\"static <key id> <secret> [<token>]\" or "
               "\"file <path> [<profile>]\"";
    }

    dlcf->credentials = c;

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_pattern(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

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
        for (i = 0; ngx_http_ddbm_declared_now[i].len; i++) {
            if (ngx_http_ddbm_declared_now[i].len == value[1].len
                && ngx_strncmp(ngx_http_ddbm_declared_now[i].data,
                               value[1].data, value[1].len) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ddbm_pattern: \"%V\" is a declared "
                                   "route now: copy the \"ddbm_route %V\" "
                                   "block of nginx.conf.example (see "
                                   "docs/declared-routes.md)",
                                   &value[1], &value[1]);
                return NGX_CONF_ERROR;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_pattern: unknown pattern \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    dlcf->pattern = ngx_http_ddbm_patterns[i];

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ddbm_handler;

    if (ngx_http_ddbm_metrics_route(cf, &dlcf->pattern->name) != NGX_OK
        || ngx_http_ddbm_status_zone(cf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_page_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"ddbm_page_size\" is gone: a declared route's "
                       "Query sets its page size in its own \"limit\" "
                       "line, a default and a typed maximum (\"limit "
                       "arg:limit|20;\" with \"validate arg:limit TYPE\", "
                       "see docs/declared-routes.md)");

    return NGX_CONF_ERROR;
}


/* every origin given, on one line or on several */
static char *
ngx_http_ddbm_cors_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (dlcf->cors_origins == NGX_CONF_UNSET_PTR) {
        dlcf->cors_origins = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (dlcf->cors_origins == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        o = ngx_array_push(dlcf->cors_origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * The first variable of the identity that the client sets at will
 * ($http_*, $cookie_*, $arg_*), or an empty string.  Such an identity
 * lets anyone act as anyone: it is accepted only with the flag
 * "unsafe_client_supplied", so that it is visible in the configuration.
 */
static ngx_str_t
ngx_http_ddbm_client_variable(ngx_str_t *value)
{
    u_char      *p, *last, *name;
    ngx_str_t    var;
    ngx_uint_t   i;

    static ngx_str_t  prefixes[] = {
        ngx_string("http_"),
        ngx_string("cookie_"),
        ngx_string("arg_")
    };

    ngx_str_null(&var);

    p = value->data;
    last = value->data + value->len;

    while (p < last) {
        if (*p++ != '$' || p == last) {
            continue;
        }

        if (*p == '{') {
            p++;
        }

        name = p;

        while (p < last
               && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                   || (*p >= '0' && *p <= '9') || *p == '_'))
        {
            p++;
        }

        for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
            if ((size_t) (p - name) > prefixes[i].len
                && ngx_strncasecmp(name, prefixes[i].data, prefixes[i].len)
                   == 0)
            {
                var.data = name;
                var.len = p - name;
                return var;
            }
        }
    }

    return var;
}


static char *
ngx_http_ddbm_identity(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value, var;

    value = cf->args->elts;

    if (cf->args->nelts == 3
        && ngx_strcmp(value[2].data, "unsafe_client_supplied") != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_identity: unknown flag \"%V\" (the only "
                           "one is \"unsafe_client_supplied\")", &value[2]);
        return NGX_CONF_ERROR;
    }

    var = ngx_http_ddbm_client_variable(&value[1]);

    if (var.len && cf->args->nelts != 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_identity \"%V\" is supplied by the client "
                           "($%V): anyone could act as any user.  Use the "
                           "verified token ($ddbm_jwt_sub with ddbm_jwt on), "
                           "or, in development only, add the flag "
                           "\"unsafe_client_supplied\"", &value[1], &var);
        return NGX_CONF_ERROR;
    }

    /* the slot compiles value[1] and refuses a duplicate */
    return ngx_http_set_complex_value_slot(cf, cmd, conf);
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

    if (cf->args->nelts >= 3) {
        dlcf->retry_base = ngx_parse_time(&value[2], 0);
        if (dlcf->retry_base == (ngx_msec_t) NGX_ERROR
            || dlcf->retry_base == 0)
        {
            return "has an invalid backoff time";
        }
    }

    if (cf->args->nelts == 4) {
        dlcf->retry_cap = ngx_parse_time(&value[3], 0);
        if (dlcf->retry_cap == (ngx_msec_t) NGX_ERROR
            || dlcf->retry_cap < dlcf->retry_base)
        {
            return "has an invalid longest pause: it must be a time no "
                   "shorter than the base";
        }
    }

    return NGX_CONF_OK;
}


/*
 * ddbm_allowed_regions region ...: data residency.  The merge refuses a
 * ddbm_region, or a region named by ddbm_endpoint_host, outside the list.
 */
static char *
ngx_http_ddbm_allowed_regions(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    ngx_str_t   *value, *r;
    ngx_uint_t   i;

    if (dlcf->allowed_regions != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    dlcf->allowed_regions = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                             sizeof(ngx_str_t));
    if (dlcf->allowed_regions == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            return "takes region names, not an empty string";
        }

        r = ngx_array_push(dlcf->allowed_regions);
        if (r == NULL) {
            return NGX_CONF_ERROR;
        }

        *r = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ddbm_region_allowed(ngx_array_t *allowed, ngx_str_t *region)
{
    ngx_str_t   *r;
    ngx_uint_t   i;

    r = allowed->elts;

    for (i = 0; i < allowed->nelts; i++) {
        if (r[i].len == region->len
            && ngx_strncasecmp(r[i].data, region->data, region->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The region an AWS endpoint name says, or an empty string for a name that
 * is not AWS's (DynamoDB Local, a proxy of one's own); NGX_ERROR for an
 * AWS name whose region cannot be told.  Understood: dynamodb.<region>.
 * amazonaws.com[.cn], dynamodb-fips.<region>..., dynamodb.<region>.api.aws
 * and VPC interface endpoints, vpce-....dynamodb.<region>.vpce.amazonaws.com.
 */
static ngx_int_t
ngx_http_ddbm_host_region(ngx_str_t *host, ngx_str_t *region)
{
    u_char  *p, *end, *label, *next;
    size_t   len;

    ngx_str_null(region);

    p = host->data;
    end = host->data + host->len;

    /* without the port */
    for (label = end; label > p; label--) {
        if (label[-1] == ':') {
            end = label - 1;
            break;
        }
        if (label[-1] < '0' || label[-1] > '9') {
            break;
        }
    }

    if (end > p && end[-1] == '.') {
        end--;
    }

    len = end - p;

#define ddbm_ends_with(s)                                                    \
    (len > sizeof(s) - 1                                                     \
     && ngx_strncasecmp(end - (sizeof(s) - 1), (u_char *) s,                 \
                        sizeof(s) - 1) == 0)

    if (!ddbm_ends_with(".amazonaws.com") && !ddbm_ends_with(".amazonaws.com.cn")
        && !ddbm_ends_with(".api.aws"))
    {
        return NGX_OK;
    }

#undef ddbm_ends_with

    /* the label after "dynamodb" (or "dynamodb-fips") is the region */
    for (label = p; label < end; label = next + 1) {
        next = ngx_strlchr(label, end, '.');
        if (next == NULL) {
            break;
        }

        if ((next - label == sizeof("dynamodb") - 1
             && ngx_strncasecmp(label, (u_char *) "dynamodb",
                                sizeof("dynamodb") - 1) == 0)
            || (next - label == sizeof("dynamodb-fips") - 1
                && ngx_strncasecmp(label, (u_char *) "dynamodb-fips",
                                   sizeof("dynamodb-fips") - 1) == 0))
        {
            label = next + 1;
            next = ngx_strlchr(label, end, '.');

            /* a region looks like eu-west-1: a dash, a digit at the end */
            if (next == NULL || next == label
                || ngx_strlchr(label, next, '-') == NULL
                || next[-1] < '0' || next[-1] > '9')
            {
                return NGX_ERROR;
            }

            region->data = label;
            region->len = next - label;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


static char *
ngx_http_ddbm_check_regions(ngx_conf_t *cf, ngx_http_ddbm_loc_conf_t *conf)
{
    ngx_str_t  region;

    if (!ngx_http_ddbm_region_allowed(conf->allowed_regions, &conf->region)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_region \"%V\" is not in "
                           "ddbm_allowed_regions", &conf->region);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_host_region(&conf->host, &region) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_endpoint_host \"%V\": cannot tell its "
                           "region, and ddbm_allowed_regions is set",
                           &conf->host);
        return NGX_CONF_ERROR;
    }

    if (region.len
        && !ngx_http_ddbm_region_allowed(conf->allowed_regions, &region))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_endpoint_host \"%V\" is in region \"%V\", "
                           "which is not in ddbm_allowed_regions",
                           &conf->host, &region);
        return NGX_CONF_ERROR;
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
    ngx_http_ddbm_route_t        *route;
    ngx_http_ddbm_credentials_t  *c;

    /* the default is chosen below, where a route's schema is known */
    ngx_conf_merge_str_value(conf->table, prev->table, "");
    ngx_conf_merge_str_value(conf->region, prev->region, "us-east-1");
    ngx_conf_merge_str_value(conf->host, prev->host, "");
    ngx_conf_merge_str_value(conf->backend, prev->backend, "/_ddbm");
    ngx_conf_merge_ptr_value(conf->credentials, prev->credentials, NULL);
    ngx_conf_merge_ptr_value(conf->identity, prev->identity, NULL);
    ngx_conf_merge_size_value(conf->body_max, prev->body_max, 16384);
    ngx_conf_merge_uint_value(conf->retries, prev->retries, 3);
    ngx_conf_merge_msec_value(conf->retry_base, prev->retry_base, 25);
    /* 20 s: the AWS SDKs' longest pause between attempts */
    ngx_conf_merge_msec_value(conf->retry_cap, prev->retry_cap, 20000);

    if (conf->retry_cap < conf->retry_base) {
        conf->retry_cap = conf->retry_base;
    }

    ngx_conf_merge_msec_value(conf->request_timeout, prev->request_timeout,
                              15000);
    ngx_conf_merge_uint_value(conf->write_retries, prev->write_retries, 16);
    ngx_conf_merge_ptr_value(conf->cors_origins, prev->cors_origins, NULL);
    ngx_conf_merge_ptr_value(conf->cache, prev->cache, NULL);
    ngx_conf_merge_sec_value(conf->health_interval, prev->health_interval, 5);

    if (conf->health_interval == 0) {
        conf->health_interval = 1;
    }

    ngx_conf_merge_ptr_value(conf->allowed_regions, prev->allowed_regions,
                             NULL);

    if (conf->pattern == NULL) {
        return NGX_CONF_OK;
    }

    route = conf->pattern->route;

    if (conf->table.len == 0) {
        /*
         * a route's table is its schema's unless ddbm_table names another
         * table of the same shape (staging, a second tenant)
         */
        if (route && route->schema) {
            conf->table = route->schema->table;

        } else {
            ngx_str_set(&conf->table, "cruddur-messages");
        }
    }

    if (conf->host.len == 0) {
        /*
         * the regional endpoint's name, NUL-terminated for the signer; made
         * here, where the pattern is, so that it follows a ddbm_region set
         * in this location rather than an outer level's
         */
        p = ngx_pnalloc(cf->pool, sizeof("dynamodb..amazonaws.com")
                                  + conf->region.len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        conf->host.data = p;
        conf->host.len = ngx_sprintf(p, "dynamodb.%V.amazonaws.com%Z",
                                     &conf->region) - p - 1;
    }

    /* checked where DynamoDB is called, with what this location inherits */
    if (conf->allowed_regions != NULL
        && ngx_http_ddbm_check_regions(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->credentials == NULL) {
        /* the standard chain's first link, checked now, not per request */
        c = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_credentials_t));
        if (c == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&c->source, "env");

        rv = ngx_http_ddbm_credentials_from_env(cf, c);
        if (rv == NGX_CONF_ERROR) {
            return NGX_CONF_ERROR;
        }

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
ngx_http_ddbm_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_ddbm_variables_add(cf);
}


static ngx_int_t
ngx_http_ddbm_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_array_t                *routes;
    ngx_http_handler_pt        *h;
    ngx_http_ddbm_route_t     **rp;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_ddbm_answer_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ddbm_vary_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ddbm_metrics_log;

    /* the declared routes' names, in the order they were declared */
    routes = ngx_http_ddbm_routes(cf);
    rp = routes ? routes->elts : NULL;

    for (i = 0; routes && i < routes->nelts; i++) {
        if (ngx_http_ddbm_metrics_route(cf, &rp[i]->name) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_ddbm_route_plan(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_request_body_filter_init(cf);
}
