/*
 * Declared routes (docs/declared-routes.md): what the configuration
 * compiles into, and what the engine runs.
 *
 *   ngx_http_ddbm_route_conf.c   ddbm_type, ddbm_schema {}, ddbm_route {}:
 *                                nginx.conf compiled into a plan, every
 *                                mistake refused by nginx -t
 *   ngx_http_ddbm_route_run.c    a plan run as DynamoDB calls (steps in
 *                                parallel where they can be), checks,
 *                                validation, the answer shaped
 *   ngx_http_ddbm_route_plan.c   a plan explained: its requests with their
 *                                typed slots, and the IAM policy they need
 *
 * Everything here is made when the configuration loads, from the
 * configuration pool, and is read only afterwards.
 */

#ifndef NGX_HTTP_DDBM_ROUTE_H
#define NGX_HTTP_DDBM_ROUTE_H

#include "ngx_http_ddbm.h"
#include "dm_route.h"


#define NGX_HTTP_DDBM_ROUTE_STEPS    16      /* per route */
#define NGX_HTTP_DDBM_ROUTE_ITEMS    100     /* kept per Query step */


/* ---- the schema: ddbm_type, ddbm_schema NAME TABLE { ... } ------------ */

typedef struct {
    ngx_str_t                   name;
    const dm_rtype_t           *type;
} ngx_http_ddbm_attr_t;

typedef struct {
    ngx_str_t                   name;          /* message-group-sk-index */
    ngx_str_t                   pk;            /* its key attributes */
    ngx_str_t                   sk;            /* empty: none */
} ngx_http_ddbm_index_t;

struct ngx_http_ddbm_schema_s;

/* an item family: its key templates and its typed attributes */
typedef struct {
    ngx_str_t                   name;          /* conversation_row */
    struct ngx_http_ddbm_schema_s *schema;
    dm_rtmpl_t                  pk;
    dm_rtmpl_t                  sk;            /* sk.nparts 0: no sort key */
    ngx_array_t                 attrs;         /* ngx_http_ddbm_attr_t */
} ngx_http_ddbm_item_t;

typedef struct ngx_http_ddbm_schema_s {
    ngx_str_t                   name;          /* messages */
    ngx_str_t                   table;         /* cruddur-messages */
    ngx_str_t                   pk;            /* key attribute names */
    ngx_str_t                   sk;            /* empty: none */
    ngx_array_t                 indexes;       /* ngx_http_ddbm_index_t */
    ngx_array_t                 items;         /* ngx_http_ddbm_item_t */
    ngx_str_t                   file;          /* where declared */
    ngx_uint_t                  line;
} ngx_http_ddbm_schema_t;


/* ---- where a value comes from ----------------------------------------- */

typedef enum {
    NGX_HTTP_DDBM_SRC_NONE = 0,
    NGX_HTTP_DDBM_SRC_VAR,         /* path:NAME (a named capture), claim:NAME
                                      ($ddbm_jwt_NAME), $var: a variable */
    NGX_HTTP_DDBM_SRC_ARG,         /* arg:NAME, unescaped */
    NGX_HTTP_DDBM_SRC_BODY,        /* body:a.b, a field of the JSON body */
    NGX_HTTP_DDBM_SRC_IDENTITY,    /* what ddbm_identity gives */
    NGX_HTTP_DDBM_SRC_STEP,        /* STEP.attr: an earlier step's item */
    NGX_HTTP_DDBM_SRC_STEP_ALL,    /* STEP[].attr: each item of a Query */
    NGX_HTTP_DDBM_SRC_LITERAL,     /* 20 in "limit 20" */
    NGX_HTTP_DDBM_SRC_UUID4,       /* uuid4() */
    NGX_HTTP_DDBM_SRC_NOW,         /* now() */
    NGX_HTTP_DDBM_SRC_LATER_THAN   /* later_than(SOURCE) */
} ngx_http_ddbm_src_kind_e;

