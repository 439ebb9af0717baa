/*
 * Declared routes, explained: each route's DynamoDB requests with their
 * typed slots, and the least-privilege IAM policy the configuration needs.
 *
 * Only under "nginx -t" with DDBM_PLAN=FILE (or "-": stdout) in the
 * environment; `ddbm plan` sets it.  NGINX's parser has compiled the
 * routes by now (postconfiguration), so what is printed is what the engine
 * (ngx_http_ddbm_route_run.c) sends, never a second reading of the text.
 *
 *   DDBM_PLAN_POLICY=only    the policy alone (`ddbm plan --policy-only`)
 *   DDBM_PLAN_ACCOUNT=ID     the account in the ARNs (default ACCOUNT_ID)
 *
 * The locations are found in NGINX's own location trees: each location's
 * merged configuration gives its pattern, its effective table and region.
 * The C patterns (ddbm_pattern) are described by a static table of what
 * their code calls.
 */

#include "ngx_http_ddbm_route.h"


/* IAM actions, in the policy's (alphabetical) order */
#define PLAN_BATCH_GET       0x01
#define PLAN_CONDITION       0x02
#define PLAN_DELETE          0x04
#define PLAN_DESCRIBE        0x08
#define PLAN_GET             0x10
#define PLAN_PUT             0x20
#define PLAN_QUERY           0x40
#define PLAN_UPDATE          0x80

/* the C patterns' index (NGX_HTTP_DDBM_GSI in ngx_http_ddbm_groups.c) */
#define PLAN_C_INDEX         "message-group-sk-index"


typedef struct {
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_ddbm_loc_conf_t   *dlcf;
} ngx_http_ddbm_plan_loc_t;

/* what one resource (a table, or an index of it) is granted */
typedef struct {
    ngx_str_t                   arn;
    ngx_uint_t                  actions;
} ngx_http_ddbm_plan_grant_t;

typedef struct {
    ngx_conf_t                 *cf;
    dm_buf_t                    out;
    ngx_array_t                 locs;          /* ngx_http_ddbm_plan_loc_t */
    ngx_array_t                 grants;        /* plan_grant_t */
    ngx_str_t                   account;
} ngx_http_ddbm_plan_t;

/*
 * What a C pattern calls, read from its code: the table's actions, and
 * the actions on PLAN_C_INDEX.  The posts' TransactWriteItems holds Puts
 * and Deletes only (ngx_http_ddbm_write.c), authorised per action.
 */
typedef struct {
    const char                 *name;
    ngx_uint_t                  table;
    ngx_uint_t                  index;
    const char                 *calls;
} ngx_http_ddbm_plan_c_t;


