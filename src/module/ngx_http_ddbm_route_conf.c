/*
 * Declared routes, the compiler: ddbm_type, ddbm_schema {} and
 * ddbm_route {} read by NGINX's own parser and compiled into a plan
 * (ngx_http_ddbm_route.h).  Every mistake is refused here, so nginx -t
 * refuses it with the file, the line and the reason.
 *
 * The inner lines of the blocks are NGINX directives.  A custom handler
 * (cf->handler, as in "types {}") cannot take nested blocks (NGINX
 * refuses their "{"), so each block is parsed by ngx_conf_parse() with
 * this module's command table switched, for the block's duration, to the
 * block's own table, and with a context bit no other module uses: NGINX
 * then checks the arguments' count, the ";" and the "{" itself, and
 * names an unknown line with its file and line.  ddbm_errors {}, whose
 * lines are error names, has a custom handler.
 */

#include "ngx_http_ddbm_route.h"


/* the context of the lines inside our blocks: no NGINX module uses it */
#define NGX_HTTP_DDBM_RCONF     0x00200000
#define NGX_HTTP_DDBM_CHECKS    32         /* bits of after_checks */

/* the operations a step line is allowed in (a command's "offset") */
#define OPB(op)   (1u << (op))
#define OP_READ   (OPB(NGX_HTTP_DDBM_OP_GET) | OPB(NGX_HTTP_DDBM_OP_QUERY))
#define OP_WRITE  (OPB(NGX_HTTP_DDBM_OP_PUT) | OPB(NGX_HTTP_DDBM_OP_UPDATE)   \
                   | OPB(NGX_HTTP_DDBM_OP_DELETE) | OPB(NGX_HTTP_DDBM_OP_CHECK))
#define OP_ANY    (OP_READ | OP_WRITE)
#define OP_EXPR   (OPB(NGX_HTTP_DDBM_OP_QUERY) | OP_WRITE)
#define OP_BATCH  OPB(NGX_HTTP_DDBM_OP_BATCH_GET)
/* the steps that read items: what STEP.attr, found, when missing name */
#define OP_FINDS  (OP_READ | OP_BATCH)


/* a "key SLOT=SOURCE" as written, bound to its slot when the step ends */
typedef struct {
    ngx_str_t                   name;
    ngx_http_ddbm_source_t      source;
    ngx_uint_t                  line;
    unsigned                    used:1;
} ngx_http_ddbm_rkey_t;


/* the parser's state, in cf->handler_conf while a block is parsed */
typedef struct {
    ngx_http_ddbm_main_conf_t  *dmcf;
    dm_rtypes_t                 types;
    ngx_http_ddbm_schema_t     *schema;
    ngx_http_ddbm_item_t       *item;
    ngx_http_ddbm_route_t      *route;
    ngx_http_ddbm_step_t       *step;
    ngx_http_ddbm_step_t       *tx;            /* the transaction read */
    ngx_array_t                 keys;          /* ngx_http_ddbm_rkey_t */
    ngx_uint_t                  sk_line;
    ngx_uint_t                  limit_line;
    ngx_uint_t                  filter_line;
    ngx_uint_t                  consistent_line;
    ngx_array_t                *fields;        /* the answer's or nested */
    ngx_uint_t                  shape_line;
    unsigned                    has_answer:1;
    unsigned                    shape_set:1;
} ngx_http_ddbm_rconf_t;


static void ngx_http_ddbm_rerror(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_uint_t line, const char *fmt, ...);
static char *ngx_http_ddbm_rblock(ngx_conf_t *cf, ngx_command_t *cmds,
    ngx_http_ddbm_rconf_t *rc);
static const dm_rtype_t *ngx_http_ddbm_find_type(void *data,
    const char *name, size_t len);
static const dm_rtype_t *ngx_http_ddbm_type(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_str_t *name);
static void ngx_http_ddbm_type_cleanup(void *data);
static ngx_int_t ngx_http_ddbm_str_eq(ngx_str_t *a, const char *s);

