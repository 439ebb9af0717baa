/*
 * Declared routes, the compiler's NGINX-free pieces (docs/declared-routes.md):
 *
 *   value types    ddbm_type arguments compiled once; a raw request value
 *                  is bound to a type (checked, folded, normalised) before
 *                  it can reach a key or an attribute value;
 *   key templates  "MSG#{group:uuid}": literal parts and typed slots;
 *   expressions    DynamoDB's condition, key condition, filter, update and
 *                  projection expressions, parsed and checked when the
 *                  configuration loads, with the :values and #names they use;
 *   transactions   the action count and the one-action-per-key rule.
 *
 * Everything here runs at configuration time except binding and rendering,
 * which run per request and never allocate.
 */

#ifndef DM_ROUTE_H
#define DM_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <regex.h>


#define DM_ROUTE_NAME_MAX    32        /* type, slot, placeholder names */
#define DM_RTYPE_ENUM_MAX    16
#define DM_RTMPL_PARTS_MAX   8
#define DM_REXPR_MAX         4096      /* DynamoDB's expression size limit */
#define DM_REXPR_NODES_MAX   256
#define DM_REXPR_REFS_MAX    64
#define DM_REXPR_DEPTH_MAX   32
#define DM_REXPR_IN_MAX      100       /* operands of one IN */
#define DM_RTX_ACTIONS_MAX   100       /* TransactWriteItems' limit */


typedef struct {
    const char  *data;
    size_t       len;
} dm_rstr_t;


/* a compile error: why, and where in the text (or DM_RERR_NOPOS) */
#define DM_RERR_NOPOS  ((size_t) -1)

typedef struct {
    char    msg[192];
    size_t  pos;
} dm_rerr_t;