typedef struct ngx_http_ddbm_source_s  ngx_http_ddbm_source_t;

struct ngx_http_ddbm_source_s {
    ngx_http_ddbm_src_kind_e    kind;
    ngx_str_t                   text;          /* as written, for messages */
    ngx_str_t                   name;          /* arg, body path, attr */
    ngx_int_t                   index;         /* variable index */
    ngx_uint_t                  step;          /* STEP: its index */
    /*
     * STEP[].SLOT where SLOT is a slot of the item's pk or sk template
     * (rows[].owner): the attribute holding the key, and the slot's
     * number in it; the value is split out and bound to the slot's type
     */
    const dm_rtmpl_t           *tmpl;
    ngx_uint_t                  slot;
    /* what the value is known to be at compile time, NULL: raw text */
    const dm_rtype_t           *type;
    ngx_str_t                   literal;       /* LITERAL, or the default */
    unsigned                    has_default:1; /* SOURCE|DEFAULT */
    ngx_http_ddbm_source_t     *arg;           /* later_than's */
};

/* a value bound to a type: a key slot, an attribute, a :placeholder */
typedef struct {
    ngx_str_t                   name;          /* slot, attr or ":v" */
    const dm_rtype_t           *type;          /* the slot's or attr's */
    ngx_http_ddbm_source_t      source;
} ngx_http_ddbm_bind_t;


/* ---- steps ------------------------------------------------------------ */

typedef enum {
    NGX_HTTP_DDBM_OP_GET = 0,
    NGX_HTTP_DDBM_OP_QUERY,
    NGX_HTTP_DDBM_OP_PUT,
    NGX_HTTP_DDBM_OP_UPDATE,
    NGX_HTTP_DDBM_OP_DELETE,
    NGX_HTTP_DDBM_OP_BATCH_GET,
    NGX_HTTP_DDBM_OP_TRANSACT,
    NGX_HTTP_DDBM_OP_CHECK         /* condition_check: a transaction's only */
} ngx_http_ddbm_op_e;

/* what "cache" on a GetItem step lets the shared cache keep */
typedef enum {
    NGX_HTTP_DDBM_CACHE_NONE = 0,
    NGX_HTTP_DDBM_CACHE_DIRECTORY,     /* for user_ttl; absent: negative_ttl */
    NGX_HTTP_DDBM_CACHE_MEMBERSHIP,    /* for group_ttl; found items only */
    NGX_HTTP_DDBM_CACHE_REVISION
} ngx_http_ddbm_cache_kind_e;

/* sort_key OP SOURCE [SOURCE] */
typedef enum {
    NGX_HTTP_DDBM_SK_NONE = 0,
    NGX_HTTP_DDBM_SK_EQ,
    NGX_HTTP_DDBM_SK_LT,
    NGX_HTTP_DDBM_SK_LE,
    NGX_HTTP_DDBM_SK_GT,
    NGX_HTTP_DDBM_SK_GE,
    NGX_HTTP_DDBM_SK_BETWEEN,
    NGX_HTTP_DDBM_SK_BEGINS_WITH
} ngx_http_ddbm_sk_op_e;