static char *ngx_http_ddbm_schema_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_schema_index(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_schema_item(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_http_ddbm_item_t *ngx_http_ddbm_find_item(
    ngx_http_ddbm_main_conf_t *dmcf, ngx_str_t *name);
static char *ngx_http_ddbm_item_tmpl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_item_attr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_int_t ngx_http_ddbm_source(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_str_t *text, ngx_http_ddbm_source_t *src,
    ngx_uint_t nsteps, uint32_t *deps);
static ngx_int_t ngx_http_ddbm_step_attr(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_http_ddbm_step_t *step, ngx_str_t *attr,
    ngx_http_ddbm_source_t *src);
static ngx_int_t ngx_http_ddbm_step_keep(ngx_http_ddbm_step_t *step,
    ngx_str_t *attr);
static ngx_int_t ngx_http_ddbm_bind_check(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_uint_t line, ngx_http_ddbm_bind_t *b,
    ngx_uint_t key);
static ngx_int_t ngx_http_ddbm_step_ask(ngx_conf_t *cf,
    ngx_http_ddbm_route_t *route, ngx_http_ddbm_step_t *step);
static ngx_int_t ngx_http_ddbm_step_identity(ngx_conf_t *cf,
    ngx_http_ddbm_step_t *step);
static ngx_uint_t ngx_http_ddbm_in_list(ngx_array_t *list, ngx_str_t *s);

static char *ngx_http_ddbm_route_validate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_route_step(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ddbm_step_done(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_http_ddbm_step_t *step);
static ngx_int_t ngx_http_ddbm_batch_done(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_http_ddbm_step_t *step);
static ngx_int_t ngx_http_ddbm_step_init(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_http_ddbm_step_t *step, ngx_str_t *name,
    ngx_uint_t op, ngx_http_ddbm_item_t *item);
static char *ngx_http_ddbm_tx_action(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ddbm_tx_done(ngx_conf_t *cf,
    ngx_http_ddbm_rconf_t *rc, ngx_http_ddbm_step_t *tx);
static char *ngx_http_ddbm_route_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_route_answer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_route_errors(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_errors_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);

static char *ngx_http_ddbm_step_line(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static char *ngx_http_ddbm_answer_line(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_answer_field(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ddbm_answer_nest(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_ddbm_schema_commands[] = {

    { ngx_string("key"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE12,
      ngx_http_ddbm_schema_key, 0, 0, NULL },

    { ngx_string("index"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE23,
      ngx_http_ddbm_schema_index, 0, 0, NULL },

    { ngx_string("item"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_schema_item, 0, 0, NULL },

      ngx_null_command
};


static ngx_command_t  ngx_http_ddbm_item_commands[] = {

    { ngx_string("pk"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_item_tmpl, 0, 0, NULL },

    { ngx_string("sk"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_item_tmpl, 0, 0, NULL },

    { ngx_string("attr"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE2,
      ngx_http_ddbm_item_attr, 0, 0, NULL },

      ngx_null_command
};


static ngx_command_t  ngx_http_ddbm_route_commands[] = {

    { ngx_string("validate"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_2MORE,
      ngx_http_ddbm_route_validate, 0, 0, NULL },

    { ngx_string("step"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE23,
      ngx_http_ddbm_route_step, 0, 0, NULL },

    { ngx_string("check"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_2MORE,
      ngx_http_ddbm_route_check, 0, 0, NULL },

    { ngx_string("answer"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_route_answer, 0, 0, NULL },

    { ngx_string("ddbm_errors"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_NOARGS,
      ngx_http_ddbm_route_errors, 0, 0, NULL },

      ngx_null_command
};


/* a step's lines; "offset" holds the operations each is allowed in */
static ngx_command_t  ngx_http_ddbm_step_commands[] = {

    { ngx_string("key"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_1MORE,
      ngx_http_ddbm_step_line, 0, OP_ANY | OP_BATCH, NULL },

    { ngx_string("index"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_QUERY), NULL },

    { ngx_string("sort_key"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE23,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_QUERY), NULL },

    { ngx_string("order"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_QUERY), NULL },

    { ngx_string("limit"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_QUERY), NULL },

    { ngx_string("fill"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_NOARGS,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_QUERY), NULL },

    { ngx_string("when"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE2,
      ngx_http_ddbm_step_line, 0, OP_READ, NULL },

    { ngx_string("consistent"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_step_line, 0, OP_READ | OP_BATCH, NULL },

    { ngx_string("project"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_1MORE,
      ngx_http_ddbm_step_line, 0, OP_READ | OP_BATCH, NULL },

    { ngx_string("cache"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE12,
      ngx_http_ddbm_step_line, 0, OP_READ, NULL },

    { ngx_string("filter"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_QUERY), NULL },

    { ngx_string("condition"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_step_line, 0, OP_WRITE, NULL },

    { ngx_string("update"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_UPDATE), NULL },

    { ngx_string("set"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_1MORE,
      ngx_http_ddbm_step_line, 0, OPB(NGX_HTTP_DDBM_OP_PUT), NULL },

    { ngx_string("value"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE3,
      ngx_http_ddbm_step_line, 0, OP_EXPR, NULL },

    { ngx_string("name"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE2,
      ngx_http_ddbm_step_line, 0, OP_EXPR, NULL },

      ngx_null_command
};


/* a TransactWriteItems' actions; "offset": the action's operation */
static ngx_command_t  ngx_http_ddbm_tx_commands[] = {

    { ngx_string("put"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_tx_action, 0, NGX_HTTP_DDBM_OP_PUT, NULL },

    { ngx_string("update"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_tx_action, 0, NGX_HTTP_DDBM_OP_UPDATE, NULL },

    { ngx_string("delete"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_tx_action, 0, NGX_HTTP_DDBM_OP_DELETE, NULL },

    { ngx_string("condition_check"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_tx_action, 0, NGX_HTTP_DDBM_OP_CHECK, NULL },

      ngx_null_command
};


static ngx_command_t  ngx_http_ddbm_answer_commands[] = {

    { ngx_string("array"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_NOARGS,
      ngx_http_ddbm_answer_line, 0, 0, NULL },

    { ngx_string("object"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_NOARGS,
      ngx_http_ddbm_answer_line, 0, 0, NULL },

    { ngx_string("reverse"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_NOARGS,
      ngx_http_ddbm_answer_line, 0, 0, NULL },

    { ngx_string("cursor"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE3,
      ngx_http_ddbm_answer_line, 0, 0, NULL },

    { ngx_string("status"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE1,
      ngx_http_ddbm_answer_line, 0, 0, NULL },

    { ngx_string("field"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE23,
      ngx_http_ddbm_answer_field, 0, 0, NULL },

    { ngx_string("nest"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_answer_nest, 0, 0, NULL },

      ngx_null_command
};


static ngx_command_t  ngx_http_ddbm_nest_commands[] = {

    { ngx_string("field"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_TAKE23,
      ngx_http_ddbm_answer_field, 0, 0, NULL },

    { ngx_string("nest"),
      NGX_HTTP_DDBM_RCONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ddbm_answer_nest, 0, 0, NULL },

      ngx_null_command
};


static const char  *ngx_http_ddbm_op_names[] = {
    "GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
    "BatchGetItem", "TransactWriteItems", "ConditionCheck", NULL
};


/* validate's outcome names, indexed by dm_rbind_e */
static const char  *ngx_http_ddbm_outcomes[] = {
    "", "missing", "empty", "invalid", "not_utf8", "too_short", "too_long",
    "out_of_range", "not_allowed", NULL
};


/* ---- helpers ----------------------------------------------------------- */

/*
 * An error at a line of a block (0: the current one), named after the
 * schema or the route it is in: checks made when a block ends point at
 * the line they are about, not at its "}".
 */
static void
ngx_http_ddbm_rerror(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_uint_t line, const char *fmt, ...)
{
    u_char      buf[NGX_MAX_CONF_ERRSTR], *p, *last;
    va_list     args;
    ngx_uint_t  saved;

    p = buf;
    last = buf + sizeof(buf);

    if (rc != NULL && rc->route != NULL) {
        p = ngx_slprintf(p, last, "ddbm_route \"%V\": ", &rc->route->name);

    } else if (rc != NULL && rc->schema != NULL) {
        p = ngx_slprintf(p, last, "ddbm_schema \"%V\": ", &rc->schema->name);
    }

    va_start(args, fmt);
    p = ngx_vslprintf(p, last, fmt, args);
    va_end(args);

    saved = cf->conf_file->line;

    if (line) {
        cf->conf_file->line = line;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", (size_t) (p - buf),
                       buf);

    cf->conf_file->line = saved;
}


/* parses a block's lines with cmds as this module's directives */
static char *
ngx_http_ddbm_rblock(ngx_conf_t *cf, ngx_command_t *cmds,
    ngx_http_ddbm_rconf_t *rc)
{
    char           *rv;
    ngx_conf_t      save;
    ngx_command_t  *commands;

    save = *cf;
    commands = ngx_http_ddbm_module.commands;

    ngx_http_ddbm_module.commands = cmds;
    cf->cmd_type = NGX_HTTP_DDBM_RCONF;
    cf->handler = NULL;
    cf->handler_conf = rc;

    rv = ngx_conf_parse(cf, NULL);

    ngx_http_ddbm_module.commands = commands;
    *cf = save;

    return rv;
}


static const dm_rtype_t *
ngx_http_ddbm_find_type(void *data, const char *name, size_t len)
{
    ngx_http_ddbm_main_conf_t  *dmcf = data;

    dm_rtype_t  **t;
    ngx_uint_t    i;

    if (dmcf->types != NULL) {
        t = dmcf->types->elts;

        for (i = 0; i < dmcf->types->nelts; i++) {
            if (ngx_strlen(t[i]->name) == len
                && ngx_strncmp(t[i]->name, name, len) == 0)
            {
                return t[i];
            }
        }
    }

    return dm_rtype_builtin(name, len);
}


static const dm_rtype_t *
ngx_http_ddbm_type(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_str_t *name)
{
    const dm_rtype_t  *t;

    t = ngx_http_ddbm_find_type(rc->dmcf, (char *) name->data, name->len);

    if (t == NULL) {
        ngx_http_ddbm_rerror(cf, rc, 0, "unknown type \"%V\"", name);
    }

    return t;
}


static void
ngx_http_ddbm_type_cleanup(void *data)
{
    dm_rtype_free(data);
}


static ngx_int_t
ngx_http_ddbm_str_eq(ngx_str_t *a, const char *s)
{
    size_t  len;

    len = ngx_strlen(s);

    return a->len == len && ngx_strncmp(a->data, s, len) == 0;
}


static ngx_int_t
ngx_http_ddbm_name_ok(ngx_str_t *s)
{
    size_t  i;

    if (s->len == 0 || s->len >= DM_ROUTE_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= 'a' && s->data[i] <= 'z')
              || (s->data[i] >= 'A' && s->data[i] <= 'Z')
              || (s->data[i] >= '0' && s->data[i] <= '9')
              || s->data[i] == '_' || s->data[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* ---- ddbm_type NAME BASE [OPTION...] ----------------------------------- */

char *
ngx_http_ddbm_type_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_main_conf_t  *dmcf = conf;

    dm_rerr_t            err;
    dm_rstr_t            name, *args;
    ngx_str_t           *value;
    ngx_uint_t           i, n;
    dm_rtype_t          *t, **tp;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;

    if (ngx_http_ddbm_find_type(dmcf, (char *) value[1].data, value[1].len)
        != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_type \"%V\" is already declared (or is "
                           "built in)", &value[1]);
        return NGX_CONF_ERROR;
    }

    n = cf->args->nelts - 2;

    args = ngx_palloc(cf->pool, n * sizeof(dm_rstr_t));
    t = ngx_pcalloc(cf->pool, sizeof(dm_rtype_t));
    if (args == NULL || t == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        args[i].data = (char *) value[i + 2].data;
        args[i].len = value[i + 2].len;
    }

    name.data = (char *) value[1].data;
    name.len = value[1].len;

    if (dm_rtype_compile(t, name, args, n, &err) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm_type \"%V\": %s",
                           &value[1], err.msg);
        return NGX_CONF_ERROR;
    }

    /* a regex, the enum values: released with the configuration */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        dm_rtype_free(t);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ddbm_type_cleanup;
    cln->data = t;

    if (dmcf->types == NULL) {
        dmcf->types = ngx_array_create(cf->pool, 8, sizeof(dm_rtype_t *));
        if (dmcf->types == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    tp = ngx_array_push(dmcf->types);
    if (tp == NULL) {
        return NGX_CONF_ERROR;
    }

    *tp = t;

    return NGX_CONF_OK;
}


/* ---- ddbm_schema NAME TABLE { key; index; item {} } -------------------- */

char *
ngx_http_ddbm_schema_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ddbm_main_conf_t  *dmcf = conf;

    char                     *rv;
    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_http_ddbm_rconf_t     rc;
    ngx_http_ddbm_schema_t   *schema, **sp;

    value = cf->args->elts;

    if (dmcf->schemas == NULL) {
        dmcf->schemas = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_ddbm_schema_t *));
        if (dmcf->schemas == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    sp = dmcf->schemas->elts;

    for (i = 0; i < dmcf->schemas->nelts; i++) {
        if (sp[i]->name.len == value[1].len
            && ngx_strncmp(sp[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ddbm_schema \"%V\" is duplicate", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    schema = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_schema_t));
    if (schema == NULL) {
        return NGX_CONF_ERROR;
    }

    schema->name = value[1];
    schema->table = value[2];
    schema->file = cf->conf_file->file.name;
    schema->line = cf->conf_file->line;

    if (ngx_array_init(&schema->indexes, cf->pool, 2,
                       sizeof(ngx_http_ddbm_index_t)) != NGX_OK
        || ngx_array_init(&schema->items, cf->pool, 8,
                          sizeof(ngx_http_ddbm_item_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&rc, sizeof(ngx_http_ddbm_rconf_t));
    rc.dmcf = dmcf;
    rc.types.find = ngx_http_ddbm_find_type;
    rc.types.data = dmcf;
    rc.schema = schema;

    /* its items are found by name while it is read (item name clashes) */
    sp = ngx_array_push(dmcf->schemas);
    if (sp == NULL) {
        return NGX_CONF_ERROR;
    }

    *sp = schema;

    rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_schema_commands, &rc);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (schema->pk.len == 0) {
        ngx_http_ddbm_rerror(cf, &rc, schema->line, "no \"key\" line");
        return NGX_CONF_ERROR;
    }

    if (schema->items.nelts == 0) {
        ngx_http_ddbm_rerror(cf, &rc, schema->line, "no item");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_schema_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    ngx_str_t  *value;

    value = cf->args->elts;

    if (rc->schema->pk.len) {
        ngx_http_ddbm_rerror(cf, rc, 0, "\"key\" is duplicate");
        return NGX_CONF_ERROR;
    }

    if (rc->schema->items.nelts) {
        ngx_http_ddbm_rerror(cf, rc, 0, "\"key\" must come before the items");
        return NGX_CONF_ERROR;
    }

    rc->schema->pk = value[1];

    if (cf->args->nelts == 3) {
        rc->schema->sk = value[2];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_schema_index(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_http_ddbm_index_t  *idx;

    value = cf->args->elts;
    idx = rc->schema->indexes.elts;

    for (i = 0; i < rc->schema->indexes.nelts; i++) {
        if (idx[i].name.len == value[1].len
            && ngx_strncmp(idx[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "index \"%V\" is duplicate",
                                 &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    idx = ngx_array_push(&rc->schema->indexes);
    if (idx == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(idx, sizeof(ngx_http_ddbm_index_t));
    idx->name = value[1];
    idx->pk = value[2];

    if (cf->args->nelts == 4) {
        idx->sk = value[3];
    }

    return NGX_CONF_OK;
}


static ngx_http_ddbm_item_t *
ngx_http_ddbm_find_item(ngx_http_ddbm_main_conf_t *dmcf, ngx_str_t *name)
{
    ngx_uint_t                i, j;
    ngx_http_ddbm_item_t     *item;
    ngx_http_ddbm_schema_t  **sp;

    if (dmcf->schemas == NULL) {
        return NULL;
    }

    sp = dmcf->schemas->elts;

    for (i = 0; i < dmcf->schemas->nelts; i++) {
        item = sp[i]->items.elts;

        for (j = 0; j < sp[i]->items.nelts; j++) {
            if (item[j].name.len == name->len
                && ngx_strncmp(item[j].name.data, name->data, name->len) == 0)
            {
                return &item[j];
            }
        }
    }

    return NULL;
}


static char *
ngx_http_ddbm_schema_item(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    char                  *rv;
    ngx_str_t             *value;
    ngx_uint_t             line;
    ngx_http_ddbm_item_t  *item;

    value = cf->args->elts;
    line = cf->conf_file->line;

    if (rc->schema->pk.len == 0) {
        ngx_http_ddbm_rerror(cf, rc, 0, "\"key\" must come before the items");
        return NGX_CONF_ERROR;
    }

    /* steps name items, not schemas: one name, one item */
    if (ngx_http_ddbm_find_item(rc->dmcf, &value[1]) != NULL) {
        ngx_http_ddbm_rerror(cf, rc, 0, "item \"%V\" is duplicate (item "
                             "names are unique in the configuration)",
                             &value[1]);
        return NGX_CONF_ERROR;
    }

    item = ngx_array_push(&rc->schema->items);
    if (item == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(item, sizeof(ngx_http_ddbm_item_t));
    item->name = value[1];
    item->schema = rc->schema;

    if (ngx_array_init(&item->attrs, cf->pool, 8,
                       sizeof(ngx_http_ddbm_attr_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rc->item = item;
    rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_item_commands, rc);
    rc->item = NULL;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (item->pk.nparts == 0) {
        ngx_http_ddbm_rerror(cf, rc, line, "item \"%V\" has no pk template",
                             &item->name);
        return NGX_CONF_ERROR;
    }

    if (rc->schema->sk.len && item->sk.nparts == 0) {
        ngx_http_ddbm_rerror(cf, rc, line, "item \"%V\" has no sk template: "
                             "the table's key has the sort key \"%V\"",
                             &item->name, &rc->schema->sk);
        return NGX_CONF_ERROR;
    }

    if (rc->schema->sk.len == 0 && item->sk.nparts) {
        ngx_http_ddbm_rerror(cf, rc, line, "item \"%V\" has an sk template "
                             "but the table's key has no sort key",
                             &item->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_item_tmpl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    dm_rerr_t    err;
    ngx_str_t   *value;
    dm_rtmpl_t  *t;

    value = cf->args->elts;
    t = (value[0].data[0] == 'p') ? &rc->item->pk : &rc->item->sk;

    if (t->nparts) {
        ngx_http_ddbm_rerror(cf, rc, 0, "item \"%V\": \"%V\" is duplicate",
                             &rc->item->name, &value[0]);
        return NGX_CONF_ERROR;
    }

    /* the template keeps pointers into the text: cf->pool's, it stays */
    if (dm_rtmpl_parse(t, (char *) value[1].data, value[1].len, &rc->types,
                       &err) != 0)
    {
        ngx_http_ddbm_rerror(cf, rc, 0, "item \"%V\": %s",
                             &rc->item->name, err.msg);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_item_attr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    ngx_str_t             *value;
    ngx_uint_t             i;
    const dm_rtype_t      *type;
    ngx_http_ddbm_attr_t  *a;

    value = cf->args->elts;

    if ((value[1].len == rc->schema->pk.len
         && ngx_strncmp(value[1].data, rc->schema->pk.data, value[1].len)
            == 0)
        || (value[1].len == rc->schema->sk.len
            && ngx_strncmp(value[1].data, rc->schema->sk.data, value[1].len)
               == 0))
    {
        ngx_http_ddbm_rerror(cf, rc, 0, "item \"%V\": \"%V\" is the table's "
                             "key, given by the pk and sk templates",
                             &rc->item->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    a = rc->item->attrs.elts;

    for (i = 0; i < rc->item->attrs.nelts; i++) {
        if (a[i].name.len == value[1].len
            && ngx_strncmp(a[i].name.data, value[1].data, value[1].len) == 0)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "item \"%V\": attribute \"%V\" "
                                 "is duplicate", &rc->item->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    type = ngx_http_ddbm_type(cf, rc, &value[2]);
    if (type == NULL) {
        return NGX_CONF_ERROR;
    }

    a = ngx_array_push(&rc->item->attrs);
    if (a == NULL) {
        return NGX_CONF_ERROR;
    }

    a->name = value[1];
    a->type = type;

    return NGX_CONF_OK;
}


/* ---- values and where they come from ----------------------------------- */

static ngx_http_ddbm_step_t *
ngx_http_ddbm_find_step(ngx_http_ddbm_rconf_t *rc, u_char *name, size_t len,
    ngx_uint_t nsteps)
{
    ngx_uint_t             i;
    ngx_http_ddbm_step_t  *step;

    step = rc->route->steps.elts;

    for (i = 0; i < nsteps; i++) {
        if (step[i].name.len == len
            && ngx_strncmp(step[i].name.data, name, len) == 0)
        {
            return &step[i];
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_ddbm_is_number(ngx_str_t *s)
{
    size_t  i;

    i = (s->len && s->data[0] == '-') ? 1 : 0;

    if (i == s->len) {
        return 0;
    }

    for ( /* void */ ; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return 0;
        }
    }

    return 1;
}


/* a request source's type, if a validate line declared one for it */
static const dm_rtype_t *
ngx_http_ddbm_validated(ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_source_t *src)
{
    ngx_uint_t                 i;
    ngx_http_ddbm_validate_t  *v;

    v = rc->route->validates.elts;

    for (i = 0; i < rc->route->validates.nelts; i++) {
        if (v[i].source.kind == src->kind
            && v[i].source.name.len == src->name.len
            && ngx_strncmp(v[i].source.name.data, src->name.data,
                           src->name.len) == 0)
        {
            return v[i].type;
        }
    }

    return NULL;
}


/* is the variable a named capture of this location's regex? */
static ngx_int_t
ngx_http_ddbm_capture(ngx_conf_t *cf, ngx_int_t index)
{
#if (NGX_PCRE)
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->regex == NULL) {
        return NGX_DECLINED;
    }

    for (i = 0; i < clcf->regex->nvariables; i++) {
        if (clcf->regex->variables[i].index == index) {
            return NGX_OK;
        }
    }
#endif

    return NGX_DECLINED;
}


/*
 * SOURCE[|DEFAULT] as the grammar's table says.  nsteps: the steps it
 * may read (those written before); deps collects them.
 */
static ngx_int_t
ngx_http_ddbm_source(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_str_t *text, ngx_http_ddbm_source_t *src, ngx_uint_t nsteps,
    uint32_t *deps)
{
    u_char                *p, *bar, *dot, *end;
    size_t                 depth;
    ngx_str_t              s, def, var;
    ngx_http_ddbm_step_t  *step;

    ngx_memzero(src, sizeof(ngx_http_ddbm_source_t));
    src->text = *text;
    src->index = NGX_ERROR;

    /* SOURCE|DEFAULT: the first '|' outside parentheses */
    bar = NULL;
    depth = 0;
    end = text->data + text->len;

    for (p = text->data; p < end; p++) {
        if (*p == '(') {
            depth++;

        } else if (*p == ')' && depth) {
            depth--;

        } else if (*p == '|' && depth == 0) {
            bar = p;
            break;
        }
    }

    s.data = text->data;
    s.len = bar ? (size_t) (bar - text->data) : text->len;

    if (bar) {
        def.data = bar + 1;
        def.len = end - def.data;

        if (ngx_http_ddbm_is_number(&def)) {
            src->literal = def;

        } else if (def.len > 4 && ngx_strncmp(def.data, "lit:", 4) == 0) {
            src->literal.data = def.data + 4;
            src->literal.len = def.len - 4;

        } else {
            ngx_http_ddbm_rerror(cf, rc, 0, "the default of \"%V\" must be a "
                                 "number or lit:TEXT", text);
            return NGX_ERROR;
        }

        src->has_default = 1;
    }

#define PREFIX(str)                                                           \
    (s.len > sizeof(str) - 1                                                  \
     && ngx_strncmp(s.data, str, sizeof(str) - 1) == 0)

    if (PREFIX("path:") || PREFIX("claim:") || s.data[0] == '$') {
        src->kind = NGX_HTTP_DDBM_SRC_VAR;

        if (s.data[0] == '$') {
            var.data = s.data + 1;
            var.len = s.len - 1;

        } else if (s.data[0] == 'p') {
            var.data = s.data + 5;
            var.len = s.len - 5;

        } else {
            var.len = sizeof("ddbm_jwt_") - 1 + s.len - 6;
            var.data = ngx_pnalloc(cf->pool, var.len);
            if (var.data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(var.data, "ddbm_jwt_%*s", s.len - 6, s.data + 6);
        }

        if (var.len == 0) {
            goto unknown;
        }

        if (s.data[0] == 'c'
            && !ngx_http_ddbm_str_eq(&var, "ddbm_jwt_sub")
            && !ngx_http_ddbm_str_eq(&var, "ddbm_jwt_username")
            && !ngx_http_ddbm_str_eq(&var, "ddbm_jwt_client_id"))
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\": the verified token's "
                                 "claims are sub, username and client_id",
                                 text);
            return NGX_ERROR;
        }

        src->name = var;
        src->index = ngx_http_get_variable_index(cf, &var);
        if (src->index == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (s.data[0] == 'p'
            && ngx_http_ddbm_capture(cf, src->index) != NGX_OK)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\" is no named capture "
                                 "(?<%V>...) of the location's regex",
                                 text, &var);
            return NGX_ERROR;
        }

        src->type = ngx_http_ddbm_validated(rc, src);
        return NGX_OK;
    }

    if (PREFIX("arg:") || PREFIX("body:")) {
        src->kind = (s.data[0] == 'a') ? NGX_HTTP_DDBM_SRC_ARG
                                       : NGX_HTTP_DDBM_SRC_BODY;
        src->name.data = ngx_strlchr(s.data, s.data + s.len, ':') + 1;
        src->name.len = s.data + s.len - src->name.data;

        if (src->kind == NGX_HTTP_DDBM_SRC_BODY) {
            rc->route->reads_body = 1;
        }

        src->type = ngx_http_ddbm_validated(rc, src);
        return NGX_OK;
    }

    if (s.len == 8 && ngx_strncmp(s.data, "identity", 8) == 0) {
        src->kind = NGX_HTTP_DDBM_SRC_IDENTITY;
        rc->route->needs_identity = 1;
        src->type = ngx_http_ddbm_validated(rc, src);
        return NGX_OK;
    }

    if (PREFIX("lit:")) {
        src->kind = NGX_HTTP_DDBM_SRC_LITERAL;
        src->literal.data = s.data + 4;
        src->literal.len = s.len - 4;
        return NGX_OK;
    }

    if (ngx_http_ddbm_is_number(&s)) {
        src->kind = NGX_HTTP_DDBM_SRC_LITERAL;
        src->literal = s;
        return NGX_OK;
    }

    if (s.len == 7 && ngx_strncmp(s.data, "uuid4()", 7) == 0) {
        src->kind = NGX_HTTP_DDBM_SRC_UUID4;
        src->type = dm_rtype_builtin("uuid", 4);
        return NGX_OK;
    }

    if (s.len == 5 && ngx_strncmp(s.data, "now()", 5) == 0) {
        src->kind = NGX_HTTP_DDBM_SRC_NOW;
        src->type = dm_rtype_builtin("time", 4);
        return NGX_OK;
    }

    if (PREFIX("later_than(") && s.data[s.len - 1] == ')') {
        src->kind = NGX_HTTP_DDBM_SRC_LATER_THAN;
        src->type = dm_rtype_builtin("time", 4);

        var.data = s.data + sizeof("later_than(") - 1;
        var.len = s.len - sizeof("later_than(");

        src->arg = ngx_palloc(cf->pool, sizeof(ngx_http_ddbm_source_t));
        if (src->arg == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_ddbm_source(cf, rc, &var, src->arg, nsteps, deps)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (src->arg->type != NULL
            && src->arg->type != dm_rtype_builtin("time", 4))
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "type mismatch against the "
                                 "schema: later_than() takes a time, "
                                 "\"%V\" is a %s", &var, src->arg->type->name);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

#undef PREFIX

    /* STEP.attr, STEP[].attr */
    dot = ngx_strlchr(s.data, s.data + s.len, '.');
    if (dot == NULL || dot == s.data || dot == s.data + s.len - 1) {
        goto unknown;
    }

    var.data = s.data;
    var.len = dot - s.data;
    src->kind = NGX_HTTP_DDBM_SRC_STEP;

    if (var.len > 2 && var.data[var.len - 2] == '['
        && var.data[var.len - 1] == ']')
    {
        var.len -= 2;
        src->kind = NGX_HTTP_DDBM_SRC_STEP_ALL;
    }

    if (!ngx_http_ddbm_name_ok(&var)) {
        goto unknown;
    }

    src->name.data = dot + 1;
    src->name.len = s.data + s.len - src->name.data;

    step = ngx_http_ddbm_find_step(rc, var.data, var.len, nsteps);

    if (step == NULL) {
        if (rc->step && rc->step->name.len == var.len
            && ngx_strncmp(rc->step->name.data, var.data, var.len) == 0)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\": step \"%V\" cannot read "
                                 "its own item", text, &var);

        } else {
            ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\": \"%V\" is not a step "
                                 "written before this line: no earlier step "
                                 "can supply it", text, &var);
        }

        return NGX_ERROR;
    }

    if (src->kind == NGX_HTTP_DDBM_SRC_STEP_ALL
        && step->op != NGX_HTTP_DDBM_OP_QUERY
        && step->op != NGX_HTTP_DDBM_OP_BATCH_GET)
    {
        ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\": step \"%V\" is a %s, not a "
                             "Query: it has no items to read with []", text,
                             &var, ngx_http_ddbm_op_names[step->op]);
        return NGX_ERROR;
    }

    if (src->kind == NGX_HTTP_DDBM_SRC_STEP
        && step->op == NGX_HTTP_DDBM_OP_BATCH_GET)
    {
        /* which of its items would it be: none is first */
        ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\": step \"%V\" is a "
                             "BatchGetItem: its items are a list, read as "
                             "%V[].%V", text, &var, &var, &src->name);
        return NGX_ERROR;
    }

    src->step = step->index;

    if (deps) {
        *deps |= 1u << step->index;
    }

    return ngx_http_ddbm_step_attr(cf, rc, step, &src->name, src);

unknown:

    ngx_http_ddbm_rerror(cf, rc, 0, "unknown source \"%V\" (path:NAME, "
                         "arg:NAME, body:a.b, claim:NAME, $var, identity, "
                         "STEP.attr, STEP[].attr, lit:TEXT, a number, "
                         "uuid4(), now(), later_than(SOURCE))", text);
    return NGX_ERROR;
}


/*
 * STEP.attr: the step's item must have it (an attribute, the table's key
 * or a slot of a key template), its projection must include it, and the
 * step then keeps it for its readers.
 */
static ngx_int_t
ngx_http_ddbm_step_attr(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_step_t *step, ngx_str_t *attr, ngx_http_ddbm_source_t *src)
{
    size_t                   n;
    ngx_str_t               *stored, *s, *pk, *sk;
    ngx_uint_t               i, t, found;
    const dm_rtmpl_t        *tmpl;
    const dm_rtype_t        *type;
    ngx_http_ddbm_attr_t    *a;
    ngx_http_ddbm_item_t    *item;
    const dm_rtmpl_part_t   *part;

    item = step->item;

    /* an UpdateItem reads the item it wrote: ReturnValues ALL_NEW */
    if (!(OPB(step->op) & (OP_FINDS | OPB(NGX_HTTP_DDBM_OP_UPDATE)))) {
        ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\": step \"%V\" is a %s: it "
                             "reads no item", attr, &step->name,
                             ngx_http_ddbm_op_names[step->op]);
        return NGX_ERROR;
    }

    pk = &item->schema->pk;
    sk = &item->schema->sk;
    stored = attr;
    type = NULL;
    tmpl = NULL;
    found = 0;

    a = item->attrs.elts;

    for (i = 0; i < item->attrs.nelts; i++) {
        if (a[i].name.len == attr->len
            && ngx_strncmp(a[i].name.data, attr->data, attr->len) == 0)
        {
            type = a[i].type;
            found = 1;
            break;
        }
    }

    if (!found
        && ((attr->len == pk->len
             && ngx_strncmp(attr->data, pk->data, attr->len) == 0)
            || (sk->len && attr->len == sk->len
                && ngx_strncmp(attr->data, sk->data, attr->len) == 0)))
    {
        found = 1;     /* the key as stored: text */
    }

    /* a slot of a key template: split out of the key attribute */
    for (t = 0; !found && t < 2; t++) {
        tmpl = (t == 0) ? &item->pk : &item->sk;

        for (n = 0; n < tmpl->nslots; n++) {
            part = dm_rtmpl_slot(tmpl, n);

            if (ngx_strlen(part->name) == attr->len
                && ngx_strncmp(part->name, attr->data, attr->len) == 0)
            {
                type = part->type;
                stored = (t == 0) ? pk : sk;
                found = 1;

                if (src) {
                    src->tmpl = tmpl;
                    src->slot = n;
                }

                break;
            }
        }
    }

    if (!found) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\" cannot supply \"%V\": "
                             "item \"%V\" declares no such attribute or key "
                             "slot", &step->name, attr, &item->name);
        return NGX_ERROR;
    }

    /* a BatchGetItem asks its key whatever its projection (step_ask) */
    if (step->project
        && !(step->op == NGX_HTTP_DDBM_OP_BATCH_GET
             && ((sk->len && stored->len == sk->len
                  && ngx_strncmp(stored->data, sk->data, sk->len) == 0)
                 || (stored->len == pk->len
                     && ngx_strncmp(stored->data, pk->data, pk->len) == 0))))
    {
        s = step->project->elts;

        for (i = 0; i < step->project->nelts; i++) {
            if (s[i].len == stored->len
                && ngx_strncmp(s[i].data, stored->data, stored->len) == 0)
            {
                break;
            }
        }

        if (i == step->project->nelts) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\" cannot supply "
                                 "\"%V\": its \"project\" leaves \"%V\" out",
                                 &step->name, attr, stored);
            return NGX_ERROR;
        }
    }

    if (src) {
        src->type = type;
    }

    return ngx_http_ddbm_step_keep(step, stored);
}


/* what the engine keeps of the step's answer (or of what a PutItem wrote) */
static ngx_int_t
ngx_http_ddbm_step_keep(ngx_http_ddbm_step_t *step, ngx_str_t *attr)
{
    ngx_str_t  *s;

    if (ngx_http_ddbm_read_index(step, attr) >= 0) {
        return NGX_OK;
    }

    s = ngx_array_push(&step->reads);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *attr;

    return NGX_OK;
}


/*
 * A value bound where a type is expected: a known type must be that type
 * (the schema's), a literal must pass it now, and a key slot's type must
 * not hold '#' (dm_rtmpl_parse refuses such slots already; an index's
 * key attribute is checked here).
 */
static ngx_int_t
ngx_http_ddbm_bind_check(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_uint_t line, ngx_http_ddbm_bind_t *b, ngx_uint_t key)
{
    u_char                  buf[512];
    dm_rval_t               v;
    dm_rbind_e              rv;
    ngx_str_t              *lit;
    ngx_http_ddbm_source_t *src;

    src = &b->source;

    if (b->type == NULL) {
        return NGX_OK;
    }

    if (src->type != NULL && src->type != b->type
        && ngx_strcmp(src->type->name, b->type->name) != 0)
    {
        ngx_http_ddbm_rerror(cf, rc, line, "type mismatch against the "
                             "schema: \"%V\" is a %s, \"%V\" takes a %s",
                             &src->text, src->type->name, &b->name,
                             b->type->name);
        return NGX_ERROR;
    }

    /* key 2: a BatchGetItem's key, one per item of the list */
    if (src->kind == NGX_HTTP_DDBM_SRC_STEP_ALL && key != 2) {
        ngx_http_ddbm_rerror(cf, rc, line, "\"%V\" is a list: \"%V\" takes "
                             "one value", &src->text, &b->name);
        return NGX_ERROR;
    }

    if (key && dm_rtype_may_hold_hash(b->type)) {
        ngx_http_ddbm_rerror(cf, rc, line, "a value from the request would "
                             "reach the key \"%V\" untyped: its type \"%s\" "
                             "may hold '#'", &b->name, b->type->name);
        return NGX_ERROR;
    }

    lit = NULL;

    if (src->kind == NGX_HTTP_DDBM_SRC_LITERAL) {
        lit = &src->literal;

    } else if (src->has_default) {
        lit = &src->literal;
    }

    if (lit) {
        rv = dm_rtype_bind(b->type, (char *) lit->data, lit->len,
                           (char *) buf, sizeof(buf), &v);

        if (rv != DM_RBIND_OK) {
            ngx_http_ddbm_rerror(cf, rc, line, "the literal \"%V\" is no %s "
                                 "(%s), as \"%V\" needs", lit,
                                 b->type->name, dm_rbind_name(rv), &b->name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * What a GetItem or Query asks back: its explicit projection, or what is
 * read of it (NULL: the whole item, for an answer of nested fields)
 */
static ngx_int_t
ngx_http_ddbm_step_ask(ngx_conf_t *cf, ngx_http_ddbm_route_t *route,
    ngx_http_ddbm_step_t *step)
{
    ngx_str_t               *a, attr, *p;
    ngx_uint_t               i;
    ngx_http_ddbm_answer_t  *ans;

    step->ask = NULL;

    if (!(OPB(step->op) & OP_FINDS)) {
        return NGX_OK;
    }

    if (step->project && step->op == NGX_HTTP_DDBM_OP_BATCH_GET) {
        /* the key too, whatever the projection: items matched to keys */
        step->ask = ngx_array_create(cf->pool, step->project->nelts + 2,
                                     sizeof(ngx_str_t));
        if (step->ask == NULL) {
            return NGX_ERROR;
        }

        a = step->project->elts;

        for (i = 0; i < step->project->nelts + 2; i++) {
            attr = (i < step->project->nelts)
                   ? a[i]
                   : (i == step->project->nelts) ? step->item->schema->pk
                                                 : step->item->schema->sk;

            if (attr.len == 0
                || (i >= step->project->nelts
                    && ngx_http_ddbm_in_list(step->project, &attr)))
            {
                continue;
            }

            p = ngx_array_push(step->ask);
            if (p == NULL) {
                return NGX_ERROR;
            }

            *p = attr;
        }

        return NGX_OK;
    }

    if (step->project) {
        step->ask = step->project;
        return NGX_OK;
    }

    ans = &route->answer;

    if (ans->step == step->index && ans->map == NULL) {
        return NGX_OK;              /* nested fields: the whole item */
    }

    step->ask = ngx_array_create(cf->pool, step->reads.nelts + ans->nmap + 1,
                                 sizeof(ngx_str_t));
    if (step->ask == NULL) {
        return NGX_ERROR;
    }

    a = step->reads.elts;

    for (i = 0; i < step->reads.nelts; i++) {
        p = ngx_array_push(step->ask);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = a[i];
    }

    if (ans->step == step->index) {
        for (i = 0; i < ans->nmap; i++) {
            attr.data = (u_char *) ans->map[i].attr;
            attr.len = ngx_strlen(ans->map[i].attr);

            /* DynamoDB refuses a path asked twice */
            if (ngx_http_ddbm_read_index(step, &attr) >= 0) {
                continue;
            }

            p = ngx_array_push(step->ask);
            if (p == NULL) {
                return NGX_ERROR;
            }

            *p = attr;
        }
    }

    if (step->ask->nelts == 0) {
        /* found or not is all that is asked: the smallest answer */
        p = ngx_array_push(step->ask);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = step->item->schema->pk;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_ddbm_in_list(ngx_array_t *list, ngx_str_t *s)
{
    ngx_str_t   *x;
    ngx_uint_t   i;

    x = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (x[i].len == s->len && ngx_memcmp(x[i].data, s->data, s->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_ddbm_same_list(ngx_array_t *a, ngx_array_t *b)
{
    ngx_str_t   *x, *y;
    ngx_uint_t   i;

    if (a->nelts != b->nelts) {
        return 0;
    }

    x = a->elts;
    y = b->elts;

    for (i = 0; i < a->nelts; i++) {
        if (x[i].len != y[i].len
            || ngx_memcmp(x[i].data, y[i].data, x[i].len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A cached read's request less its bound values (which the engine adds):
 * every part that shapes the request or what the cache keeps of its
 * answer, each length-prefixed, lists with their count first, so that
 * two different requests never share a key whatever bytes they hold
 */
static ngx_int_t
ngx_http_ddbm_step_identity(ngx_conf_t *cf, ngx_http_ddbm_step_t *step)
{
    u_char                  *p, flags[10];
    size_t                   size;
    ngx_str_t               *s, none, *part[5];
    ngx_uint_t               i, n;
    dm_rname_t              *names;
    ngx_array_t             *list[2];
    ngx_http_ddbm_bind_t    *v;
    ngx_http_ddbm_schema_t  *schema;

    ngx_str_null(&step->cache_id);

    if (!step->cache || (step->op != NGX_HTTP_DDBM_OP_GET
                         && step->op != NGX_HTTP_DDBM_OP_QUERY))
    {
        return NGX_OK;
    }

    schema = step->item->schema;
    ngx_str_null(&none);

    flags[0] = (u_char) step->op;
    flags[1] = (u_char) step->sk_op;
    flags[2] = step->forward;
    flags[3] = step->consistent;
    flags[4] = step->ddb_index != NULL;
    /* what is asked back: the whole item (0), what is read (1), a list */
    flags[5] = (step->ask == NULL) ? 0
               : ngx_http_ddbm_same_list(step->ask, &step->reads) ? 1 : 2;
    flags[6] = step->limit.source.kind != NGX_HTTP_DDBM_SRC_NONE;
    flags[7] = step->condition != NULL;
    flags[8] = step->update != NULL;
    flags[9] = step->filter != NULL;

    part[0] = &schema->pk;
    part[1] = &schema->sk;
    part[2] = step->ddb_index ? &step->ddb_index->name : &none;
    part[3] = step->ddb_index ? &step->ddb_index->pk : &none;
    part[4] = step->ddb_index ? &step->ddb_index->sk : &none;
    list[0] = (flags[5] == 2) ? step->ask : NULL;
    list[1] = &step->reads;

    /* the size: at most NGX_HTTP_DDBM_ID_LEN a part */
    size = NGX_HTTP_DDBM_ID_LEN(sizeof(flags));

    for (i = 0; i < 5; i++) {
        size += NGX_HTTP_DDBM_ID_LEN(part[i]->len);
    }

    size += NGX_HTTP_DDBM_ID_LEN(step->condition
                                 ? step->condition->text.len : 0)
            + NGX_HTTP_DDBM_ID_LEN(step->update ? step->update->text.len : 0)
            + NGX_HTTP_DDBM_ID_LEN(step->filter ? step->filter->text.len : 0);

    for (i = 0; i < 2; i++) {
        size += NGX_HTTP_DDBM_ID_LEN(0);

        if (list[i] == NULL) {
            continue;
        }

        s = list[i]->elts;

        for (n = 0; n < list[i]->nelts; n++) {
            size += NGX_HTTP_DDBM_ID_LEN(s[n].len);
        }
    }

    names = step->names.elts;
    size += NGX_HTTP_DDBM_ID_LEN(0);

    for (n = 0; n < step->names.nelts; n++) {
        size += NGX_HTTP_DDBM_ID_LEN(names[n].alias.len)
                + NGX_HTTP_DDBM_ID_LEN(names[n].attr.len);
    }

    v = step->values.elts;
    size += NGX_HTTP_DDBM_ID_LEN(0);

    for (n = 0; n < step->values.nelts; n++) {
        size += NGX_HTTP_DDBM_ID_LEN(v[n].name.len);
    }

    p = ngx_pnalloc(cf->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    step->cache_id.data = p;

    p = ngx_http_ddbm_id_put(p, flags, sizeof(flags));

    for (i = 0; i < 5; i++) {
        p = ngx_http_ddbm_id_put(p, part[i]->data, part[i]->len);
    }

    p = step->condition
        ? ngx_http_ddbm_id_put(p, (u_char *) step->condition->text.data,
                               step->condition->text.len)
        : ngx_http_ddbm_id_put(p, NULL, 0);
    p = step->update
        ? ngx_http_ddbm_id_put(p, (u_char *) step->update->text.data,
                               step->update->text.len)
        : ngx_http_ddbm_id_put(p, NULL, 0);
    p = step->filter
        ? ngx_http_ddbm_id_put(p, (u_char *) step->filter->text.data,
                               step->filter->text.len)
        : ngx_http_ddbm_id_put(p, NULL, 0);

    /* lists: their count (as a length), then their members */
    for (i = 0; i < 2; i++) {
        if (list[i] == NULL) {
            p = ngx_http_ddbm_id_put(p, NULL, 0);
            continue;
        }

        p = ngx_http_ddbm_id_put(p, NULL, list[i]->nelts);
        s = list[i]->elts;

        for (n = 0; n < list[i]->nelts; n++) {
            p = ngx_http_ddbm_id_put(p, s[n].data, s[n].len);
        }
    }

    p = ngx_http_ddbm_id_put(p, NULL, step->names.nelts);

    for (n = 0; n < step->names.nelts; n++) {
        p = ngx_http_ddbm_id_put(p, (u_char *) names[n].alias.data,
                                 names[n].alias.len);
        p = ngx_http_ddbm_id_put(p, (u_char *) names[n].attr.data,
                                 names[n].attr.len);
    }

    p = ngx_http_ddbm_id_put(p, NULL, step->values.nelts);

    for (n = 0; n < step->values.nelts; n++) {
        p = ngx_http_ddbm_id_put(p, v[n].name.data, v[n].name.len);
    }

    step->cache_id.len = p - step->cache_id.data;

    return NGX_OK;
}


/* ---- ddbm_route NAME METHOD... { ... } --------------------------------- */

char *
ngx_http_ddbm_route_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    char                        *rv;
    uint32_t                     deps;
    ngx_str_t                   *value;
    ngx_uint_t                   i, j, line;
    ngx_http_ddbm_step_t        *step;
    ngx_http_ddbm_check_t       *check;
    ngx_http_ddbm_rconf_t        rc;
    ngx_http_ddbm_route_t       *route, **rp, *prev;
    ngx_http_ddbm_main_conf_t   *dmcf;
    ngx_http_core_loc_conf_t    *clcf;

    static struct {
        const char  *name;
        ngx_uint_t   method;
    } methods[] = {
        { "GET", NGX_HTTP_GET }, { "HEAD", NGX_HTTP_HEAD },
        { "POST", NGX_HTTP_POST }, { "PUT", NGX_HTTP_PUT },
        { "PATCH", NGX_HTTP_PATCH }, { "DELETE", NGX_HTTP_DELETE },
        { NULL, 0 }
    };

    /* several routes in a location: one per method (route->next) */
    if (dlcf->pattern && dlcf->pattern->route == NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    line = cf->conf_file->line;
    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ddbm_module);

    if (!ngx_http_ddbm_name_ok(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm_route: \"%V\" is no "
                           "route name (letters, digits, _ and -, at most "
                           "%d)", &value[1], DM_ROUTE_NAME_MAX - 1);
        return NGX_CONF_ERROR;
    }

    if (dmcf->routes == NULL) {
        dmcf->routes = ngx_array_create(cf->pool, 8,
                                        sizeof(ngx_http_ddbm_route_t *));
        if (dmcf->routes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rp = dmcf->routes->elts;

    for (i = 0; i < dmcf->routes->nelts; i++) {
        if (rp[i]->name.len == value[1].len
            && ngx_strncmp(rp[i]->name.data, value[1].data, value[1].len)
               == 0
            /* one declaration included in several locations: one name */
            && !(rp[i]->line == line
                 && rp[i]->file.len == cf->conf_file->file.name.len
                 && ngx_strncmp(rp[i]->file.data,
                                cf->conf_file->file.name.data,
                                rp[i]->file.len) == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm_route \"%V\" is "
                               "duplicate (first at %V:%ui)", &value[1],
                               &rp[i]->file, rp[i]->line);
            return NGX_CONF_ERROR;
        }
    }

    route = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_route_t));
    if (route == NULL) {
        return NGX_CONF_ERROR;
    }

    route->name = value[1];
    route->file = cf->conf_file->file.name;
    route->line = line;

    for (i = 2; i < cf->args->nelts; i++) {
        for (j = 0; methods[j].name; j++) {
            if (ngx_http_ddbm_str_eq(&value[i], methods[j].name)) {
                break;
            }
        }

        if (methods[j].name == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm_route \"%V\": "
                               "unknown method \"%V\" (GET HEAD POST PUT "
                               "PATCH DELETE)", &value[1], &value[i]);
            return NGX_CONF_ERROR;
        }

        if (route->methods & methods[j].method) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm_route \"%V\": "
                               "method \"%V\" is duplicate", &value[1],
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        route->methods |= methods[j].method;
    }

    for (prev = dlcf->pattern ? dlcf->pattern->route : NULL;
         prev;
         prev = prev->next)
    {
        if (prev->methods & route->methods) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm_route \"%V\": "
                               "this location's route \"%V\" (%V:%ui) "
                               "takes one of its methods already",
                               &value[1], &prev->name, &prev->file,
                               prev->line);
            return NGX_CONF_ERROR;
        }
    }

    if ((route->methods & NGX_HTTP_HEAD) && !(route->methods & NGX_HTTP_GET))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm_route \"%V\": HEAD "
                           "only with GET", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* fixed sizes: the steps and checks are pointed at while parsing */
    if (ngx_array_init(&route->validates, cf->pool, 4,
                       sizeof(ngx_http_ddbm_validate_t)) != NGX_OK
        || ngx_array_init(&route->steps, cf->pool, NGX_HTTP_DDBM_ROUTE_STEPS,
                          sizeof(ngx_http_ddbm_step_t)) != NGX_OK
        || ngx_array_init(&route->checks, cf->pool, NGX_HTTP_DDBM_CHECKS,
                          sizeof(ngx_http_ddbm_check_t)) != NGX_OK
        || ngx_array_init(&route->answer.fields, cf->pool, 8,
                          sizeof(ngx_http_ddbm_field_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&rc, sizeof(ngx_http_ddbm_rconf_t));
    rc.dmcf = dmcf;
    rc.types.find = ngx_http_ddbm_find_type;
    rc.types.data = dmcf;
    rc.route = route;

    if (ngx_array_init(&rc.keys, cf->temp_pool, 4,
                       sizeof(ngx_http_ddbm_rkey_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_route_commands, &rc);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (route->steps.nelts == 0) {
        ngx_http_ddbm_rerror(cf, &rc, line, "no step");
        return NGX_CONF_ERROR;
    }

    if (!rc.has_answer) {
        ngx_http_ddbm_rerror(cf, &rc, line, "\"answer\" is missing");
        return NGX_CONF_ERROR;
    }

    step = route->steps.elts;
    route->schema = step[0].item->schema;

    /*
     * The answer's own fields are among what its step reads; when no
     * check or other step reads that step and the cache keeps none of it,
     * the rewrite's pass is the only one over DynamoDB's answer
     */
    if (route->answer.map && !step[route->answer.step].cache
        && step[route->answer.step].when_missing < 0
        && step[route->answer.step].op != NGX_HTTP_DDBM_OP_BATCH_GET)
    {
        deps = 0;

        for (i = 0; i < route->steps.nelts; i++) {
            deps |= step[i].after_steps;
        }

        check = route->checks.elts;

        for (i = 0; i < route->checks.nelts; i++) {
            deps |= check[i].after_steps;
        }

        route->answer.streamed = !(deps & (1u << route->answer.step));
    }

    /* what each read asks back, and a cached read's identity: made once */
    for (i = 0; i < route->steps.nelts; i++) {
        if (ngx_http_ddbm_step_ask(cf, route, &step[i]) != NGX_OK
            || ngx_http_ddbm_step_identity(cf, &step[i]) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    /* the pattern the request driver runs */
    route->pattern.name = route->name;
    route->pattern.methods = route->methods;
    route->pattern.reads_body = route->reads_body;
    route->pattern.needs_identity = route->needs_identity;
    route->pattern.start = ngx_http_ddbm_route_start;
    route->pattern.resume = ngx_http_ddbm_route_resume;
    route->pattern.route = route;

    rp = ngx_array_push(dmcf->routes);
    if (rp == NULL) {
        return NGX_CONF_ERROR;
    }

    *rp = route;

    if (dlcf->pattern) {
        /* the location's first route stays its pattern: others chained */
        for (prev = dlcf->pattern->route; prev->next; prev = prev->next) {
            /* void */
        }

        prev->next = route;

    } else {
        dlcf->pattern = &route->pattern;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ddbm_handler;

    if (ngx_http_ddbm_metrics_zone(cf) != NGX_OK
        || ngx_http_ddbm_status_zone(cf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* validate SOURCE TYPE [optional] OUTCOME=CODE[@STATUS]... ["message"] */
static char *
ngx_http_ddbm_route_validate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    u_char                    *eq, *at;
    ngx_int_t                  status;
    ngx_str_t                 *value, out, code, st;
    ngx_uint_t                 i, j, n, named, star, last;
    ngx_http_ddbm_validate_t  *v;

    value = cf->args->elts;
    n = cf->args->nelts;

    v = ngx_array_push(&rc->route->validates);
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(v, sizeof(ngx_http_ddbm_validate_t));

    /* not yet in the list while its source is read: no type from itself */
    rc->route->validates.nelts--;

    if (ngx_http_ddbm_source(cf, rc, &value[1], &v->source, 0, NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rc->route->validates.nelts++;

    switch (v->source.kind) {
    case NGX_HTTP_DDBM_SRC_VAR:
    case NGX_HTTP_DDBM_SRC_ARG:
    case NGX_HTTP_DDBM_SRC_BODY:
    case NGX_HTTP_DDBM_SRC_IDENTITY:
        break;
    default:
        ngx_http_ddbm_rerror(cf, rc, 0, "validate: \"%V\" is not a value "
                             "from the request", &value[1]);
        return NGX_CONF_ERROR;
    }

    v->type = ngx_http_ddbm_type(cf, rc, &value[2]);
    if (v->type == NULL) {
        return NGX_CONF_ERROR;
    }

    v->source.type = NULL;     /* raw text: the validate gives it its type */
    i = 3;

    if (i < n && ngx_http_ddbm_str_eq(&value[i], "optional")) {
        v->optional = 1;
        i++;
    }

    named = 0;
    star = 0;
    last = n;

    /* the last argument is the message if it is no WORD=... */
    if (n > i) {
        eq = ngx_strlchr(value[n - 1].data, value[n - 1].data
                         + value[n - 1].len, '=');

        if (eq == NULL || ngx_strlchr(value[n - 1].data, eq, ' ')) {
            v->message = value[n - 1];
            last = n - 1;
        }
    }

    for ( /* void */ ; i < last; i++) {
        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
        if (eq == NULL) {
            ngx_http_ddbm_rerror(cf, rc, 0, "validate: \"%V\" is not "
                                 "OUTCOME=CODE[@STATUS]", &value[i]);
            return NGX_CONF_ERROR;
        }

        out.data = value[i].data;
        out.len = eq - out.data;
        code.data = eq + 1;
        code.len = value[i].data + value[i].len - code.data;
        status = NGX_HTTP_DDBM_UNPROCESSABLE;

        at = ngx_strlchr(code.data, code.data + code.len, '@');
        if (at) {
            st.data = at + 1;
            st.len = code.data + code.len - st.data;
            code.len = at - code.data;
            status = ngx_atoi(st.data, st.len);

            if (status < 100 || status > 599) {
                ngx_http_ddbm_rerror(cf, rc, 0, "validate: invalid status "
                                     "\"%V\"", &st);
                return NGX_CONF_ERROR;
            }
        }

        if (code.len == 0) {
            ngx_http_ddbm_rerror(cf, rc, 0, "validate: \"%V\" has no code",
                                 &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_ddbm_str_eq(&out, "*")) {
            if (star) {
                ngx_http_ddbm_rerror(cf, rc, 0, "validate: \"*\" is "
                                     "duplicate");
                return NGX_CONF_ERROR;
            }

            star = 1;

            for (j = DM_RBIND_MISSING; j <= DM_RBIND_NO_ROOM; j++) {
                if (!(named & (1u << j))) {
                    v->code[j] = code;
                    v->status[j] = status;
                }
            }

            continue;
        }

        for (j = 1; ngx_http_ddbm_outcomes[j]; j++) {
            if (ngx_http_ddbm_str_eq(&out, ngx_http_ddbm_outcomes[j])) {
                break;
            }
        }

        if (ngx_http_ddbm_outcomes[j] == NULL) {
            ngx_http_ddbm_rerror(cf, rc, 0, "validate: unknown outcome "
                                 "\"%V\" (missing empty invalid not_utf8 "
                                 "too_short too_long out_of_range "
                                 "not_allowed *)", &out);
            return NGX_CONF_ERROR;
        }

        if ((named & (1u << j)) || star) {
            ngx_http_ddbm_rerror(cf, rc, 0, "validate: outcome \"%V\" is "
                                 "duplicate (or after \"*\")", &out);
            return NGX_CONF_ERROR;
        }

        named |= 1u << j;
        v->code[j] = code;
        v->status[j] = status;
    }

    /* an outcome with no code: 400 invalid_<name> (the engine names it) */
    for (j = DM_RBIND_MISSING; j <= DM_RBIND_NO_ROOM; j++) {
        if (v->code[j].len == 0) {
            v->status[j] = NGX_HTTP_BAD_REQUEST;
        }
    }

    return NGX_CONF_OK;
}


/* step NAME OP ITEM { ... } */
static char *
ngx_http_ddbm_route_step(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    char                  *rv;
    ngx_str_t             *value;
    ngx_uint_t             op;
    ngx_http_ddbm_item_t  *item;
    ngx_http_ddbm_step_t  *step;

    value = cf->args->elts;

    if (rc->route->steps.nelts == NGX_HTTP_DDBM_ROUTE_STEPS) {
        ngx_http_ddbm_rerror(cf, rc, 0, "more than %d steps",
                             NGX_HTTP_DDBM_ROUTE_STEPS);
        return NGX_CONF_ERROR;
    }

    if (!ngx_http_ddbm_name_ok(&value[1])) {
        ngx_http_ddbm_rerror(cf, rc, 0, "\"%V\" is no step name", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_find_step(rc, value[1].data, value[1].len,
                                rc->route->steps.nelts) != NULL)
    {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\" is duplicate",
                             &value[1]);
        return NGX_CONF_ERROR;
    }

    for (op = 0; ngx_http_ddbm_op_names[op]; op++) {
        if (ngx_http_ddbm_str_eq(&value[2], ngx_http_ddbm_op_names[op])) {
            break;
        }
    }

    if (ngx_http_ddbm_op_names[op] == NULL
        || op == NGX_HTTP_DDBM_OP_CHECK)
    {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": unknown operation "
                             "\"%V\" (GetItem Query PutItem UpdateItem "
                             "DeleteItem BatchGetItem TransactWriteItems)",
                             &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    if (op == NGX_HTTP_DDBM_OP_TRANSACT) {
        if (cf->args->nelts != 3) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": a "
                                 "TransactWriteItems takes no item: each of "
                                 "its actions names its own", &value[1]);
            return NGX_CONF_ERROR;
        }

        step = ngx_array_push(&rc->route->steps);
        if (step == NULL
            || ngx_http_ddbm_step_init(cf, rc, step, &value[1], op, NULL)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        step->actions = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_http_ddbm_step_t));
        if (step->actions == NULL) {
            return NGX_CONF_ERROR;
        }

        rc->tx = step;

        rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_tx_commands, rc);

        if (rv == NGX_CONF_OK && ngx_http_ddbm_tx_done(cf, rc, step) != NGX_OK)
        {
            rv = NGX_CONF_ERROR;
        }

        rc->tx = NULL;

        return rv;
    }

    if (cf->args->nelts != 4) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": %V needs an item",
                             &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    item = ngx_http_ddbm_find_item(rc->dmcf, &value[3]);
    if (item == NULL) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": unknown item \"%V\"",
                             &value[1], &value[3]);
        return NGX_CONF_ERROR;
    }

    if (rc->route->steps.nelts) {
        step = rc->route->steps.elts;

        if (step[0].item && step[0].item->schema != item->schema) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": item \"%V\" is of "
                                 "schema \"%V\", the route's items of "
                                 "\"%V\": one schema per route", &value[1],
                                 &value[3], &item->schema->name,
                                 &step[0].item->schema->name);
            return NGX_CONF_ERROR;
        }
    }

    step = ngx_array_push(&rc->route->steps);
    if (step == NULL
        || ngx_http_ddbm_step_init(cf, rc, step, &value[1], op, item)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rc->step = step;
    rc->keys.nelts = 0;
    rc->sk_line = 0;
    rc->limit_line = 0;
    rc->filter_line = 0;
    rc->consistent_line = 0;

    rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_step_commands, rc);

    if (rv == NGX_CONF_OK && ngx_http_ddbm_step_done(cf, rc, step) != NGX_OK)
    {
        rv = NGX_CONF_ERROR;
    }

    rc->step = NULL;

    return rv;
}


/* a new step (or a transaction's action) at the route's current end */
static ngx_int_t
ngx_http_ddbm_step_init(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_step_t *step, ngx_str_t *name, ngx_uint_t op,
    ngx_http_ddbm_item_t *item)
{
    ngx_memzero(step, sizeof(ngx_http_ddbm_step_t));
    step->name = *name;
    step->index = rc->route->steps.nelts - 1;
    step->op = op;
    step->item = item;
    step->forward = 1;
    step->when_missing = -1;
    step->keys_of = -1;
    step->file = cf->conf_file->file.name;
    step->line = cf->conf_file->line;
    /* every check written before it */
    step->after_checks = (uint32_t) ((1ull << rc->route->checks.nelts) - 1);

    if (ngx_array_init(&step->key, cf->pool, 2, sizeof(ngx_http_ddbm_bind_t))
        != NGX_OK
        || ngx_array_init(&step->values, cf->pool, 2,
                          sizeof(ngx_http_ddbm_bind_t)) != NGX_OK
        || ngx_array_init(&step->names, cf->pool, 2, sizeof(dm_rname_t))
           != NGX_OK
        || ngx_array_init(&step->set, cf->pool, 4,
                          sizeof(ngx_http_ddbm_bind_t)) != NGX_OK
        || ngx_array_init(&step->reads, cf->pool, 4, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * put|update|delete|condition_check ITEM { ... } in a TransactWriteItems:
 * an action, read with a step's lines and checked as its single operation
 * would be (a condition_check as a DeleteItem that needs a condition)
 */
static char *
ngx_http_ddbm_tx_action(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    char                  *rv;
    u_char                *p;
    ngx_str_t             *value, name;
    ngx_http_ddbm_step_t  *tx, *action, *first;
    ngx_http_ddbm_item_t  *item;

    tx = rc->tx;
    value = cf->args->elts;

    item = ngx_http_ddbm_find_item(rc->dmcf, &value[1]);
    if (item == NULL) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": %V: unknown item "
                             "\"%V\"", &tx->name, &value[0], &value[1]);
        return NGX_CONF_ERROR;
    }

    first = rc->route->steps.elts;

    if (first[0].item && first[0].item->schema != item->schema) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": item \"%V\" is of "
                             "schema \"%V\", the route's items of \"%V\": "
                             "one schema per route", &tx->name, &value[1],
                             &item->schema->name,
                             &first[0].item->schema->name);
        return NGX_CONF_ERROR;
    }

    if (tx->item == NULL) {
        tx->item = item;
    }

    /* "created (action 2)": how messages name it */
    name.len = tx->name.len + sizeof(" (action )") - 1 + NGX_INT_T_LEN;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(name.data, "%V (action %ui)", &tx->name,
                    tx->actions->nelts + 1);
    name.len = p - name.data;

    action = ngx_array_push(tx->actions);
    if (action == NULL
        || ngx_http_ddbm_step_init(cf, rc, action, &name, cmd->offset, item)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rc->step = action;
    rc->keys.nelts = 0;
    rc->sk_line = 0;
    rc->limit_line = 0;
    rc->filter_line = 0;
    rc->consistent_line = 0;

    rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_step_commands, rc);

    if (rv == NGX_CONF_OK
        && ngx_http_ddbm_step_done(cf, rc, action) != NGX_OK)
    {
        rv = NGX_CONF_ERROR;
    }

    rc->step = NULL;

    /* the transaction waits for every step any of its actions reads */
    tx->after_steps |= action->after_steps;

    return rv;
}


/*
 * The whole transaction: at most 100 actions, and no two on one item
 * (the same item family, the same sources in its key), as dm_rtx_check
 * defines it; a duplicate is reported at the second action's line
 */
static ngx_int_t
ngx_http_ddbm_tx_done(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_step_t *tx)
{
    u_char                *p;
    size_t                 n;
    dm_rerr_t              err;
    dm_rstr_t             *src;
    ngx_uint_t             i, k, line;
    dm_rtx_action_t       *a;
    ngx_http_ddbm_bind_t  *key;
    ngx_http_ddbm_step_t  *action;

    action = tx->actions->elts;
    n = tx->actions->nelts;

    a = ngx_pcalloc(cf->temp_pool, (n ? n : 1) * sizeof(dm_rtx_action_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        key = action[i].key.elts;

        src = ngx_pcalloc(cf->temp_pool,
                          (action[i].key.nelts + 1) * sizeof(dm_rstr_t));
        if (src == NULL) {
            return NGX_ERROR;
        }

        for (k = 0; k < action[i].key.nelts; k++) {
            src[k].data = (char *) key[k].source.text.data;
            src[k].len = key[k].source.text.len;

            if (key[k].source.kind == NGX_HTTP_DDBM_SRC_UUID4) {
                /* a new uuid at each use: never the same as another's */
                p = ngx_pnalloc(cf->temp_pool, NGX_INT_T_LEN + 16);
                if (p == NULL) {
                    return NGX_ERROR;
                }

                src[k].data = (char *) p;
                src[k].len = ngx_sprintf(p, "uuid4() %ui", i) - p;
            }
        }

        a[i].table.data = (char *) action[i].item->schema->table.data;
        a[i].table.len = action[i].item->schema->table.len;
        a[i].pk = &action[i].item->pk;
        a[i].sk = action[i].item->sk.nparts ? &action[i].item->sk : NULL;
        a[i].sources = src;
        a[i].nsources = action[i].key.nelts;
    }

    if (dm_rtx_check(a, n, &err) == 0) {
        return NGX_OK;
    }

    line = tx->line;

    if (n >= 2 && n <= DM_RTX_ACTIONS_MAX) {
        /* the first action that repeats an earlier one's item */
        for (i = 2; i <= n; i++) {
            if (dm_rtx_check(a, i, &err) != 0) {
                line = action[i - 1].line;
                break;
            }
        }
    }

    ngx_http_ddbm_rerror(cf, rc, line, "step \"%V\": %s", &tx->name,
                         err.msg);

    return NGX_ERROR;
}


/* an item's attribute, its type; NULL when it has none of that name */
static ngx_http_ddbm_attr_t *
ngx_http_ddbm_find_attr(ngx_http_ddbm_item_t *item, ngx_str_t *name)
{
    ngx_uint_t             i;
    ngx_http_ddbm_attr_t  *a;

    a = item->attrs.elts;

    for (i = 0; i < item->attrs.nelts; i++) {
        if (a[i].name.len == name->len
            && ngx_strncmp(a[i].name.data, name->data, name->len) == 0)
        {
            return &a[i];
        }
    }

    return NULL;
}


/* the key's slots bound by "key" lines, in slot order; rk: NULL if not */
static ngx_http_ddbm_rkey_t *
ngx_http_ddbm_find_rkey(ngx_http_ddbm_rconf_t *rc, const char *name,
    size_t len)
{
    ngx_uint_t             i;
    ngx_http_ddbm_rkey_t  *rk;

    rk = rc->keys.elts;

    for (i = 0; i < rc->keys.nelts; i++) {
        if (rk[i].name.len == len
            && ngx_strncmp(rk[i].name.data, name, len) == 0)
        {
            return &rk[i];
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_ddbm_bind_slots(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_step_t *step, const dm_rtmpl_t *t, const char *which,
    ngx_uint_t required, ngx_uint_t *bound)
{
    size_t                  n, have;
    ngx_http_ddbm_bind_t   *b;
    ngx_http_ddbm_rkey_t   *rk;
    const dm_rtmpl_part_t  *part;

    have = 0;

    for (n = 0; n < t->nslots; n++) {
        part = dm_rtmpl_slot(t, n);
        if (ngx_http_ddbm_find_rkey(rc, part->name, ngx_strlen(part->name))) {
            have++;
        }
    }

    *bound = (have != 0);

    if (have == 0 && !required) {
        return NGX_OK;
    }

    for (n = 0; n < t->nslots; n++) {
        part = dm_rtmpl_slot(t, n);
        rk = ngx_http_ddbm_find_rkey(rc, part->name, ngx_strlen(part->name));

        if (rk == NULL) {
            ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": the key "
                                 "does not cover the table's key: slot "
                                 "\"%s\" of the %s template \"%*s\" of item "
                                 "\"%V\" is not bound", &step->name,
                                 part->name, which, t->text.len,
                                 t->text.data, &step->item->name);
            return NGX_ERROR;
        }

        rk->used = 1;

        b = ngx_array_push(&step->key);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->name = rk->name;
        b->type = part->type;
        b->source = rk->source;

        if (ngx_http_ddbm_bind_check(cf, rc, rk->line, b,
                                     step->op == NGX_HTTP_DDBM_OP_BATCH_GET
                                     ? 2 : 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the type of a sort key comparison: the sk template's one slot */
static ngx_int_t
ngx_http_ddbm_sk_type(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_step_t *step, ngx_str_t *name, const dm_rtype_t **type)
{
    ngx_str_t              *sk;
    ngx_http_ddbm_attr_t   *a;
    const dm_rtmpl_part_t  *part;

    sk = &step->item->schema->sk;

    if (step->ddb_index) {
        if (step->ddb_index->sk.len == 0) {
            ngx_http_ddbm_rerror(cf, rc, rc->sk_line, "step \"%V\": index "
                                 "\"%V\" has no sort key", &step->name,
                                 &step->ddb_index->name);
            return NGX_ERROR;
        }

        if (step->ddb_index->sk.len != sk->len
            || ngx_strncmp(step->ddb_index->sk.data, sk->data, sk->len) != 0)
        {
            a = ngx_http_ddbm_find_attr(step->item, &step->ddb_index->sk);
            if (a == NULL) {
                ngx_http_ddbm_rerror(cf, rc, rc->sk_line, "step \"%V\": item "
                                     "\"%V\" declares no attribute \"%V\" "
                                     "(the sort key of index \"%V\")",
                                     &step->name, &step->item->name,
                                     &step->ddb_index->sk,
                                     &step->ddb_index->name);
                return NGX_ERROR;
            }

            *name = a->name;
            *type = a->type;
            return NGX_OK;
        }
    }

    if (step->item->sk.nslots != 1) {
        ngx_http_ddbm_rerror(cf, rc, rc->sk_line, "step \"%V\": sort_key "
                             "needs a sort key template with one slot, item "
                             "\"%V\" has \"%*s\"", &step->name,
                             &step->item->name, step->item->sk.text.len,
                             step->item->sk.text.data);
        return NGX_ERROR;
    }

    part = dm_rtmpl_slot(&step->item->sk, 0);
    name->data = (u_char *) part->name;
    name->len = ngx_strlen(part->name);
    *type = part->type;

    return NGX_OK;
}


/*
 * A BatchGetItem's keys: one per item of an earlier Query (its key binds
 * that are STEP[].attr, all of one Query), at most BatchGetItem's 100,
 * which the Query's limit must guarantee
 */
static ngx_int_t
ngx_http_ddbm_batch_done(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_step_t *step)
{
    int64_t                max;
    ngx_int_t              n;
    ngx_uint_t             i;
    ngx_http_ddbm_bind_t  *b, *first;
    ngx_http_ddbm_step_t  *q;

    b = step->key.elts;
    first = NULL;

    for (i = 0; i < step->key.nelts; i++) {
        if (b[i].source.kind != NGX_HTTP_DDBM_SRC_STEP_ALL) {
            continue;
        }

        if (first == NULL) {
            first = &b[i];

        } else if (b[i].source.step != first->source.step) {
            ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": \"%V\" "
                                 "and \"%V\" are lists of two steps: a "
                                 "BatchGetItem's keys are one per item of one "
                                 "Query", &step->name, &first->source.text,
                                 &b[i].source.text);
            return NGX_ERROR;
        }
    }

    if (first == NULL) {
        ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": a "
                             "BatchGetItem asks one key per item of an "
                             "earlier Query: bind a slot of its key to "
                             "STEP[].attr (a GetItem asks one key)",
                             &step->name);
        return NGX_ERROR;
    }

    q = &((ngx_http_ddbm_step_t *) rc->route->steps.elts)
        [first->source.step];

    if (q->op != NGX_HTTP_DDBM_OP_QUERY) {
        ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": \"%V\": step "
                             "\"%V\" is a %s: a BatchGetItem's keys come from "
                             "the items of an earlier Query", &step->name,
                             &first->source.text, &q->name,
                             ngx_http_ddbm_op_names[q->op]);
        return NGX_ERROR;
    }

    /* the most items the Query can answer: its limit's literal or type */
    max = -1;

    if (q->limit.source.kind == NGX_HTTP_DDBM_SRC_LITERAL) {
        n = ngx_atoi(q->limit.source.literal.data,
                     q->limit.source.literal.len);
        max = (n == NGX_ERROR) ? INT64_MAX : n;

    } else if (q->limit.source.kind != NGX_HTTP_DDBM_SRC_NONE) {
        /* a default passed this type when its line was read */
        max = q->limit.type->max;
    }

    if (max < 0 || max > NGX_HTTP_DDBM_ROUTE_ITEMS) {
        ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": its keys are "
                             "one per item of Query \"%V\", which %s: a "
                             "BatchGetItem takes at most %d keys; give the "
                             "Query a limit of at most %d (a number, or a "
                             "value of an int type of range ..%d)",
                             &step->name, &q->name,
                             max < 0 ? "has no limit" : "may answer more",
                             NGX_HTTP_DDBM_ROUTE_ITEMS,
                             NGX_HTTP_DDBM_ROUTE_ITEMS,
                             NGX_HTTP_DDBM_ROUTE_ITEMS);
        return NGX_ERROR;
    }

    step->keys_of = q->index;

    /* its answer, in no order, is matched back to the keys asked */
    if (ngx_http_ddbm_step_keep(step, &step->item->schema->pk) != NGX_OK
        || (step->item->schema->sk.len
            && ngx_http_ddbm_step_keep(step, &step->item->schema->sk)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* what can be checked only once the whole step is read */
static ngx_int_t
ngx_http_ddbm_step_done(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc,
    ngx_http_ddbm_step_t *step)
{
    size_t                  nexprs, nv, nn;
    ngx_str_t               name;
    dm_rerr_t               err;
    dm_rstr_t               vals[DM_REXPR_REFS_MAX], names[DM_REXPR_REFS_MAX];
    ngx_uint_t              i, bound, required;
    dm_rname_t             *rn;
    dm_rexpr_t             *exprs[3];
    const dm_rtype_t       *type;
    ngx_http_ddbm_bind_t   *b;
    ngx_http_ddbm_attr_t   *a;
    ngx_http_ddbm_rkey_t   *rk;
    ngx_http_ddbm_index_t  *idx;

    /* the key: the table's, or the index's */
    if (step->ddb_index) {
        idx = step->ddb_index;

        if (step->consistent) {
            ngx_http_ddbm_rerror(cf, rc, rc->consistent_line, "step \"%V\": "
                                 "a global secondary index has no "
                                 "consistent reads", &step->name);
            return NGX_ERROR;
        }

        rk = ngx_http_ddbm_find_rkey(rc, (char *) idx->pk.data, idx->pk.len);
        if (rk == NULL) {
            ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": the key "
                                 "does not cover the key of index \"%V\": "
                                 "\"%V\" is not bound", &step->name,
                                 &idx->name, &idx->pk);
            return NGX_ERROR;
        }

        for (i = 0; i < 2; i++) {
            name = (i == 0) ? idx->pk : idx->sk;

            if (name.len == 0) {
                continue;
            }

            rk = ngx_http_ddbm_find_rkey(rc, (char *) name.data, name.len);
            if (rk == NULL) {
                continue;
            }

            a = ngx_http_ddbm_find_attr(step->item, &name);
            if (a == NULL) {
                ngx_http_ddbm_rerror(cf, rc, rk->line, "step \"%V\": item "
                                     "\"%V\" declares no attribute \"%V\", "
                                     "a key of index \"%V\"", &step->name,
                                     &step->item->name, &name, &idx->name);
                return NGX_ERROR;
            }

            rk->used = 1;

            b = ngx_array_push(&step->key);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->name = name;
            b->type = a->type;
            b->source = rk->source;

            if (ngx_http_ddbm_bind_check(cf, rc, rk->line, b, 1) != NGX_OK) {
                return NGX_ERROR;
            }

            if (i == 1) {
                step->key_has_sk = 1;
            }
        }

    } else {
        if (ngx_http_ddbm_bind_slots(cf, rc, step, &step->item->pk, "pk", 1,
                                     &bound) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (step->item->sk.nparts) {
            /* a Query may leave the sort key out, any other op not */
            required = (step->op != NGX_HTTP_DDBM_OP_QUERY);

            if (ngx_http_ddbm_bind_slots(cf, rc, step, &step->item->sk, "sk",
                                         required, &bound) != NGX_OK)
            {
                return NGX_ERROR;
            }

            /* a constant sort key ("META") is the whole key of a GetItem */
            step->key_has_sk = bound
                               || (step->item->sk.nslots == 0
                                   && step->op != NGX_HTTP_DDBM_OP_QUERY);
        }
    }

    rk = rc->keys.elts;

    for (i = 0; i < rc->keys.nelts; i++) {
        if (!rk[i].used) {
            ngx_http_ddbm_rerror(cf, rc, rk[i].line, "step \"%V\": \"%V\" is "
                                 "no slot of item \"%V\"'s key%s",
                                 &step->name, &rk[i].name, &step->item->name,
                                 step->ddb_index ? " nor of the index's" : "");
            return NGX_ERROR;
        }
    }

    if (step->op == NGX_HTTP_DDBM_OP_BATCH_GET
        && ngx_http_ddbm_batch_done(cf, rc, step) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a Query's sort key condition */
    if (step->sk_op != NGX_HTTP_DDBM_SK_NONE) {
        if (step->key_has_sk) {
            ngx_http_ddbm_rerror(cf, rc, rc->sk_line, "step \"%V\": the sort "
                                 "key is bound by \"key\" already",
                                 &step->name);
            return NGX_ERROR;
        }

        if (ngx_http_ddbm_sk_type(cf, rc, step, &name, &type) != NGX_OK) {
            return NGX_ERROR;
        }

        for (i = 0; i < 2; i++) {
            if (step->sk_value[i].source.kind == NGX_HTTP_DDBM_SRC_NONE) {
                continue;
            }

            step->sk_value[i].name = name;
            step->sk_value[i].type = type;

            if (ngx_http_ddbm_bind_check(cf, rc, rc->sk_line,
                                         &step->sk_value[i], 1)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    /* a filter drops items after the limit counted them */
    if (step->limit.source.kind != NGX_HTTP_DDBM_SRC_NONE && step->filter
        && !step->fill)
    {
        ngx_http_ddbm_rerror(cf, rc, rc->limit_line, "step \"%V\": \"limit\" "
                             "with \"filter\" (line %ui) answers short pages: "
                             "declare \"fill\" to read on until the limit",
                             &step->name, rc->filter_line);
        return NGX_ERROR;
    }

    if (step->fill && (step->limit.source.kind == NGX_HTTP_DDBM_SRC_NONE
                       || step->filter == NULL))
    {
        ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": \"fill\" "
                             "needs \"limit\" and \"filter\"", &step->name);
        return NGX_ERROR;
    }

    if (step->op == NGX_HTTP_DDBM_OP_CHECK && step->condition == NULL) {
        ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": a "
                             "condition_check needs \"condition\"",
                             &step->name);
        return NGX_ERROR;
    }

    if (step->op == NGX_HTTP_DDBM_OP_UPDATE && step->update == NULL) {
        ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": an UpdateItem "
                             "needs \"update\"", &step->name);
        return NGX_ERROR;
    }

    /* every placeholder used is bound, every one bound is used */
    nexprs = 0;

    if (step->condition) {
        exprs[nexprs++] = step->condition;
    }

    if (step->update) {
        exprs[nexprs++] = step->update;
    }

    if (step->filter) {
        exprs[nexprs++] = step->filter;
    }

    b = step->values.elts;
    nv = ngx_min(step->values.nelts, DM_REXPR_REFS_MAX);

    for (i = 0; i < nv; i++) {
        vals[i].data = (char *) b[i].name.data;
        vals[i].len = b[i].name.len;
    }

    rn = step->names.elts;
    nn = ngx_min(step->names.nelts, DM_REXPR_REFS_MAX);

    for (i = 0; i < nn; i++) {
        names[i] = rn[i].alias;
    }

    if (dm_rexpr_check_bindings((const dm_rexpr_t *const *) exprs, nexprs,
                                vals, nv, names, nn, &err) != 0)
    {
        ngx_http_ddbm_rerror(cf, rc, step->line, "step \"%V\": %s",
                             &step->name, err.msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an expression, parsed as DynamoDB would */
static ngx_int_t
ngx_http_ddbm_expr(ngx_conf_t *cf, ngx_http_ddbm_rconf_t *rc, ngx_str_t *text,
    dm_rexpr_kind_e kind, dm_rexpr_t **e)
{
    dm_rerr_t  err;

    if (*e != NULL) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": duplicate expression",
                             &rc->step->name);
        return NGX_ERROR;
    }

    *e = ngx_palloc(cf->pool, sizeof(dm_rexpr_t));
    if (*e == NULL) {
        return NGX_ERROR;
    }

    if (dm_rexpr_parse(*e, kind, (char *) text->data, text->len, &err) != 0)
    {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": DynamoDB would reject "
                             "\"%V\": %s", &rc->step->name, text, err.msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * #ddbm... and :ddbm... are the names the engine gives its own
 * placeholders (the projection's, the key condition's): a route's own
 * would collide with them in one request
 */
static ngx_uint_t
ngx_http_ddbm_engine_placeholder(ngx_str_t *name)
{
    return name->len >= 5
           && ngx_strncasecmp(name->data + 1, (u_char *) "ddbm", 4) == 0;
}


/* an attribute name of the step's item: declared, or the table's key */
static ngx_int_t
ngx_http_ddbm_known_attr(ngx_http_ddbm_step_t *step, ngx_str_t *name)
{
    ngx_str_t               *pk, *sk;
    ngx_uint_t               i;
    ngx_http_ddbm_index_t   *idx;
    ngx_http_ddbm_schema_t  *schema;

    schema = step->item->schema;
    pk = &schema->pk;
    sk = &schema->sk;

    if (ngx_http_ddbm_find_attr(step->item, name)
        || (name->len == pk->len
            && ngx_strncmp(name->data, pk->data, pk->len) == 0)
        || (sk->len && name->len == sk->len
            && ngx_strncmp(name->data, sk->data, sk->len) == 0))
    {
        return 1;
    }

    idx = schema->indexes.elts;

    for (i = 0; i < schema->indexes.nelts; i++) {
        if ((idx[i].pk.len == name->len
             && ngx_strncmp(idx[i].pk.data, name->data, name->len) == 0)
            || (idx[i].sk.len == name->len
                && ngx_strncmp(idx[i].sk.data, name->data, name->len) == 0))
        {
            return 1;
        }
    }

    return 0;
}


/* the lines of a step; cmd->offset: the operations allowing it */
static char *
ngx_http_ddbm_step_line(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    u_char                 *eq;
    time_t                  ttl;
    ngx_str_t              *value, *name, s, attr;
    ngx_uint_t              i, j;
    dm_rname_t             *rn;
    ngx_http_ddbm_step_t   *step, *other;
    ngx_http_ddbm_bind_t   *b;
    ngx_http_ddbm_rkey_t   *rk;
    ngx_http_ddbm_attr_t   *a;
    ngx_http_ddbm_index_t  *idx;

    static struct {
        const char            *op;
        ngx_http_ddbm_sk_op_e  sk_op;
    } sk_ops[] = {
        { "=", NGX_HTTP_DDBM_SK_EQ }, { "<", NGX_HTTP_DDBM_SK_LT },
        { "<=", NGX_HTTP_DDBM_SK_LE }, { ">", NGX_HTTP_DDBM_SK_GT },
        { ">=", NGX_HTTP_DDBM_SK_GE }, { "between", NGX_HTTP_DDBM_SK_BETWEEN },
        { "begins_with", NGX_HTTP_DDBM_SK_BEGINS_WITH },
        { NULL, NGX_HTTP_DDBM_SK_NONE }
    };

    step = rc->step;
    value = cf->args->elts;
    name = &value[0];

    if (!(cmd->offset & OPB(step->op))) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\" is not allowed "
                             "in a %s step", &step->name, name,
                             ngx_http_ddbm_op_names[step->op]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_str_eq(name, "key")) {
        for (i = 1; i < cf->args->nelts; i++) {
            eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
            if (eq == NULL || eq == value[i].data) {
                ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\" is not "
                                     "SLOT=SOURCE", &step->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            s.data = value[i].data;
            s.len = eq - s.data;

            if (ngx_http_ddbm_find_rkey(rc, (char *) s.data, s.len)) {
                ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": key \"%V\" is "
                                     "bound twice", &step->name, &s);
                return NGX_CONF_ERROR;
            }

            rk = ngx_array_push(&rc->keys);
            if (rk == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(rk, sizeof(ngx_http_ddbm_rkey_t));
            rk->name = s;
            rk->line = cf->conf_file->line;

            s.data = eq + 1;
            s.len = value[i].data + value[i].len - s.data;

            if (ngx_http_ddbm_source(cf, rc, &s, &rk->source, step->index,
                                     &step->after_steps)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "index")) {
        if (step->ddb_index) {
            return "is duplicate";
        }

        idx = step->item->schema->indexes.elts;

        for (i = 0; i < step->item->schema->indexes.nelts; i++) {
            if (idx[i].name.len == value[1].len
                && ngx_strncmp(idx[i].name.data, value[1].data,
                               value[1].len) == 0)
            {
                step->ddb_index = &idx[i];
                return NGX_CONF_OK;
            }
        }

        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": schema \"%V\" has no "
                             "index \"%V\"", &step->name,
                             &step->item->schema->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_str_eq(name, "sort_key")) {
        if (step->sk_op != NGX_HTTP_DDBM_SK_NONE) {
            return "is duplicate";
        }

        for (i = 0; sk_ops[i].op; i++) {
            if (ngx_http_ddbm_str_eq(&value[1], sk_ops[i].op)) {
                break;
            }
        }

        if (sk_ops[i].op == NULL) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": unknown sort_key "
                                 "operator \"%V\" (= < <= > >= between "
                                 "begins_with)", &step->name, &value[1]);
            return NGX_CONF_ERROR;
        }

        if ((sk_ops[i].sk_op == NGX_HTTP_DDBM_SK_BETWEEN)
            != (cf->args->nelts == 4))
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": sort_key \"%V\" "
                                 "takes %s", &step->name, &value[1],
                                 cf->args->nelts == 4 ? "one value"
                                                      : "two values");
            return NGX_CONF_ERROR;
        }

        step->sk_op = sk_ops[i].sk_op;
        rc->sk_line = cf->conf_file->line;

        for (i = 2; i < cf->args->nelts; i++) {
            if (ngx_http_ddbm_source(cf, rc, &value[i],
                                     &step->sk_value[i - 2].source,
                                     step->index, &step->after_steps)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "order")) {
        if (ngx_http_ddbm_str_eq(&value[1], "asc")) {
            step->forward = 1;

        } else if (ngx_http_ddbm_str_eq(&value[1], "desc")) {
            step->forward = 0;

        } else {
            return "takes \"asc\" or \"desc\"";
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "limit")) {
        if (rc->limit_line) {
            return "is duplicate";
        }

        rc->limit_line = cf->conf_file->line;

        if (ngx_http_ddbm_source(cf, rc, &value[1], &step->limit.source,
                                 step->index, &step->after_steps)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&step->limit.name, "limit");

        /* the validated type of a request value, else an int of 1.. */
        step->limit.type = step->limit.source.type;

        if (step->limit.type == NULL) {
            step->limit.type = dm_rtype_builtin("int", 3);
        }

        if (step->limit.type->kind != DM_RTYPE_INT) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": type mismatch "
                                 "against the schema: the limit is an int, "
                                 "\"%V\" a %s", &step->name, &value[1],
                                 step->limit.type->name);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_ddbm_bind_check(cf, rc, 0, &step->limit, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (step->limit.source.kind == NGX_HTTP_DDBM_SRC_LITERAL
            && ngx_atoi(step->limit.source.literal.data,
                        step->limit.source.literal.len) <= 0)
        {
            return "must be a positive number";
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "fill")) {
        step->fill = 1;
        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "when")) {
        if (!ngx_http_ddbm_str_eq(&value[1], "missing")) {
            return "takes \"missing STEP\"";
        }

        if (step->when_missing != -1) {
            return "is duplicate";
        }

        other = ngx_http_ddbm_find_step(rc, value[2].data, value[2].len,
                                        step->index);
        if (other == NULL) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": when missing "
                                 "\"%V\": not a step written before it",
                                 &step->name, &value[2]);
            return NGX_CONF_ERROR;
        }

        if (!(OPB(other->op) & OP_FINDS)) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": when missing "
                                 "\"%V\": a %s finds no item", &step->name,
                                 &value[2],
                                 ngx_http_ddbm_op_names[other->op]);
            return NGX_CONF_ERROR;
        }

        step->when_missing = other->index;
        step->after_steps |= 1u << other->index;

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "consistent")) {
        if (ngx_http_ddbm_str_eq(&value[1], "on")) {
            step->consistent = 1;

        } else if (ngx_http_ddbm_str_eq(&value[1], "off")) {
            step->consistent = 0;

        } else {
            return "takes \"on\" or \"off\"";
        }

        rc->consistent_line = cf->conf_file->line;
        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "project")) {
        if (step->project) {
            return "is duplicate";
        }

        step->project = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                         sizeof(ngx_str_t));
        if (step->project == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 1; i < cf->args->nelts; i++) {
            if (!ngx_http_ddbm_known_attr(step, &value[i])) {
                ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": project: item "
                                     "\"%V\" has no attribute \"%V\"",
                                     &step->name, &step->item->name,
                                     &value[i]);
                return NGX_CONF_ERROR;
            }

            name = ngx_array_push(step->project);
            if (name == NULL) {
                return NGX_CONF_ERROR;
            }

            *name = value[i];
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "cache")) {
        if (step->cache != NGX_HTTP_DDBM_CACHE_NONE) {
            return "is duplicate";
        }

        if (ngx_http_ddbm_str_eq(&value[1], "directory")) {
            step->cache = NGX_HTTP_DDBM_CACHE_DIRECTORY;

        } else if (ngx_http_ddbm_str_eq(&value[1], "membership")) {
            step->cache = NGX_HTTP_DDBM_CACHE_MEMBERSHIP;

        } else if (ngx_http_ddbm_str_eq(&value[1], "revision")) {
            step->cache = NGX_HTTP_DDBM_CACHE_REVISION;

        } else {
            return "takes \"directory\", \"membership\" or \"revision\"";
        }

        if (cf->args->nelts == 3) {
            if (value[2].len <= 4 || ngx_strncmp(value[2].data, "ttl=", 4))
            {
                return "takes \"ttl=TIME\" as its second argument";
            }

            s.data = value[2].data + 4;
            s.len = value[2].len - 4;
            ttl = ngx_parse_time(&s, 1);

            if (ttl == (time_t) NGX_ERROR || ttl == 0) {
                return "has an invalid ttl";
            }

            step->cache_ttl = ttl;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "filter")) {
        rc->filter_line = cf->conf_file->line;
        return ngx_http_ddbm_expr(cf, rc, &value[1], DM_REXPR_FILTER,
                                  &step->filter) == NGX_OK
               ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_str_eq(name, "condition")) {
        return ngx_http_ddbm_expr(cf, rc, &value[1], DM_REXPR_CONDITION,
                                  &step->condition) == NGX_OK
               ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_str_eq(name, "update")) {
        return ngx_http_ddbm_expr(cf, rc, &value[1], DM_REXPR_UPDATE,
                                  &step->update) == NGX_OK
               ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_str_eq(name, "set")) {
        for (i = 1; i < cf->args->nelts; i++) {
            eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
            if (eq == NULL || eq == value[i].data) {
                ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\" is not "
                                     "ATTR=SOURCE", &step->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            attr.data = value[i].data;
            attr.len = eq - attr.data;

            a = ngx_http_ddbm_find_attr(step->item, &attr);
            if (a == NULL) {
                ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": set: item "
                                     "\"%V\" declares no attribute \"%V\"",
                                     &step->name, &step->item->name, &attr);
                return NGX_CONF_ERROR;
            }

            b = step->set.elts;

            for (j = 0; j < step->set.nelts; j++) {
                if (b[j].name.len == attr.len
                    && ngx_strncmp(b[j].name.data, attr.data, attr.len) == 0)
                {
                    ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": set: "
                                         "\"%V\" is duplicate", &step->name,
                                         &attr);
                    return NGX_CONF_ERROR;
                }
            }

            b = ngx_array_push(&step->set);
            if (b == NULL) {
                return NGX_CONF_ERROR;
            }

            b->name = attr;
            b->type = a->type;

            s.data = eq + 1;
            s.len = value[i].data + value[i].len - s.data;

            if (ngx_http_ddbm_source(cf, rc, &s, &b->source, step->index,
                                     &step->after_steps) != NGX_OK
                || ngx_http_ddbm_bind_check(cf, rc, 0, b, 0) != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(name, "value")) {
        if (value[1].len < 2 || value[1].data[0] != ':') {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\" is no "
                                 ":placeholder", &step->name, &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_ddbm_engine_placeholder(&value[1])) {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\": names "
                                 "that start with \":ddbm\" are the "
                                 "engine's own", &step->name, &value[1]);
            return NGX_CONF_ERROR;
        }

        b = step->values.elts;

        for (j = 0; j < step->values.nelts; j++) {
            if (b[j].name.len == value[1].len
                && ngx_strncmp(b[j].name.data, value[1].data, value[1].len)
                   == 0)
            {
                ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\" is "
                                     "bound twice", &step->name, &value[1]);
                return NGX_CONF_ERROR;
            }
        }

        b = ngx_array_push(&step->values);
        if (b == NULL) {
            return NGX_CONF_ERROR;
        }

        b->name = value[1];
        b->type = ngx_http_ddbm_type(cf, rc, &value[2]);

        if (b->type == NULL
            || ngx_http_ddbm_source(cf, rc, &value[3], &b->source,
                                    step->index, &step->after_steps)
               != NGX_OK
            || ngx_http_ddbm_bind_check(cf, rc, 0, b, 0) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    /* name #alias ATTR */

    if (value[1].len < 2 || value[1].data[0] != '#') {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\" is no #name",
                             &step->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ddbm_engine_placeholder(&value[1])) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\": names that "
                             "start with \"#ddbm\" are the engine's own",
                             &step->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (!ngx_http_ddbm_known_attr(step, &value[2])) {
        ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": name \"%V\": item "
                             "\"%V\" has no attribute \"%V\"", &step->name,
                             &value[1], &step->item->name, &value[2]);
        return NGX_CONF_ERROR;
    }

    rn = step->names.elts;

    for (j = 0; j < step->names.nelts; j++) {
        if (rn[j].alias.len == value[1].len
            && ngx_strncmp(rn[j].alias.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "step \"%V\": \"%V\" is bound "
                                 "twice", &step->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    rn = ngx_array_push(&step->names);
    if (rn == NULL) {
        return NGX_CONF_ERROR;
    }

    rn->alias.data = (char *) value[1].data;
    rn->alias.len = value[1].len;
    rn->attr.data = (char *) value[2].data;
    rn->attr.len = value[2].len;

    return NGX_CONF_OK;
}


/* check KIND OPERAND... else STATUS [CODE ["message"]] */
static char *
ngx_http_ddbm_route_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    u_char                  *p, *start, *end;
    ngx_int_t                status;
    ngx_str_t               *value, s, log;
    ngx_uint_t               i, e, n, nsteps;
    ngx_http_ddbm_step_t    *step;
    ngx_http_ddbm_check_t   *check;
    ngx_http_ddbm_source_t  *src, *first;

    value = cf->args->elts;
    n = cf->args->nelts;
    nsteps = rc->route->steps.nelts;

    /* ... log "TEXT": what the error log says when it fails (info) */
    ngx_str_null(&log);

    if (n > 4 && ngx_http_ddbm_str_eq(&value[n - 2], "log")) {
        log = value[n - 1];
        n -= 2;
    }

    if (rc->route->checks.nelts == NGX_HTTP_DDBM_CHECKS) {
        ngx_http_ddbm_rerror(cf, rc, 0, "more than %d checks",
                             NGX_HTTP_DDBM_CHECKS);
        return NGX_CONF_ERROR;
    }

    for (e = 2; e < n; e++) {
        if (ngx_http_ddbm_str_eq(&value[e], "else")) {
            break;
        }
    }

    if (e == n || e + 1 == n || n - e > 4) {
        ngx_http_ddbm_rerror(cf, rc, 0, "check: takes \"KIND OPERAND... else "
                             "STATUS [CODE [\"message\"]] [log \"TEXT\"]\"");
        return NGX_CONF_ERROR;
    }

    check = ngx_array_push(&rc->route->checks);
    if (check == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(check, sizeof(ngx_http_ddbm_check_t));

    if (ngx_array_init(&check->operands, cf->pool, e - 2,
                       sizeof(ngx_http_ddbm_source_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    status = ngx_atoi(value[e + 1].data, value[e + 1].len);
    if (status < 100 || status > 599) {
        ngx_http_ddbm_rerror(cf, rc, 0, "check: invalid status \"%V\"",
                             &value[e + 1]);
        return NGX_CONF_ERROR;
    }

    check->status = status;
    check->log = log;

    if (e + 2 < n) {
        check->code = value[e + 2];
    }

    if (e + 3 < n) {
        check->message = value[e + 3];
    }

    if (ngx_http_ddbm_str_eq(&value[1], "found")) {
        check->kind = NGX_HTTP_DDBM_CHECK_FOUND;

        if (e == 2) {
            goto operands;
        }

        /* found A|B, or found A B */
        for (i = 2; i < e; i++) {
            start = value[i].data;
            end = start + value[i].len;

            while (start < end) {
                p = ngx_strlchr(start, end, '|');
                if (p == NULL) {
                    p = end;
                }

                step = ngx_http_ddbm_find_step(rc, start, p - start, nsteps);
                s.data = start;
                s.len = p - start;

                if (step == NULL) {
                    ngx_http_ddbm_rerror(cf, rc, 0, "check found: \"%V\" is "
                                         "not a step written before it", &s);
                    return NGX_CONF_ERROR;
                }

                if (!(OPB(step->op) & OP_FINDS)) {
                    ngx_http_ddbm_rerror(cf, rc, 0, "check found: step "
                                         "\"%V\" is a %s: it finds no item",
                                         &s, ngx_http_ddbm_op_names[step->op]);
                    return NGX_CONF_ERROR;
                }

                check->steps |= 1u << step->index;
                start = p + 1;
            }
        }

        check->after_steps = check->steps;

        return NGX_CONF_OK;
    }

    if (ngx_http_ddbm_str_eq(&value[1], "one_of")) {
        check->kind = NGX_HTTP_DDBM_CHECK_ONE_OF;

        if (e < 4) {
            goto operands;
        }

    } else if (ngx_http_ddbm_str_eq(&value[1], "equal")
               || ngx_http_ddbm_str_eq(&value[1], "not_equal"))
    {
        check->kind = (value[1].data[0] == 'e') ? NGX_HTTP_DDBM_CHECK_EQUAL
                                                : NGX_HTTP_DDBM_CHECK_NOT_EQUAL;
        if (e != 4) {
            goto operands;
        }

    } else {
        ngx_http_ddbm_rerror(cf, rc, 0, "check: unknown kind \"%V\" (found "
                             "one_of equal not_equal)", &value[1]);
        return NGX_CONF_ERROR;
    }

    first = NULL;

    for (i = 2; i < e; i++) {
        src = ngx_array_push(&check->operands);
        if (src == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_ddbm_source(cf, rc, &value[i], src, nsteps,
                                 &check->after_steps)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (src->kind == NGX_HTTP_DDBM_SRC_STEP_ALL
            && (i == 2 || check->kind != NGX_HTTP_DDBM_CHECK_ONE_OF))
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "check: \"%V\" is a list: only "
                                 "one_of's candidates may be", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (first == NULL) {
            first = src;

        } else if (first->type && src->type && first->type != src->type) {
            ngx_http_ddbm_rerror(cf, rc, 0, "check: type mismatch against "
                                 "the schema: \"%V\" is a %s, \"%V\" a %s",
                                 &first->text, first->type->name, &src->text,
                                 src->type->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

operands:

    ngx_http_ddbm_rerror(cf, rc, 0, "check %V: wrong number of operands",
                         &value[1]);
    return NGX_CONF_ERROR;
}


/* answer STEP { ... } */
static char *
ngx_http_ddbm_route_answer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    char                    *rv;
    ngx_str_t               *value;
    ngx_uint_t               i, line;
    dm_field_map_t          *map;
    ngx_http_ddbm_step_t    *step, *put;
    ngx_http_ddbm_field_t   *f;
    ngx_http_ddbm_answer_t  *answer;

    value = cf->args->elts;
    line = cf->conf_file->line;
    answer = &rc->route->answer;
    put = NULL;

    if (rc->has_answer) {
        return "is duplicate";
    }

    step = ngx_http_ddbm_find_step(rc, value[1].data, value[1].len,
                                   rc->route->steps.nelts);
    if (step == NULL) {
        ngx_http_ddbm_rerror(cf, rc, 0, "answer: \"%V\" is not a step "
                             "written before it", &value[1]);
        return NGX_CONF_ERROR;
    }

    rc->has_answer = 1;
    answer->step = step->index;
    answer->status = NGX_HTTP_OK;
    rc->fields = &answer->fields;
    rc->step = step;            /* the step the fields read */
    rc->shape_set = 0;

    if (step->op == NGX_HTTP_DDBM_OP_TRANSACT) {
        /* a transaction answers with what its first put writes */
        put = step->actions->elts;

        for (i = 0; i < step->actions->nelts; i++) {
            if (put[i].op == NGX_HTTP_DDBM_OP_PUT) {
                rc->step = &put[i];
                break;
            }
        }

        put = (i < step->actions->nelts) ? &put[i] : NULL;
    }

    rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_answer_commands, rc);

    rc->step = NULL;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (put) {
        /*
         * The put keeps what the answer reads into the transaction's
         * state (they share an index): both read it at one place
         */
        step->reads = put->reads;
    }

    if (!rc->shape_set) {
        answer->object = !(OPB(step->op) & (OPB(NGX_HTTP_DDBM_OP_QUERY)
                                            | OP_BATCH));

    } else if (!answer->object
               && !(OPB(step->op) & (OPB(NGX_HTTP_DDBM_OP_QUERY) | OP_BATCH)))
    {
        ngx_http_ddbm_rerror(cf, rc, rc->shape_line, "answer: step \"%V\" is "
                             "a %s: one item, an object", &step->name,
                             ngx_http_ddbm_op_names[step->op]);
        return NGX_CONF_ERROR;

    } else if (answer->object && step->op == NGX_HTTP_DDBM_OP_BATCH_GET) {
        ngx_http_ddbm_rerror(cf, rc, rc->shape_line, "answer: step \"%V\" is "
                             "a BatchGetItem: a list of items, an array",
                             &step->name);
        return NGX_CONF_ERROR;
    }

    if (answer->cursor_header.len && answer->object) {
        ngx_http_ddbm_rerror(cf, rc, line, "answer: a cursor needs an array");
        return NGX_CONF_ERROR;
    }

    if (answer->reverse && answer->object) {
        ngx_http_ddbm_rerror(cf, rc, line, "answer: \"reverse\" needs an "
                             "array");
        return NGX_CONF_ERROR;
    }

    /* 204: no body, so no field; any other status: at least one */
    if (answer->status == NGX_HTTP_NO_CONTENT) {
        if (answer->fields.nelts || answer->cursor_header.len) {
            ngx_http_ddbm_rerror(cf, rc, line, "answer: status 204 has no "
                                 "body: no field, no cursor");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (answer->fields.nelts == 0) {
        ngx_http_ddbm_rerror(cf, rc, line, "answer: no field");
        return NGX_CONF_ERROR;
    }

    /* a flat array: streamed by the rewrite, field by field */
    if (!answer->object) {
        f = answer->fields.elts;

        for (i = 0; i < answer->fields.nelts; i++) {
            if (f[i].object) {
                return NGX_CONF_OK;
            }
        }

        map = ngx_palloc(cf->pool, answer->fields.nelts
                                   * sizeof(dm_field_map_t));
        if (map == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < answer->fields.nelts; i++) {
            map[i].attr = ngx_http_ddbm_cstr(cf->pool, &f[i].attr);
            map[i].key = ngx_http_ddbm_cstr(cf->pool, &f[i].key);

            if (map[i].attr == NULL || map[i].key == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        answer->map = map;
        answer->nmap = answer->fields.nelts;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ddbm_answer_line(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    ngx_int_t                status;
    ngx_str_t               *value, *sk;
    ngx_http_ddbm_answer_t  *answer;

    value = cf->args->elts;
    answer = &rc->route->answer;

    switch (value[0].data[0]) {

    case 'a':
    case 'o':
        if (rc->shape_set) {
            ngx_http_ddbm_rerror(cf, rc, 0, "answer: \"array\" or \"object\" "
                                 "is duplicate");
            return NGX_CONF_ERROR;
        }

        rc->shape_set = 1;
        rc->shape_line = cf->conf_file->line;
        answer->object = (value[0].data[0] == 'o');
        return NGX_CONF_OK;

    case 'r':
        answer->reverse = 1;
        return NGX_CONF_OK;

    case 'c':
        if (!ngx_http_ddbm_str_eq(&value[1], "header")) {
            return "takes \"header NAME ATTR\"";
        }

        if (answer->cursor_header.len) {
            return "is duplicate";
        }

        sk = &rc->step->item->schema->sk;

        if (rc->step->op == NGX_HTTP_DDBM_OP_BATCH_GET) {
            ngx_http_ddbm_rerror(cf, rc, 0, "answer: a BatchGetItem answers "
                                 "every key it is given: it has no cursor "
                                 "(page its Query)");
            return NGX_CONF_ERROR;
        }

        if (rc->step->op != NGX_HTTP_DDBM_OP_QUERY || sk->len == 0
            || value[3].len != sk->len
            || ngx_strncmp(value[3].data, sk->data, sk->len) != 0)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "answer: the cursor \"%V\" is "
                                 "not the sort key of the Query's table "
                                 "(\"%V\")", &value[3], sk);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_ddbm_step_attr(cf, rc, rc->step, &value[3], NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        answer->cursor_header = value[2];
        answer->cursor_attr = value[3];
        return NGX_CONF_OK;

    default: /* status */
        status = ngx_atoi(value[1].data, value[1].len);
        if (status < 200 || status > 299) {
            return "takes a 2xx status";
        }

        answer->status = status;
        return NGX_CONF_OK;
    }
}


/* field KEY ATTR [TYPE] */
static char *
ngx_http_ddbm_answer_field(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    ngx_str_t               *value, *pk, *sk;
    ngx_uint_t               i;
    ngx_http_ddbm_bind_t    *b;
    ngx_http_ddbm_field_t   *f;
    ngx_http_ddbm_source_t   src;

    value = cf->args->elts;
    f = rc->fields->elts;

    for (i = 0; i < rc->fields->nelts; i++) {
        if (f[i].key.len == value[1].len
            && ngx_strncmp(f[i].key.data, value[1].data, value[1].len) == 0)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "answer: field \"%V\" is "
                                 "duplicate", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (cmd->type & NGX_CONF_BLOCK) {
        return NGX_CONF_OK;
    }

    ngx_memzero(&src, sizeof(ngx_http_ddbm_source_t));

    if (rc->step->op == NGX_HTTP_DDBM_OP_TRANSACT) {
        ngx_http_ddbm_rerror(cf, rc, 0, "answer: field \"%V\": transaction "
                             "\"%V\" has no put action to answer with: "
                             "answer \"status 204\"", &value[1],
                             &rc->step->name);
        return NGX_CONF_ERROR;
    }

    if (rc->step->op == NGX_HTTP_DDBM_OP_PUT) {
        /* a PutItem answers with what it wrote: its key, what it sets */
        pk = &rc->step->item->schema->pk;
        sk = &rc->step->item->schema->sk;
        b = rc->step->set.elts;

        for (i = 0; i < rc->step->set.nelts; i++) {
            if (b[i].name.len == value[2].len
                && ngx_strncmp(b[i].name.data, value[2].data, value[2].len)
                   == 0)
            {
                src.type = b[i].type;
                break;
            }
        }

        if (i == rc->step->set.nelts
            && !ngx_http_ddbm_str_eq(&value[2], (char *) pk->data)
            && !(sk->len
                 && ngx_http_ddbm_str_eq(&value[2], (char *) sk->data)))
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "answer: field \"%V\": step "
                                 "\"%V\" writes no \"%V\"", &value[1],
                                 &rc->step->name, &value[2]);
            return NGX_CONF_ERROR;
        }

        /* the engine keeps what it writes only when something reads it */
        if (ngx_http_ddbm_step_keep(rc->step, &value[2]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (ngx_http_ddbm_step_attr(cf, rc, rc->step, &value[2], &src)
               != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (src.tmpl) {
        ngx_http_ddbm_rerror(cf, rc, 0, "answer: field \"%V\": \"%V\" is a "
                             "slot of a key, not an attribute", &value[1],
                             &value[2]);
        return NGX_CONF_ERROR;
    }

    f = ngx_array_push(rc->fields);
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(f, sizeof(ngx_http_ddbm_field_t));
    f->key = value[1];
    f->attr = value[2];
    f->type = src.type;

    if (cf->args->nelts == 4) {
        f->type = ngx_http_ddbm_type(cf, rc, &value[3]);
        if (f->type == NULL) {
            return NGX_CONF_ERROR;
        }

        if (src.type && src.type != f->type) {
            ngx_http_ddbm_rerror(cf, rc, 0, "answer: field \"%V\": type "
                                 "mismatch against the schema: \"%V\" is a "
                                 "%s", &value[1], &value[2], src.type->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* nest KEY { field ...; }: an object in the answer */
static char *
ngx_http_ddbm_answer_nest(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    char                   *rv;
    ngx_str_t              *value;
    ngx_array_t            *fields;
    ngx_http_ddbm_field_t  *f;

    value = cf->args->elts;

    rv = ngx_http_ddbm_answer_field(cf, cmd, conf);     /* a duplicate? */
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    f = ngx_array_push(rc->fields);
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(f, sizeof(ngx_http_ddbm_field_t));
    f->key = value[1];

    f->object = ngx_array_create(cf->pool, 4, sizeof(ngx_http_ddbm_field_t));
    if (f->object == NULL) {
        return NGX_CONF_ERROR;
    }

    fields = rc->fields;
    rc->fields = f->object;

    rv = ngx_http_ddbm_rblock(cf, ngx_http_ddbm_nest_commands, rc);

    rc->fields = fields;

    if (rv == NGX_CONF_OK && f->object->nelts == 0) {
        ngx_http_ddbm_rerror(cf, rc, 0, "answer: \"%V\" has no field",
                             &value[1]);
        return NGX_CONF_ERROR;
    }

    return rv;
}


/* ddbm_errors { ERROR STATUS CODE [retry]; } inside a route */
static char *
ngx_http_ddbm_route_errors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = cf->handler_conf;

    char        *rv;
    ngx_conf_t   save;

    if (rc->route->errors) {
        return "is duplicate";
    }

    rc->route->errors = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_http_ddbm_error_map_t));
    if (rc->route->errors == NULL) {
        return NGX_CONF_ERROR;
    }

    /* its lines are error names: a custom handler, as in "types {}" */
    save = *cf;
    cf->handler = ngx_http_ddbm_errors_line;
    cf->handler_conf = rc;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


static char *
ngx_http_ddbm_errors_line(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_ddbm_rconf_t  *rc = conf;

    ngx_int_t                   status;
    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_http_ddbm_error_map_t  *m;

    value = cf->args->elts;

    if (cf->args->nelts < 3 || cf->args->nelts > 4
        || (cf->args->nelts == 4 && !ngx_http_ddbm_str_eq(&value[3], "retry")))
    {
        ngx_http_ddbm_rerror(cf, rc, 0, "ddbm_errors: takes \"ERROR STATUS "
                             "CODE [retry]\"");
        return NGX_CONF_ERROR;
    }

    status = ngx_atoi(value[1].data, value[1].len);
    if (status < 400 || status > 599) {
        ngx_http_ddbm_rerror(cf, rc, 0, "ddbm_errors: invalid status \"%V\"",
                             &value[1]);
        return NGX_CONF_ERROR;
    }

    m = rc->route->errors->elts;

    for (i = 0; i < rc->route->errors->nelts; i++) {
        if (m[i].error.len == value[0].len
            && ngx_strncmp(m[i].error.data, value[0].data, value[0].len) == 0)
        {
            ngx_http_ddbm_rerror(cf, rc, 0, "ddbm_errors: \"%V\" is "
                                 "duplicate", &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    m = ngx_array_push(rc->route->errors);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    m->error = value[0];
    m->status = status;
    m->code = value[2];
    m->retry = (cf->args->nelts == 4);

    return NGX_CONF_OK;
}


ngx_array_t *
ngx_http_ddbm_routes(ngx_conf_t *cf)
{
    ngx_http_ddbm_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ddbm_module);

    return dmcf->routes;
}