static ngx_int_t ngx_http_ddbm_plan_walk(ngx_http_ddbm_plan_t *pl,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_http_ddbm_plan_tree(ngx_http_ddbm_plan_t *pl,
    ngx_http_location_tree_node_t *node);
static ngx_http_ddbm_plan_loc_t *ngx_http_ddbm_plan_where(
    ngx_http_ddbm_plan_t *pl, ngx_http_ddbm_route_t *route);
static void ngx_http_ddbm_plan_route(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_route_t *route, ngx_http_ddbm_plan_loc_t *loc);
static ngx_int_t ngx_http_ddbm_plan_step(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_route_t *route, ngx_http_ddbm_step_t *step,
    ngx_http_ddbm_plan_loc_t *loc, ngx_uint_t action);
static ngx_int_t ngx_http_ddbm_plan_grant(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_loc_conf_t *dlcf, ngx_str_t *index, ngx_uint_t actions);
static void ngx_http_ddbm_plan_policy(ngx_http_ddbm_plan_t *pl);
static void ngx_http_ddbm_plan_printf(ngx_http_ddbm_plan_t *pl,
    const char *fmt, ...);


static const char  *ngx_http_ddbm_plan_actions[] = {
    "BatchGetItem", "ConditionCheckItem", "DeleteItem", "DescribeTable",
    "GetItem", "PutItem", "Query", "UpdateItem", NULL
};


static const char  *ngx_http_ddbm_plan_ops[] = {
    "GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
    "BatchGetItem", "TransactWriteItems", "ConditionCheck"
};


/* an action's member of TransactItems, by its operation */
static const char  *ngx_http_ddbm_plan_tx_members[] = {
    "", "", "Put", "Update", "Delete", "", "", "ConditionCheck"
};


static ngx_http_ddbm_plan_c_t  ngx_http_ddbm_plan_c[] = {

    { "health", PLAN_DESCRIBE, 0,
      "DescribeTable (the table's status)" },

    { "post_message", PLAN_GET|PLAN_PUT|PLAN_DELETE, PLAN_QUERY,
      "GetItem (the caller, the conversation, a receipt), Query on "
      PLAN_C_INDEX " (its rows), TransactWriteItems of Put and Delete" },

    { "start_conversation", PLAN_GET|PLAN_PUT|PLAN_DELETE, 0,
      "GetItem (the caller, the receiver, a receipt), TransactWriteItems "
      "of Put and Delete" },

    { NULL, 0, 0, NULL }
};


static const char  *ngx_http_ddbm_plan_outcomes[] = {
    "", "missing", "empty", "invalid", "not_utf8", "too_short", "too_long",
    "out_of_range", "not_allowed", "no_room"
};


static const char  *ngx_http_ddbm_plan_caches[] = {
    "", "directory (ddbm_cache user_ttl; absent: negative_ttl)",
    "membership (ddbm_cache group_ttl; found items only)",
    "revision (ddbm_cache group_ttl)"
};


static const char  *ngx_http_ddbm_plan_sk_ops[] = {
    "", " = ", " < ", " <= ", " > ", " >= "
};


ngx_int_t
ngx_http_ddbm_route_plan(ngx_conf_t *cf)
{
    char                        *file, *env, *only;
    ngx_fd_t                     fd;
    ngx_uint_t                   i, k, c;
    ngx_array_t                 *routes;
    ngx_http_ddbm_route_t      **rp;
    ngx_http_ddbm_plan_t         pl;
    ngx_http_ddbm_plan_c_t      *pc;
    ngx_http_ddbm_plan_loc_t    *loc;
    ngx_http_core_srv_conf_t   **cscf;
    ngx_http_core_main_conf_t   *cmcf;

    file = getenv("DDBM_PLAN");

    if (file == NULL || *file == '\0' || !ngx_test_config) {
        return NGX_OK;
    }

    only = getenv("DDBM_PLAN_POLICY");

    ngx_memzero(&pl, sizeof(ngx_http_ddbm_plan_t));
    pl.cf = cf;
    ngx_http_ddbm_buf_init(&pl.out, cf->pool);

    env = getenv("DDBM_PLAN_ACCOUNT");

    if (env && *env) {
        pl.account.data = (u_char *) env;
        pl.account.len = ngx_strlen(env);

    } else {
        ngx_str_set(&pl.account, "ACCOUNT_ID");
    }

    if (ngx_array_init(&pl.locs, cf->pool, 16,
                       sizeof(ngx_http_ddbm_plan_loc_t)) != NGX_OK
        || ngx_array_init(&pl.grants, cf->pool, 4,
                          sizeof(ngx_http_ddbm_plan_grant_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* every location of every server, nested ones included */
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscf = cmcf->servers.elts;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        if (ngx_http_ddbm_plan_walk(&pl,
                cscf[i]->ctx->loc_conf[ngx_http_core_module.ctx_index])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (cscf[i]->named_locations) {
            for (k = 0; cscf[i]->named_locations[k]; k++) {
                if (ngx_http_ddbm_plan_walk(&pl,
                                            cscf[i]->named_locations[k])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    routes = ngx_http_ddbm_routes(cf);
    rp = routes ? routes->elts : NULL;

    ngx_http_ddbm_plan_printf(&pl, "# ddbm plan: %ui declared route(s)\n",
                              routes ? routes->nelts : 0);

    /* declared routes, in the order they are written */
    for (i = 0; routes && i < routes->nelts; i++) {
        loc = ngx_http_ddbm_plan_where(&pl, rp[i]);

        if (loc == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm plan: route "
                               "\"%V\" (%V:%ui) is in no location NGINX "
                               "can route to", &rp[i]->name, &rp[i]->file,
                               rp[i]->line);
            return NGX_ERROR;
        }


        ngx_http_ddbm_plan_route(&pl, rp[i], loc);
    }

    /* the C patterns still in use, and every location's status refresh */
    loc = pl.locs.elts;
    c = 0;

    for (i = 0; i < pl.locs.nelts; i++) {
        if (loc[i].dlcf->pattern == NULL) {
            continue;
        }

        if (loc[i].dlcf->cache
            && loc[i].dlcf->pattern != &ngx_http_ddbm_pattern_health
            && ngx_http_ddbm_plan_grant(&pl, loc[i].dlcf, NULL,
                                        PLAN_DESCRIBE) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (loc[i].dlcf->pattern->route) {
            continue;
        }

        for (pc = ngx_http_ddbm_plan_c; pc->name; pc++) {
            if (loc[i].dlcf->pattern->name.len == ngx_strlen(pc->name)
                && ngx_strncmp(loc[i].dlcf->pattern->name.data, pc->name,
                               loc[i].dlcf->pattern->name.len) == 0)
            {
                break;
            }
        }

        if (pc->name == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ddbm plan: pattern "
                               "\"%V\" has no entry in the plan's table of "
                               "C patterns", &loc[i].dlcf->pattern->name);
            return NGX_ERROR;
        }

        if (c++ == 0) {
            ngx_http_ddbm_plan_printf(&pl, "\n# C patterns (ddbm_pattern)"
                                      "\n");
        }

        ngx_http_ddbm_plan_printf(&pl, "\npattern %s\n  location %s%V\n"
                                  "  table %V, region %V\n  calls %s\n",
                                  pc->name,
                                  loc[i].clcf->exact_match ? "= "
                                  : (loc[i].clcf->noregex ? "^~ " : ""),
                                  &loc[i].clcf->name, &loc[i].dlcf->table,
                                  &loc[i].dlcf->region, pc->calls);

        if (ngx_http_ddbm_plan_grant(&pl, loc[i].dlcf, NULL, pc->table)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (pc->index) {
            ngx_str_t  gsi = ngx_string(PLAN_C_INDEX);

            if (ngx_http_ddbm_plan_grant(&pl, loc[i].dlcf, &gsi, pc->index)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (only && ngx_strcmp(only, "only") == 0) {
        pl.out.len = 0;

    } else {
        ngx_http_ddbm_plan_printf(&pl, "\n# IAM policy\n");
    }

    ngx_http_ddbm_plan_policy(&pl);

    if (pl.out.failed) {
        return NGX_ERROR;
    }

    if (file[0] == '-' && file[1] == '\0') {
        fd = ngx_stdout;

    } else {
        fd = ngx_open_file(file, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                           NGX_FILE_DEFAULT_ACCESS);
        if (fd == NGX_INVALID_FILE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "ddbm plan: " ngx_open_file_n " \"%s\" "
                               "failed", file);
            return NGX_ERROR;
        }
    }

    if (ngx_write_fd(fd, pl.out.data, pl.out.len) != (ssize_t) pl.out.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "ddbm plan: "
                           "cannot write \"%s\"", file);

        if (fd != ngx_stdout) {
            (void) ngx_close_file(fd);
        }

        return NGX_ERROR;
    }

    if (fd != ngx_stdout && ngx_close_file(fd) == NGX_FILE_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a location, then the locations inside it */
static ngx_int_t
ngx_http_ddbm_plan_walk(ngx_http_ddbm_plan_t *pl,
    ngx_http_core_loc_conf_t *clcf)
{
    ngx_http_ddbm_plan_loc_t   *loc;
#if (NGX_PCRE)
    ngx_http_core_loc_conf_t  **re;
#endif

    /* a server's own configuration has no loc_conf here, nor a pattern */
    if (clcf->loc_conf) {
        loc = ngx_array_push(&pl->locs);
        if (loc == NULL) {
            return NGX_ERROR;
        }

        loc->clcf = clcf;
        loc->dlcf = clcf->loc_conf[ngx_http_ddbm_module.ctx_index];
    }

    if (ngx_http_ddbm_plan_tree(pl, clcf->static_locations) != NGX_OK) {
        return NGX_ERROR;
    }

#if (NGX_PCRE)
    if (clcf->regex_locations) {
        for (re = clcf->regex_locations; *re; re++) {
            if (ngx_http_ddbm_plan_walk(pl, *re) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }
#endif

    return NGX_OK;
}


/* the static locations' tree, as ngx_http_block() left it */
static ngx_int_t
ngx_http_ddbm_plan_tree(ngx_http_ddbm_plan_t *pl,
    ngx_http_location_tree_node_t *node)
{
    if (node == NULL) {
        return NGX_OK;
    }

    if ((node->exact && ngx_http_ddbm_plan_walk(pl, node->exact) != NGX_OK)
        || (node->inclusive
            && ngx_http_ddbm_plan_walk(pl, node->inclusive) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (ngx_http_ddbm_plan_tree(pl, node->left) != NGX_OK
        || ngx_http_ddbm_plan_tree(pl, node->right) != NGX_OK
        || ngx_http_ddbm_plan_tree(pl, node->tree) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_ddbm_plan_loc_t *
ngx_http_ddbm_plan_where(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_route_t *route)
{
    ngx_uint_t                 i;
    ngx_http_ddbm_route_t     *r;
    ngx_http_ddbm_plan_loc_t  *loc;

    loc = pl->locs.elts;

    for (i = 0; i < pl->locs.nelts; i++) {
        if (loc[i].dlcf->pattern == NULL) {
            continue;
        }

        for (r = loc[i].dlcf->pattern->route; r; r = r->next) {
            if (r == route) {
                return &loc[i];
            }
        }
    }

    return NULL;
}


static void
ngx_http_ddbm_plan_printf(ngx_http_ddbm_plan_t *pl, const char *fmt, ...)
{
    u_char   buf[4096], *p;
    va_list  args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    dm_buf_append(&pl->out, buf, p - buf);
}


static const char *
ngx_http_ddbm_plan_type(const dm_rtype_t *t)
{
    return t ? t->name : "raw";
}


/* {slot:type <- source}: a value as it reaches DynamoDB */
static void
ngx_http_ddbm_plan_bind(ngx_http_ddbm_plan_t *pl, ngx_str_t *slot,
    const dm_rtype_t *type, ngx_http_ddbm_source_t *src)
{
    if (slot && slot->len) {
        ngx_http_ddbm_plan_printf(pl, "{%V:%s <- %V}", slot,
                                  ngx_http_ddbm_plan_type(type), &src->text);

    } else {
        ngx_http_ddbm_plan_printf(pl, "{%s <- %V}",
                                  ngx_http_ddbm_plan_type(type), &src->text);
    }
}


/* "MSG#" + {group:uuid <- path:group}; *k: the next bind of the key */
static void
ngx_http_ddbm_plan_tmpl(ngx_http_ddbm_plan_t *pl, const dm_rtmpl_t *t,
    ngx_http_ddbm_step_t *step, ngx_uint_t *k)
{
    size_t                 i;
    ngx_http_ddbm_bind_t  *b;

    b = step->key.elts;

    for (i = 0; i < t->nparts; i++) {
        if (i) {
            ngx_http_ddbm_plan_printf(pl, " + ");
        }

        if (!t->part[i].slot) {
            ngx_http_ddbm_plan_printf(pl, "\"%*s\"", t->part[i].lit.len,
                                      t->part[i].lit.data);

        } else if (*k < step->key.nelts) {
            ngx_http_ddbm_plan_bind(pl, &b[*k].name, b[*k].type,
                                    &b[*k].source);
            (*k)++;

        } else {
            ngx_http_ddbm_plan_printf(pl, "{%s:%s}", t->part[i].name,
                                      ngx_http_ddbm_plan_type(
                                          t->part[i].type));
        }
    }
}


/* can the value be absent at run time (then a sort key test is left out) */
static ngx_uint_t
ngx_http_ddbm_plan_may_miss(ngx_http_ddbm_source_t *src)
{
    if (src->has_default) {
        return 0;
    }

    switch (src->kind) {
    case NGX_HTTP_DDBM_SRC_VAR:
    case NGX_HTTP_DDBM_SRC_ARG:
    case NGX_HTTP_DDBM_SRC_BODY:
    case NGX_HTTP_DDBM_SRC_STEP:
        return 1;
    default:
        return 0;
    }
}


static void
ngx_http_ddbm_plan_validate(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_validate_t *v)
{
    ngx_uint_t  j, first, same;

    ngx_http_ddbm_plan_printf(pl, "  validate %V as %s%s:", &v->source.text,
                              ngx_http_ddbm_plan_type(v->type),
                              v->optional ? ", optional" : "");

    first = v->optional ? DM_RBIND_EMPTY : DM_RBIND_MISSING;
    same = 1;

    for (j = first + 1; j <= DM_RBIND_NOT_ALLOWED; j++) {
        if (v->status[j] != v->status[first]
            || v->code[j].len != v->code[first].len
            || ngx_strncmp(v->code[j].data, v->code[first].data,
                           v->code[j].len) != 0)
        {
            same = 0;
            break;
        }
    }

    for (j = first; j <= DM_RBIND_NOT_ALLOWED; j++) {
        if (same) {
            ngx_http_ddbm_plan_printf(pl, " any failure ->");

        } else {
            ngx_http_ddbm_plan_printf(pl, "\n    %s ->",
                                      ngx_http_ddbm_plan_outcomes[j]);
        }

        if (v->code[j].len) {
            ngx_http_ddbm_plan_printf(pl, " %ui %V", v->status[j],
                                      &v->code[j]);

        } else {
            ngx_http_ddbm_plan_printf(pl, " %ui invalid_<source>",
                                      v->status[j]);
        }

        if (same) {
            break;
        }
    }

    if (v->optional) {
        ngx_http_ddbm_plan_printf(pl, "%smissing is no failure",
                                  same ? "; " : "\n    ");
    }

    if (v->message.len) {
        ngx_http_ddbm_plan_printf(pl, "\n    message \"%V\"", &v->message);
    }

    ngx_http_ddbm_plan_printf(pl, "\n");
}


static void
ngx_http_ddbm_plan_check(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_route_t *route, ngx_uint_t n)
{
    ngx_uint_t               i, k;
    ngx_http_ddbm_step_t    *step;
    ngx_http_ddbm_check_t   *check;
    ngx_http_ddbm_source_t  *op;
    static const char       *kinds[] = { "found", "one_of", "equal",
                                         "not_equal" };

    check = (ngx_http_ddbm_check_t *) route->checks.elts + n;
    step = route->steps.elts;

    ngx_http_ddbm_plan_printf(pl, "  check %ui: %s", n + 1,
                              kinds[check->kind]);

    if (check->kind == NGX_HTTP_DDBM_CHECK_FOUND) {
        k = 0;

        for (i = 0; i < route->steps.nelts; i++) {
            if (check->steps & (1u << i)) {
                ngx_http_ddbm_plan_printf(pl, "%s%V", k++ ? "|" : " ",
                                          &step[i].name);
            }
        }

    } else {
        op = check->operands.elts;

        for (i = 0; i < check->operands.nelts; i++) {
            ngx_http_ddbm_plan_printf(pl, " %V", &op[i].text);
        }
    }

    ngx_http_ddbm_plan_printf(pl, " else %ui %V%s", check->status,
                              &check->code, check->code.len ? "" : "{}");

    if (check->message.len) {
        ngx_http_ddbm_plan_printf(pl, " \"%V\"", &check->message);
    }

    if (check->log.len) {
        ngx_http_ddbm_plan_printf(pl, ", logs \"%V\"", &check->log);
    }

    ngx_http_ddbm_plan_printf(pl, "\n");
}


static void
ngx_http_ddbm_plan_fields(ngx_http_ddbm_plan_t *pl, ngx_array_t *fields,
    ngx_uint_t depth)
{
    ngx_uint_t              i;
    ngx_http_ddbm_field_t  *f;

    f = fields->elts;

    for (i = 0; i < fields->nelts; i++) {
        ngx_http_ddbm_plan_printf(pl, "%*s", 4 + 2 * depth,
                                  "                                ");

        if (f[i].object) {
            ngx_http_ddbm_plan_printf(pl, "%V: {\n", &f[i].key);
            ngx_http_ddbm_plan_fields(pl, f[i].object, depth + 1);
            ngx_http_ddbm_plan_printf(pl, "%*s}\n", 4 + 2 * depth,
                                      "                                ");
            continue;
        }

        ngx_http_ddbm_plan_printf(pl, "%V <- %V", &f[i].key, &f[i].attr);

        if (f[i].type) {
            ngx_http_ddbm_plan_printf(pl, " as %s", f[i].type->name);
        }

        ngx_http_ddbm_plan_printf(pl, "\n");
    }
}


static void
ngx_http_ddbm_plan_route(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_route_t *route, ngx_http_ddbm_plan_loc_t *loc)
{
    ngx_uint_t                 i, k, printed;
    ngx_http_ddbm_step_t      *step;
    ngx_http_ddbm_validate_t  *v;
    ngx_http_ddbm_answer_t    *ans;
    static struct {
        ngx_uint_t             method;
        const char            *name;
    } methods[] = {
        { NGX_HTTP_GET, "GET" }, { NGX_HTTP_HEAD, "HEAD" },
        { NGX_HTTP_POST, "POST" }, { NGX_HTTP_PUT, "PUT" },
        { NGX_HTTP_PATCH, "PATCH" }, { NGX_HTTP_DELETE, "DELETE" },
        { 0, NULL }
    };

    ngx_http_ddbm_plan_printf(pl, "\nroute %V", &route->name);

    for (i = 0; methods[i].name; i++) {
        if (route->methods & methods[i].method) {
            ngx_http_ddbm_plan_printf(pl, " %s", methods[i].name);
        }
    }

    ngx_http_ddbm_plan_printf(pl, "\n  declared at %V:%ui\n"
                              "  location %s%V\n"
                              "  table %V (schema %V), region %V\n",
                              &route->file, route->line,
                              loc->clcf->exact_match ? "= "
                              : (loc->clcf->regex ? "~ "
                                 : (loc->clcf->noregex ? "^~ " : "")),
                              &loc->clcf->name, &loc->dlcf->table,
                              &route->schema->name, &loc->dlcf->region);

    if (route->needs_identity || route->reads_body) {
        ngx_http_ddbm_plan_printf(pl, "  needs%s%s\n",
                                  route->needs_identity
                                  ? " the identity (ddbm_identity)" : "",
                                  route->reads_body
                                  ? (route->needs_identity
                                     ? " and the JSON body"
                                     : " the JSON body")
                                  : "");
    }

    v = route->validates.elts;

    for (i = 0; i < route->validates.nelts; i++) {
        ngx_http_ddbm_plan_validate(pl, &v[i]);
    }

    step = route->steps.elts;
    printed = 0;

    for (i = 0; i < route->steps.nelts; i++) {
        /* the checks written before the step */
        for (k = printed; k < route->checks.nelts; k++) {
            if (!(step[i].after_checks & (1u << k))) {
                break;
            }

            ngx_http_ddbm_plan_check(pl, route, k);
            printed = k + 1;
        }

        if (ngx_http_ddbm_plan_step(pl, route, &step[i], loc, 0) != NGX_OK) {
            pl->out.failed = 1;
            return;
        }
    }

    for (k = printed; k < route->checks.nelts; k++) {
        ngx_http_ddbm_plan_check(pl, route, k);
    }

    ans = &route->answer;

    ngx_http_ddbm_plan_printf(pl, "  answer %V: %s%s, status %ui\n",
                              &step[ans->step].name,
                              ans->object ? "object" : "array",
                              ans->reverse ? ", items in reverse order" : "",
                              ans->status ? ans->status : 200);

    ngx_http_ddbm_plan_fields(pl, &ans->fields, 0);

    if (ans->cursor_header.len) {
        ngx_http_ddbm_plan_printf(pl, "    header %V <- %V of the last item, "
                                  "when more may follow\n",
                                  &ans->cursor_header, &ans->cursor_attr);
    }
}


/*
 * One step: the request the engine sends, as ngx_http_ddbm_step_issue()
 * (action K > 0: the K-th action of a transaction, as
 * ngx_http_ddbm_tx_issue() builds it)
 */
static ngx_int_t
ngx_http_ddbm_plan_step(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_route_t *route, ngx_http_ddbm_step_t *step,
    ngx_http_ddbm_plan_loc_t *loc, ngx_uint_t action)
{
    size_t                   i;
    ngx_str_t               *a, *kpk, *ksk;
    ngx_uint_t               k, n, nsk, actions;
    ngx_array_t             *project;
    dm_rname_t              *names;
    ngx_http_ddbm_step_t    *steps;
    ngx_http_ddbm_bind_t    *b;
    ngx_http_ddbm_schema_t  *schema;

    steps = route->steps.elts;
    schema = step->item->schema;

    if (action) {
        ngx_http_ddbm_plan_printf(pl, "    action %ui: %s %V\n", action,
                                  ngx_http_ddbm_plan_tx_members[step->op],
                                  &step->item->name);
        goto request;
    }

    if (step->op == NGX_HTTP_DDBM_OP_TRANSACT) {
        ngx_http_ddbm_plan_printf(pl, "  step %ui %V: TransactWriteItems, "
                                  "%ui actions\n", step->index + 1,
                                  &step->name, step->actions->nelts);

    } else {
        ngx_http_ddbm_plan_printf(pl, "  step %ui %V: %s %V\n",
                                  step->index + 1, &step->name,
                                  ngx_http_ddbm_plan_ops[step->op],
                                  &step->item->name);
    }

    /* when it runs */
    ngx_http_ddbm_plan_printf(pl, "    after");
    n = 0;

    for (k = 0; k < route->steps.nelts; k++) {
        if (step->after_steps & (1u << k)) {
            ngx_http_ddbm_plan_printf(pl, "%s%V", n++ ? ", " : " ",
                                      &steps[k].name);
        }
    }

    for (k = 0; k < route->checks.nelts; k++) {
        if (step->after_checks & (1u << k)) {
            ngx_http_ddbm_plan_printf(pl, "%scheck %ui", n++ ? ", " : " ",
                                      k + 1);
        }
    }

    ngx_http_ddbm_plan_printf(pl, "%s\n", n ? "" : " nothing: first round");

    if (step->when_missing >= 0) {
        ngx_http_ddbm_plan_printf(pl, "    only when %V found no item\n",
                                  &steps[step->when_missing].name);
    }

    if (step->op == NGX_HTTP_DDBM_OP_TRANSACT) {
        /* IAM authorises each action by its own operation */
        ngx_http_ddbm_plan_printf(pl, "    ClientRequestToken: derived "
                                  "from a new uuid and the actions, the "
                                  "same when the call is retried\n");

        for (k = 0; k < step->actions->nelts; k++) {
            if (ngx_http_ddbm_plan_step(pl, route,
                                &((ngx_http_ddbm_step_t *)
                                  step->actions->elts)[k], loc, k + 1)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (step->reads.nelts) {
            a = step->reads.elts;
            ngx_http_ddbm_plan_printf(pl, "    keeps");

            for (n = 0; n < step->reads.nelts; n++) {
                ngx_http_ddbm_plan_printf(pl, "%s%V", n ? ", " : " ", &a[n]);
            }

            ngx_http_ddbm_plan_printf(pl, " (what its first put writes)\n");
        }

        return NGX_OK;
    }

request:

    ngx_http_ddbm_plan_printf(pl, "    %s %V\n",
                              step->op == NGX_HTTP_DDBM_OP_BATCH_GET
                              ? "RequestItems" : "TableName",
                              &loc->dlcf->table);

    kpk = NULL;
    ksk = NULL;
    nsk = 0;
    b = step->key.elts;
    k = 0;

    if (step->op == NGX_HTTP_DDBM_OP_QUERY) {
        if (step->ddb_index) {
            ngx_http_ddbm_plan_printf(pl, "    IndexName %V\n",
                                      &step->ddb_index->name);
            kpk = &step->ddb_index->pk;

        } else {
            kpk = &schema->pk;

            if (step->key_has_sk) {
                ksk = &schema->sk;
            }
        }

        if (ksk == NULL && step->sk_op != NGX_HTTP_DDBM_SK_NONE) {
            nsk = (step->sk_op == NGX_HTTP_DDBM_SK_BETWEEN) ? 2 : 1;
            ksk = step->ddb_index ? &step->ddb_index->sk : &schema->sk;
        }

        ngx_http_ddbm_plan_printf(pl, "    KeyConditionExpression "
                                  "#ddbmk0 = :ddbmk0");

        if (step->key_has_sk && !step->ddb_index) {
            ngx_http_ddbm_plan_printf(pl, " AND #ddbmk1 = :ddbmk1");

        } else if (nsk == 2) {
            ngx_http_ddbm_plan_printf(pl, " AND #ddbmk1 BETWEEN :ddbmk1 "
                                      "AND :ddbmk2");

        } else if (step->sk_op == NGX_HTTP_DDBM_SK_BEGINS_WITH) {
            ngx_http_ddbm_plan_printf(pl, " AND begins_with(#ddbmk1, "
                                      ":ddbmk1)");

        } else if (nsk) {
            ngx_http_ddbm_plan_printf(pl, " AND #ddbmk1%s:ddbmk1",
                                      ngx_http_ddbm_plan_sk_ops[step->sk_op]);
        }

        ngx_http_ddbm_plan_printf(pl, "\n");

        if (nsk && ngx_http_ddbm_plan_may_miss(&step->sk_value[0].source)) {
            ngx_http_ddbm_plan_printf(pl, "      (the %V test is left out "
                                      "when %V is missing)\n", ksk,
                                      &step->sk_value[0].source.text);
        }

        if (step->limit.source.kind != NGX_HTTP_DDBM_SRC_NONE) {
            ngx_http_ddbm_plan_printf(pl, "    Limit ");
            ngx_http_ddbm_plan_bind(pl, NULL, step->limit.type,
                                    &step->limit.source);
            ngx_http_ddbm_plan_printf(pl, "%s%s\n",
                                      ngx_http_ddbm_plan_may_miss(
                                          &step->limit.source)
                                      ? ", none when missing" : "",
                                      step->fill
                                      ? ", read on until that many items "
                                        "pass the filter" : "");
        }

        ngx_http_ddbm_plan_printf(pl, "    ScanIndexForward %s\n",
                                  step->forward ? "true" : "false");

    } else if (step->op == NGX_HTTP_DDBM_OP_PUT) {
        ngx_http_ddbm_plan_printf(pl, "    Item\n      %V = ", &schema->pk);
        ngx_http_ddbm_plan_tmpl(pl, &step->item->pk, step, &k);

        if (schema->sk.len) {
            ngx_http_ddbm_plan_printf(pl, "\n      %V = ", &schema->sk);
            ngx_http_ddbm_plan_tmpl(pl, &step->item->sk, step, &k);
        }

        b = step->set.elts;

        for (i = 0; i < step->set.nelts; i++) {
            ngx_http_ddbm_plan_printf(pl, "\n      %V = ", &b[i].name);
            ngx_http_ddbm_plan_bind(pl, NULL, b[i].type, &b[i].source);
        }

        ngx_http_ddbm_plan_printf(pl, "\n");

    } else {
        if (step->op == NGX_HTTP_DDBM_OP_BATCH_GET) {
            ngx_http_ddbm_plan_printf(pl, "    Keys, one per item of %V, in "
                                      "its order, each once (none: no "
                                      "call)", &steps[step->keys_of].name);
        } else {
            ngx_http_ddbm_plan_printf(pl, "    Key");
        }

        ngx_http_ddbm_plan_printf(pl, "\n      %V = ", &schema->pk);
        ngx_http_ddbm_plan_tmpl(pl, &step->item->pk, step, &k);

        if (schema->sk.len) {
            ngx_http_ddbm_plan_printf(pl, "\n      %V = ", &schema->sk);
            ngx_http_ddbm_plan_tmpl(pl, &step->item->sk, step, &k);
        }

        ngx_http_ddbm_plan_printf(pl, "\n");
    }

    /* what a read asks back: the engine's own choice (step->ask) */
    project = step->ask;

    if (step->op == NGX_HTTP_DDBM_OP_GET
        || step->op == NGX_HTTP_DDBM_OP_QUERY
        || step->op == NGX_HTTP_DDBM_OP_BATCH_GET)
    {
        if (project) {
            ngx_http_ddbm_plan_printf(pl, "    ProjectionExpression");

            for (n = 0; n < project->nelts; n++) {
                ngx_http_ddbm_plan_printf(pl, "%s#ddbmp%ui",
                                          n ? ", " : " ", n);
            }

            ngx_http_ddbm_plan_printf(pl, "\n");

        } else {
            ngx_http_ddbm_plan_printf(pl, "    (no ProjectionExpression: "
                                      "the answer is an object or nests "
                                      "fields, it reads the whole item)\n");
        }

        if (step->consistent && !step->ddb_index) {
            ngx_http_ddbm_plan_printf(pl, "    ConsistentRead true\n");
        }
    }

    if (step->condition) {
        ngx_http_ddbm_plan_printf(pl, "    ConditionExpression %*s\n",
                                  step->condition->text.len,
                                  step->condition->text.data);
    }

    if (step->update) {
        ngx_http_ddbm_plan_printf(pl, "    UpdateExpression %*s\n%s",
                                  step->update->text.len,
                                  step->update->text.data,
                                  action ? "" : "    ReturnValues ALL_NEW\n");
    }

    if (step->filter) {
        ngx_http_ddbm_plan_printf(pl, "    FilterExpression %*s\n",
                                  step->filter->text.len,
                                  step->filter->text.data);
    }

    /* the names, in ngx_http_ddbm_json_names()' order */
    if (project || kpk || step->names.nelts) {
        ngx_http_ddbm_plan_printf(pl, "    ExpressionAttributeNames\n");

        a = project ? project->elts : NULL;

        for (n = 0; project && n < project->nelts; n++) {
            ngx_http_ddbm_plan_printf(pl, "      #ddbmp%ui = %V\n", n, &a[n]);
        }

        if (kpk) {
            ngx_http_ddbm_plan_printf(pl, "      #ddbmk0 = %V\n", kpk);
        }

        if (ksk) {
            ngx_http_ddbm_plan_printf(pl, "      #ddbmk1 = %V\n", ksk);
        }

        names = step->names.elts;

        for (n = 0; n < step->names.nelts; n++) {
            ngx_http_ddbm_plan_printf(pl, "      %*s = %*s\n",
                                      names[n].alias.len,
                                      names[n].alias.data,
                                      names[n].attr.len, names[n].attr.data);
        }
    }

    /* the values: the key condition's, then the expressions' */
    if (kpk || step->values.nelts) {
        ngx_http_ddbm_plan_printf(pl, "    ExpressionAttributeValues\n");
    }

    if (kpk) {
        b = step->key.elts;
        k = 0;
        ngx_http_ddbm_plan_printf(pl, "      :ddbmk0 = ");

        if (step->ddb_index) {
            ngx_http_ddbm_plan_bind(pl, &b[0].name, b[0].type, &b[0].source);

        } else {
            ngx_http_ddbm_plan_tmpl(pl, &step->item->pk, step, &k);
        }

        ngx_http_ddbm_plan_printf(pl, "\n");

        if (step->key_has_sk && !step->ddb_index) {
            ngx_http_ddbm_plan_printf(pl, "      :ddbmk1 = ");
            ngx_http_ddbm_plan_tmpl(pl, &step->item->sk, step, &k);
            ngx_http_ddbm_plan_printf(pl, "\n");
        }

        for (n = 0; n < nsk; n++) {
            ngx_http_ddbm_plan_printf(pl, "      :ddbmk%ui = ", n + 1);
            ngx_http_ddbm_plan_bind(pl, &step->sk_value[n].name,
                                    step->sk_value[n].type,
                                    &step->sk_value[n].source);
            ngx_http_ddbm_plan_printf(pl, "\n");
        }
    }

    b = step->values.elts;

    for (n = 0; n < step->values.nelts; n++) {
        ngx_http_ddbm_plan_printf(pl, "      %V = ", &b[n].name);
        ngx_http_ddbm_plan_bind(pl, NULL, b[n].type, &b[n].source);
        ngx_http_ddbm_plan_printf(pl, "\n");
    }

    if (step->cache) {
        ngx_http_ddbm_plan_printf(pl, "    cache %s",
                                  ngx_http_ddbm_plan_caches[step->cache]);

        if (step->cache_ttl) {
            ngx_http_ddbm_plan_printf(pl, ", ttl %Ts", step->cache_ttl);
        }

        ngx_http_ddbm_plan_printf(pl, "\n");
    }

    if (step->reads.nelts && !action) {
        a = step->reads.elts;
        ngx_http_ddbm_plan_printf(pl, "    keeps");

        for (n = 0; n < step->reads.nelts; n++) {
            ngx_http_ddbm_plan_printf(pl, "%s%V", n ? ", " : " ", &a[n]);
        }

        ngx_http_ddbm_plan_printf(pl, "\n");
    }

    if (step->op == NGX_HTTP_DDBM_OP_BATCH_GET) {
        ngx_http_ddbm_plan_printf(pl, "    items in the order of the keys; "
                                  "UnprocessedKeys asked again after a "
                                  "backoff, at most ddbm_retries times, "
                                  "then answered as "
                                  "ProvisionedThroughputExceededException\n");
    }

    /* the permission it needs */
    switch (step->op) {
    case NGX_HTTP_DDBM_OP_GET:
        actions = PLAN_GET;
        break;
    case NGX_HTTP_DDBM_OP_QUERY:
        actions = PLAN_QUERY;
        break;
    case NGX_HTTP_DDBM_OP_PUT:
        actions = PLAN_PUT;
        break;
    case NGX_HTTP_DDBM_OP_UPDATE:
        actions = PLAN_UPDATE;
        break;
    case NGX_HTTP_DDBM_OP_DELETE:
        actions = PLAN_DELETE;
        break;
    case NGX_HTTP_DDBM_OP_BATCH_GET:
        actions = PLAN_BATCH_GET;
        break;
    case NGX_HTTP_DDBM_OP_CHECK:
        actions = PLAN_CONDITION;
        break;
    default:
        return NGX_ERROR;
    }

    return ngx_http_ddbm_plan_grant(pl, loc->dlcf,
                                    step->op == NGX_HTTP_DDBM_OP_QUERY
                                    && step->ddb_index
                                    ? &step->ddb_index->name : NULL,
                                    actions);
}


/* actions on the location's table, or on an index of it */
static ngx_int_t
ngx_http_ddbm_plan_grant(ngx_http_ddbm_plan_t *pl,
    ngx_http_ddbm_loc_conf_t *dlcf, ngx_str_t *index, ngx_uint_t actions)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                    arn;
    ngx_uint_t                   i;
    const char                  *partition;
    ngx_http_ddbm_plan_grant_t  *g;

    /* the partition follows the region: China and GovCloud have their own */
    if (dlcf->region.len > 3 && ngx_strncmp(dlcf->region.data, "cn-", 3) == 0)
    {
        partition = "aws-cn";

    } else if (dlcf->region.len > 7
               && ngx_strncmp(dlcf->region.data, "us-gov-", 7) == 0)
    {
        partition = "aws-us-gov";

    } else {
        partition = "aws";
    }

    len = sizeof("arn::dynamodb:::table//index/") + ngx_strlen(partition)
          + dlcf->region.len + pl->account.len + dlcf->table.len
          + (index ? index->len : 0);

    arn.data = ngx_pnalloc(pl->cf->pool, len);
    if (arn.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(arn.data, "arn:%s:dynamodb:%V:%V:table/%V", partition,
                    &dlcf->region, &pl->account, &dlcf->table);

    if (index) {
        p = ngx_sprintf(p, "/index/%V", index);
    }

    arn.len = p - arn.data;

    g = pl->grants.elts;

    for (i = 0; i < pl->grants.nelts; i++) {
        if (g[i].arn.len == arn.len
            && ngx_strncmp(g[i].arn.data, arn.data, arn.len) == 0)
        {
            g[i].actions |= actions;
            return NGX_OK;
        }
    }

    g = ngx_array_push(&pl->grants);
    if (g == NULL) {
        return NGX_ERROR;
    }

    g->arn = arn;
    g->actions = actions;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ddbm_plan_cmp(const void *one, const void *two)
{
    const ngx_http_ddbm_plan_grant_t  *a = one, *b = two;

    return ngx_memn2cmp(a->arn.data, b->arn.data, a->arn.len, b->arn.len);
}


/* one statement per resource, resources and actions in a stable order */
static void
ngx_http_ddbm_plan_policy(ngx_http_ddbm_plan_t *pl)
{
    ngx_uint_t                   i, j, n;
    ngx_http_ddbm_plan_grant_t  *g;

    ngx_sort(pl->grants.elts, pl->grants.nelts,
             sizeof(ngx_http_ddbm_plan_grant_t), ngx_http_ddbm_plan_cmp);

    g = pl->grants.elts;

    ngx_http_ddbm_plan_printf(pl, "{\n  \"Version\": \"2012-10-17\",\n"
                              "  \"Statement\": [");

    for (i = 0; i < pl->grants.nelts; i++) {
        ngx_http_ddbm_plan_printf(pl, "%s\n    {\n"
                                  "      \"Effect\": \"Allow\",\n"
                                  "      \"Action\": [", i ? "," : "");
        n = 0;

        for (j = 0; ngx_http_ddbm_plan_actions[j]; j++) {
            if (g[i].actions & (1u << j)) {
                ngx_http_ddbm_plan_printf(pl, "%s\n        \"dynamodb:%s\"",
                                          n++ ? "," : "",
                                          ngx_http_ddbm_plan_actions[j]);
            }
        }

        ngx_http_ddbm_plan_printf(pl, "\n      ],\n      \"Resource\": ");
        dm_buf_json_string(&pl->out, g[i].arn.data, g[i].arn.len);
        ngx_http_ddbm_plan_printf(pl, "\n    }");
    }

    ngx_http_ddbm_plan_printf(pl, "%s]\n}\n", pl->grants.nelts ? "\n  " : "");
}