typedef struct {
    ngx_str_t                   name;          /* caller */
    ngx_uint_t                  index;         /* in the route's steps */
    ngx_http_ddbm_op_e          op;
    ngx_http_ddbm_item_t       *item;
    ngx_http_ddbm_index_t      *ddb_index;     /* Query on an index */

    /*
     * key SLOT=SOURCE...: one bind per slot of the item's pk template,
     * then of its sk template (slot order; a Query may leave the sk's
     * out).  On an index: one bind per index key attribute named, with
     * the attribute's type.
     */
    ngx_array_t                 key;           /* ngx_http_ddbm_bind_t */
    unsigned                    key_has_sk:1;  /* the sk's slots are bound */

    /* Query */
    ngx_http_ddbm_sk_op_e       sk_op;
    ngx_http_ddbm_bind_t        sk_value[2];   /* typed as the sort key */
    unsigned                    forward:1;     /* order asc */
    ngx_http_ddbm_bind_t        limit;         /* source NONE: no limit */
    unsigned                    fill:1;
    ngx_int_t                   when_missing;  /* step index, or -1 */

    /*
     * BatchGetItem: the earlier Query whose items give its keys (the key
     * binds that are STEP[].attr read it, the others are the same for
     * every key), or -1
     */
    ngx_int_t                   keys_of;

    unsigned                    consistent:1;
    ngx_array_t                *project;       /* ngx_str_t; NULL: all */

    /* expressions, parsed and checked when the configuration loads */
    dm_rexpr_t                 *condition;
    dm_rexpr_t                 *update;
    dm_rexpr_t                 *filter;
    ngx_array_t                 values;        /* ngx_http_ddbm_bind_t ":v" */
    ngx_array_t                 names;         /* dm_rname_t "#n" -> attr */

    /* PutItem: set ATTR=SOURCE..., each typed by the item's attr */
    ngx_array_t                 set;           /* ngx_http_ddbm_bind_t */

    /*
     * TransactWriteItems: its actions, each a step of op PUT, UPDATE,
     * DELETE or CHECK with the transaction's index, checked as its single
     * operation would be; item is the first action's.  NULL otherwise.
     */
    ngx_array_t                *actions;       /* ngx_http_ddbm_step_t */

    ngx_http_ddbm_cache_kind_e  cache;
    time_t                      cache_ttl;     /* 0: the ddbm_cache's */

    /*
     * The attributes later steps, checks and the answer read from it:
     * what the engine keeps of its answer (and the cache, of a GetItem).
     */
    ngx_array_t                 reads;         /* ngx_str_t */

    /*
     * Made once the route is compiled: what a GetItem or Query asks back
     * (its ProjectionExpression; NULL: the whole item), and a cached
     * step's request less its bound values, each part length-prefixed:
     * with them, its cache key, looked up before the request is rendered
     */
    ngx_array_t                *ask;           /* ngx_str_t */
    ngx_str_t                   cache_id;

    /* steps (bit i: step i) and checks (bit i: check i) it waits for */
    uint32_t                    after_steps;
    uint32_t                    after_checks;

    ngx_str_t                   file;
    ngx_uint_t                  line;
} ngx_http_ddbm_step_t;


/* ---- checks, validation ------------------------------------------------ */

typedef enum {
    NGX_HTTP_DDBM_CHECK_FOUND = 0,     /* any of the steps found an item */
    NGX_HTTP_DDBM_CHECK_ONE_OF,        /* operand[0] equals one of the rest */
    NGX_HTTP_DDBM_CHECK_EQUAL,
    NGX_HTTP_DDBM_CHECK_NOT_EQUAL
} ngx_http_ddbm_check_kind_e;

typedef struct {
    ngx_http_ddbm_check_kind_e  kind;
    uint32_t                    steps;         /* FOUND: bit per step */
    ngx_array_t                 operands;      /* ngx_http_ddbm_source_t */
    uint32_t                    after_steps;   /* steps it reads */
    ngx_uint_t                  status;
    ngx_str_t                   code;          /* empty: the body is {} */
    ngx_str_t                   message;
    ngx_str_t                   log;           /* log "...": its info line */
} ngx_http_ddbm_check_t;

/* validate SOURCE TYPE [optional] OUTCOME=CODE[@STATUS]... ["message"] */
typedef struct {
    ngx_http_ddbm_source_t      source;
    const dm_rtype_t           *type;
    unsigned                    optional:1;    /* missing is no failure */
    /* per dm_rbind_e outcome: the code (empty: none given) and status */
    ngx_str_t                   code[DM_RBIND_NO_ROOM + 1];
    ngx_uint_t                  status[DM_RBIND_NO_ROOM + 1];
    ngx_str_t                   message;       /* for a non-422 answer */
} ngx_http_ddbm_validate_t;