/* sets err ("why", pos) and returns -1: for the compiler's pieces */
int dm_rerr(dm_rerr_t *err, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


/* ---- value types ------------------------------------------------------ */

typedef enum {
    DM_RTYPE_STRING = 0,
    DM_RTYPE_UUID,
    DM_RTYPE_TIME,
    DM_RTYPE_INT,
    DM_RTYPE_ENUM
} dm_rtype_kind_e;

typedef struct {
    char            name[DM_ROUTE_NAME_MAX];
    dm_rtype_kind_e kind;
    int64_t         min;             /* int: the range */
    int64_t         max;
    size_t          min_chars;       /* string: length in characters */
    size_t          max_chars;       /* 0: no upper bound */
    unsigned        lower:1;         /* ASCII letters folded first */
    unsigned        has_charset:1;
    unsigned        has_regex:1;
    unsigned char   charset[32];     /* a bit per allowed byte (ASCII) */
    regex_t         regex;
    size_t          nenum;
    char           *enums[DM_RTYPE_ENUM_MAX];
} dm_rtype_t;

/*
 * ddbm_type name base [option...]:
 *   base     uuid | time | int | enum | string
 *   options  range=MIN..MAX (int)       values=a|b|c (enum, required)
 *            chars=MIN..MAX (string)    charset=A-Za-z0-9_.- (string)
 *            regex=ERE (string)         lower (string, enum)
 * Returns 0, or -1 with err set.  dm_rtype_free() releases what a
 * compiled type holds (regex, enum values).
 */
int dm_rtype_compile(dm_rtype_t *t, dm_rstr_t name, const dm_rstr_t *args,
    size_t nargs, dm_rerr_t *err);
void dm_rtype_free(dm_rtype_t *t);

/* the built-in types: "uuid", "time", "int"; NULL for any other name */
const dm_rtype_t *dm_rtype_builtin(const char *name, size_t len);

/* can a value of this type hold '#'? (then it is no key segment) */
int dm_rtype_may_hold_hash(const dm_rtype_t *t);


/* binding: what became of a raw value */
typedef enum {
    DM_RBIND_OK = 0,
    DM_RBIND_MISSING,            /* no value at all (NULL) */
    DM_RBIND_EMPTY,              /* present, zero length, not allowed */
    DM_RBIND_INVALID,            /* not of the type's form */
    DM_RBIND_UTF8,               /* not valid UTF-8 */
    DM_RBIND_TOO_SHORT,
    DM_RBIND_TOO_LONG,
    DM_RBIND_RANGE,              /* int outside its range */
    DM_RBIND_NOT_ALLOWED,        /* enum value, charset or regex */
    DM_RBIND_NO_ROOM             /* the caller's buffer is too small */
} dm_rbind_e;

typedef enum {
    DM_RVAL_MISSING = 0,
    DM_RVAL_EMPTY,
    DM_RVAL_SET
} dm_rval_state_e;

typedef struct {
    const dm_rtype_t  *type;     /* the type it passed: keys check it */
    dm_rval_state_e    state;
    char               ddb;      /* 'S' or 'N': DynamoDB's type */
    const char        *data;     /* canonical text, in the caller's buffer */
    size_t             len;
    int64_t            num;      /* int: the value; time: microseconds */
} dm_rval_t;

/*
 * Checks value (NULL: missing) against t.  On DM_RBIND_OK out holds the
 * canonical text (folded, a time as DM_TIME_LEN characters) in buf; a
 * missing value is DM_RBIND_MISSING, never an empty one.  An empty value
 * is DM_RBIND_OK (state DM_RVAL_EMPTY) only for a string type whose
 * chars= allows 0.
 */
dm_rbind_e dm_rtype_bind(const dm_rtype_t *t, const char *value, size_t len,
    char *buf, size_t size, dm_rval_t *out);
const char *dm_rbind_name(dm_rbind_e rc);

/* UTF-8 code points in s, or (size_t) -1 for a malformed sequence */
size_t dm_rutf8_chars(const unsigned char *s, size_t len);


/* ---- key templates ---------------------------------------------------- */

typedef struct {
    const dm_rtype_t  *(*find)(void *data, const char *name, size_t len);
    void              *data;
} dm_rtypes_t;

typedef struct {
    unsigned           slot:1;
    size_t             pos;          /* offset in the template's text */
    dm_rstr_t          lit;          /* a literal part */
    char               name[DM_ROUTE_NAME_MAX];
    const dm_rtype_t  *type;         /* a slot */
} dm_rtmpl_part_t;

typedef struct {
    dm_rstr_t          text;
    size_t             nparts;
    size_t             nslots;
    dm_rtmpl_part_t    part[DM_RTMPL_PARTS_MAX];
} dm_rtmpl_t;

/*
 * "MSG#{group:uuid}": types resolves type names (built-ins when NULL).
 * The template keeps pointers into text, which must outlive it.
 */
int dm_rtmpl_parse(dm_rtmpl_t *t, const char *text, size_t len,
    const dm_rtypes_t *types, dm_rerr_t *err);

/* the n-th slot's part, or NULL */
const dm_rtmpl_part_t *dm_rtmpl_slot(const dm_rtmpl_t *t, size_t n);

/*
 * Renders the key with one bound value per slot, in slot order; returns
 * its length (NUL-terminated in out), or 0 when a value is missing or
 * empty, was bound to another type than its slot's, or out is too small.
 */
size_t dm_rtmpl_render(const dm_rtmpl_t *t, const dm_rval_t *vals,
    size_t nvals, char *out, size_t size);

/*
 * The reverse of rendering: splits a key read from DynamoDB into its slot
 * values (pointers into key), one per slot in slot order.  Returns 0, or
 * -1 when the key is not of this template.  The values are raw: bind each
 * through its slot's type before using it.
 */
int dm_rtmpl_match(const dm_rtmpl_t *t, const char *key, size_t len,
    dm_rstr_t *vals, size_t nvals);


/* ---- expressions ------------------------------------------------------ */

typedef enum {
    DM_REXPR_CONDITION = 0,      /* ConditionExpression */
    DM_REXPR_FILTER,             /* FilterExpression: the same grammar */
    DM_REXPR_KEY,                /* KeyConditionExpression */
    DM_REXPR_UPDATE,             /* UpdateExpression */
    DM_REXPR_PROJECTION          /* ProjectionExpression */
} dm_rexpr_kind_e;

typedef enum {
    DM_RN_OR = 1,
    DM_RN_AND,
    DM_RN_NOT,
    DM_RN_CMP,                   /* op: one of DM_RCMP_* */
    DM_RN_BETWEEN,
    DM_RN_IN,
    DM_RN_FUNC,                  /* op: one of DM_RFN_* */
    DM_RN_PATH,
    DM_RN_VALUE,
    DM_RN_ARITH                  /* op: '+' or '-' */
} dm_rnode_kind_e;

enum {
    DM_RCMP_EQ = 1, DM_RCMP_NE, DM_RCMP_LT, DM_RCMP_LE, DM_RCMP_GT,
    DM_RCMP_GE
};

enum {
    DM_RFN_ATTRIBUTE_EXISTS = 1, DM_RFN_ATTRIBUTE_NOT_EXISTS,
    DM_RFN_ATTRIBUTE_TYPE, DM_RFN_BEGINS_WITH, DM_RFN_CONTAINS, DM_RFN_SIZE,
    DM_RFN_IF_NOT_EXISTS, DM_RFN_LIST_APPEND
};

typedef struct {
    uint8_t    kind;
    uint8_t    op;
    uint8_t    simple;           /* a path of one name: no '.' nor '[' */
    int16_t    kid;              /* first operand, or -1 */
    int16_t    next;             /* next operand of the parent, or -1 */
    uint32_t   pos;              /* span in the text */
    uint32_t   len;
} dm_rnode_t;

typedef struct {
    dm_rstr_t  name;             /* with its ':' or '#' */
    size_t     pos;              /* where first used */
} dm_rref_t;

typedef struct {
    dm_rexpr_kind_e  kind;
    dm_rstr_t        text;
    int              root;       /* condition kinds: the top node */
    size_t           nnodes;
    dm_rnode_t       node[DM_REXPR_NODES_MAX];
    size_t           nvalues;
    dm_rref_t        value[DM_REXPR_REFS_MAX];
    size_t           nnames;
    dm_rref_t        name[DM_REXPR_REFS_MAX];
} dm_rexpr_t;

/*
 * Parses text as DynamoDB would: 0, or -1 with err ("... at N").  The
 * expression keeps pointers into text.  Bare attribute names that are
 * DynamoDB reserved words are refused ("use #name").
 */
int dm_rexpr_parse(dm_rexpr_t *e, dm_rexpr_kind_e kind, const char *text,
    size_t len, dm_rerr_t *err);

/* an alias of an expression attribute name: "#k" -> "pk" */
typedef struct {
    dm_rstr_t  alias;
    dm_rstr_t  attr;
} dm_rname_t;

/*
 * A parsed key condition names the partition key with '=' (nothing
 * else), and the sort key at most once, with =, <, <=, >, >=, BETWEEN or
 * begins_with, against :values only.  sk may be NULL (no sort key).
 */
int dm_rexpr_check_key(const dm_rexpr_t *e, const char *pk, const char *sk,
    const dm_rname_t *names, size_t nnames, dm_rerr_t *err);

/*
 * Every :value and #name the expressions use is bound, and every bound
 * one is used by one of them.  bound_values[] hold ":x", bound_names[]
 * "#x".
 */
int dm_rexpr_check_bindings(const dm_rexpr_t *const *exprs, size_t nexprs,
    const dm_rstr_t *bound_values, size_t nbound_values,
    const dm_rstr_t *bound_names, size_t nbound_names, dm_rerr_t *err);

/* a DynamoDB reserved word (any case)? */
int dm_ddb_reserved(const char *s, size_t len);
/* the list itself (for the tests): its length */
size_t dm_ddb_reserved_count(const char *const **words);


/* ---- transactions ----------------------------------------------------- */

/*
 * One action of a TransactWriteItems step as the compiler sees it: the
 * table, the key templates and, per slot (in pk then sk slot order),
 * where its value comes from ("path.group", "claim.sub", ...).
 */
typedef struct {
    dm_rstr_t          table;
    const dm_rtmpl_t  *pk;
    const dm_rtmpl_t  *sk;       /* NULL: the table has no sort key */
    const dm_rstr_t   *sources;
    size_t             nsources;
} dm_rtx_action_t;

/* at most 100 actions, and no two of them certain to name one item */
int dm_rtx_check(const dm_rtx_action_t *a, size_t n, dm_rerr_t *err);

#endif /* DM_ROUTE_H */