/* ---- the answer ------------------------------------------------------- */

typedef struct ngx_http_ddbm_field_s  ngx_http_ddbm_field_t;

struct ngx_http_ddbm_field_s {
    ngx_str_t                   key;           /* in the answer */
    ngx_str_t                   attr;          /* in the item */
    const dm_rtype_t           *type;          /* NULL: as stored */
    ngx_array_t                *object;        /* nested fields, or NULL */
};

typedef struct {
    ngx_uint_t                  step;
    unsigned                    object:1;      /* one item, else an array */
    unsigned                    reverse:1;
    ngx_array_t                 fields;        /* ngx_http_ddbm_field_t */
    ngx_str_t                   cursor_header; /* empty: none */
    ngx_str_t                   cursor_attr;   /* the sort key */
    ngx_uint_t                  status;        /* 200 */
    /* a flat array: the rewrite streams it (dm_ddb_rewrite_items) */
    dm_field_map_t             *map;
    size_t                      nmap;
    /* and nothing else reads its step: one pass over DynamoDB's answer */
    unsigned                    streamed:1;
} ngx_http_ddbm_answer_t;


/* ---- DynamoDB errors to HTTP ----------------------------------------- */

typedef struct {
    ngx_str_t                   error;         /* type, default, timeout */
    ngx_uint_t                  status;
    ngx_str_t                   code;
    unsigned                    retry:1;
} ngx_http_ddbm_error_map_t;


/* ---- the route --------------------------------------------------------- */

typedef struct ngx_http_ddbm_route_s  ngx_http_ddbm_route_t;

struct ngx_http_ddbm_route_s {
    ngx_str_t                   name;          /* metrics' route label */
    ngx_uint_t                  methods;
    /* the location's route for other methods (GET here, PUT there) */
    ngx_http_ddbm_route_t      *next;
    ngx_http_ddbm_schema_t     *schema;
    ngx_array_t                 validates;     /* ngx_http_ddbm_validate_t */
    ngx_array_t                 steps;         /* ngx_http_ddbm_step_t */
    ngx_array_t                 checks;        /* ngx_http_ddbm_check_t */
    ngx_http_ddbm_answer_t      answer;
    ngx_array_t                *errors;        /* overrides, or NULL */
    unsigned                    reads_body:1;
    unsigned                    needs_identity:1;
    ngx_http_ddbm_pattern_t     pattern;       /* what the driver runs */
    ngx_str_t                   file;
    ngx_uint_t                  line;
};


/* ---- ngx_http_ddbm_route_conf.c --------------------------------------- */

char *ngx_http_ddbm_type_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ddbm_schema_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ddbm_route_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* every route of the configuration, for the plan and the metrics */
ngx_array_t *ngx_http_ddbm_routes(ngx_conf_t *cf);


/* ---- ngx_http_ddbm_route_run.c ---------------------------------------- */

ngx_int_t ngx_http_ddbm_route_start(ngx_http_ddbm_ctx_t *ctx);
/* the attribute's place in step->reads, or -1 (the compiler's too) */
ngx_int_t ngx_http_ddbm_read_index(ngx_http_ddbm_step_t *step,
    ngx_str_t *attr);
ngx_int_t ngx_http_ddbm_route_resume(ngx_http_ddbm_ctx_t *ctx);
/* a cache key's part: its length (7 bits a byte, low first), its bytes */
u_char *ngx_http_ddbm_id_put(u_char *p, const u_char *data, size_t len);
#define NGX_HTTP_DDBM_ID_LEN(len)  ((len) + 10)   /* at most */


/* ---- ngx_http_ddbm_route_plan.c --------------------------------------- */

/* with DDBM_PLAN=FILE in nginx -t's environment: the plan into FILE */
ngx_int_t ngx_http_ddbm_route_plan(ngx_conf_t *cf);

#endif /* NGX_HTTP_DDBM_ROUTE_H */
