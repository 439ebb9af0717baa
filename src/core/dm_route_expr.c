/*
 * DynamoDB expressions, parsed when the configuration loads: conditions
 * (and filters, and key conditions), updates and projections, in the
 * subset DynamoDB accepts.  A route's expressions are static text; values
 * reach them only as :placeholders bound to typed values.
 */

#include <string.h>
#include <strings.h>

#include "dm_route.h"


enum {
    DM_T_END = 0,
    DM_T_NAME,                   /* a bare attribute name or a keyword */
    DM_T_ALIAS,                  /* #name */
    DM_T_VALUE,                  /* :name */
    DM_T_NUMBER,                 /* a list index */
    DM_T_LPAREN, DM_T_RPAREN, DM_T_LBRACKET, DM_T_RBRACKET, DM_T_COMMA,
    DM_T_DOT, DM_T_PLUS, DM_T_MINUS,
    DM_T_CMP                     /* op: DM_RCMP_* */
};


typedef struct {
    dm_rexpr_t   *e;
    const char   *s;
    size_t        len;
    size_t        pos;           /* the lexer's position */
    int           tok;
    int           op;
    size_t        tpos;          /* the current token */
    size_t        tlen;
    int           depth;
    size_t        ntargets;      /* update/projection: the paths named */
    int16_t       target[DM_REXPR_REFS_MAX];
    dm_rerr_t    *err;
} dm_rp_t;


static int dm_rp_next(dm_rp_t *p);
static int dm_rp_fail(dm_rp_t *p, const char *what);
static int dm_rp_is(dm_rp_t *p, const char *kw);
static int dm_rp_node(dm_rp_t *p, int kind, int op, size_t pos);
static void dm_rp_adopt(dm_rp_t *p, int parent, int kid);
static int dm_rp_ref(dm_rp_t *p, dm_rref_t *refs, size_t *n);
static int dm_rp_or(dm_rp_t *p);
static int dm_rp_and(dm_rp_t *p);
static int dm_rp_not(dm_rp_t *p);
static int dm_rp_primary(dm_rp_t *p);
static int dm_rp_function(dm_rp_t *p, int allow_update);
static int dm_rp_operand(dm_rp_t *p);
static int dm_rp_path(dm_rp_t *p);
static int dm_rp_update(dm_rp_t *p);
static int dm_rp_set_value(dm_rp_t *p);
static int dm_rp_set_operand(dm_rp_t *p);
static int dm_rp_projection(dm_rp_t *p);
static int dm_rp_target(dm_rp_t *p, int node);
static int dm_rp_overlaps(dm_rp_t *p);


static int
dm_rp_fail(dm_rp_t *p, const char *what)
{
    if (p->tok == DM_T_END) {
        return dm_rerr(p->err, p->tpos, "%s at %zu, found the end", what,
                       p->tpos);
    }

    return dm_rerr(p->err, p->tpos, "%s at %zu, found \"%.*s\"", what,
                   p->tpos, (int) p->tlen, p->s + p->tpos);
}


static int
dm_rp_ident_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}


static int
dm_rp_next(dm_rp_t *p)
{
    int          c;
    size_t       i;
    const char  *s;

    s = p->s;
    i = p->pos;

    while (i < p->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
                          || s[i] == '\r'))
    {
        i++;
    }

    p->tpos = i;
    p->op = 0;

    if (i == p->len) {
        p->tok = DM_T_END;
        p->tlen = 0;
        p->pos = i;
        return 0;
    }

    c = (unsigned char) s[i++];

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        while (i < p->len && dm_rp_ident_char((unsigned char) s[i])) {
            i++;
        }
        p->tok = DM_T_NAME;

    } else if (c == '#' || c == ':') {
        if (i == p->len || !dm_rp_ident_char((unsigned char) s[i])) {
            p->pos = i;
            p->tlen = 1;
            return dm_rerr(p->err, p->tpos, "'%c' without a name at %zu", c,
                           p->tpos);
        }
        while (i < p->len && dm_rp_ident_char((unsigned char) s[i])) {
            i++;
        }
        p->tok = (c == '#') ? DM_T_ALIAS : DM_T_VALUE;

    } else if (c >= '0' && c <= '9') {
        while (i < p->len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        p->tok = DM_T_NUMBER;

    } else {
        switch (c) {
        case '(': p->tok = DM_T_LPAREN; break;
        case ')': p->tok = DM_T_RPAREN; break;
        case '[': p->tok = DM_T_LBRACKET; break;
        case ']': p->tok = DM_T_RBRACKET; break;
        case ',': p->tok = DM_T_COMMA; break;
        case '.': p->tok = DM_T_DOT; break;
        case '+': p->tok = DM_T_PLUS; break;
        case '-': p->tok = DM_T_MINUS; break;
        case '=': p->tok = DM_T_CMP; p->op = DM_RCMP_EQ; break;

        case '<':
            p->tok = DM_T_CMP;
            p->op = DM_RCMP_LT;
            if (i < p->len && s[i] == '=') {
                p->op = DM_RCMP_LE;
                i++;
            } else if (i < p->len && s[i] == '>') {
                p->op = DM_RCMP_NE;
                i++;
            }
            break;

        case '>':
            p->tok = DM_T_CMP;
            p->op = DM_RCMP_GT;
            if (i < p->len && s[i] == '=') {
                p->op = DM_RCMP_GE;
                i++;
            }
            break;

        default:
            p->pos = i;
            p->tlen = 1;
            return dm_rerr(p->err, p->tpos, "unexpected character at %zu%s",
                           p->tpos, c == '_' ? " (a name starting with '_' "
                                               "must be a #name)" : "");
        }
    }

    p->pos = i;
    p->tlen = i - p->tpos;

    return 0;
}


/* the current token is the keyword kw (any case) */
static int
dm_rp_is(dm_rp_t *p, const char *kw)
{
    return p->tok == DM_T_NAME && p->tlen == strlen(kw)
           && strncasecmp(p->s + p->tpos, kw, p->tlen) == 0;
}


/* the next token (after the current one) is '(' */
static int
dm_rp_call_follows(dm_rp_t *p)
{
    size_t  i;

    for (i = p->pos; i < p->len; i++) {
        if (p->s[i] != ' ' && p->s[i] != '\t' && p->s[i] != '\n'
            && p->s[i] != '\r')
        {
            return p->s[i] == '(';
        }
    }

    return 0;
}


static int
dm_rp_node(dm_rp_t *p, int kind, int op, size_t pos)
{
    dm_rnode_t  *n;

    if (p->e->nnodes == DM_REXPR_NODES_MAX) {
        return dm_rerr(p->err, pos, "too complex (more than %d parts)",
                       DM_REXPR_NODES_MAX);
    }

    n = &p->e->node[p->e->nnodes];
    n->kind = (uint8_t) kind;
    n->op = (uint8_t) op;
    n->simple = 0;
    n->kid = -1;
    n->next = -1;
    n->pos = (uint32_t) pos;
    n->len = 0;

    return (int) p->e->nnodes++;
}


static void
dm_rp_adopt(dm_rp_t *p, int parent, int kid)
{
    int          k;
    dm_rnode_t  *node;

    node = p->e->node;

    if (node[parent].kid < 0) {
        node[parent].kid = (int16_t) kid;

    } else {
        for (k = node[parent].kid; node[k].next >= 0; k = node[k].next) {
            /* void */
        }
        node[k].next = (int16_t) kid;
    }

    if (node[kid].pos + node[kid].len > node[parent].pos + node[parent].len) {
        node[parent].len = node[kid].pos + node[kid].len - node[parent].pos;
    }
}


static int
dm_rp_ref(dm_rp_t *p, dm_rref_t *refs, size_t *n)
{
    size_t  i;

    for (i = 0; i < *n; i++) {
        if (refs[i].name.len == p->tlen
            && memcmp(refs[i].name.data, p->s + p->tpos, p->tlen) == 0)
        {
            return 0;
        }
    }

    if (*n == DM_REXPR_REFS_MAX) {
        return dm_rerr(p->err, p->tpos, "more than %d placeholders",
                       DM_REXPR_REFS_MAX);
    }

    refs[*n].name.data = p->s + p->tpos;
    refs[*n].name.len = p->tlen;
    refs[*n].pos = p->tpos;
    (*n)++;

    return 0;
}


/* ---- conditions ------------------------------------------------------- */

/* left OP right OP ...: one node of type holding every operand */
static int
dm_rp_chain(dm_rp_t *p, const char *op, int type, int (*operand)(dm_rp_t *))
{
    int  left, right, n;

    left = operand(p);
    if (left < 0 || !dm_rp_is(p, op)) {
        return left;
    }

    n = dm_rp_node(p, type, 0, p->e->node[left].pos);
    if (n < 0) {
        return -1;
    }
    dm_rp_adopt(p, n, left);

    while (dm_rp_is(p, op)) {
        if (dm_rp_next(p) != 0 || (right = operand(p)) < 0) {
            return -1;
        }
        dm_rp_adopt(p, n, right);
    }

    return n;
}


static int
dm_rp_or(dm_rp_t *p)
{
    return dm_rp_chain(p, "OR", DM_RN_OR, dm_rp_and);
}


static int
dm_rp_and(dm_rp_t *p)
{
    return dm_rp_chain(p, "AND", DM_RN_AND, dm_rp_not);
}


static int
dm_rp_not(dm_rp_t *p)
{
    int     n, kid;
    size_t  pos;

    if (++p->depth > DM_REXPR_DEPTH_MAX) {
        return dm_rerr(p->err, p->tpos, "nested more than %d deep",
                       DM_REXPR_DEPTH_MAX);
    }

    if (!dm_rp_is(p, "NOT")) {
        n = dm_rp_primary(p);
        p->depth--;
        return n;
    }

    pos = p->tpos;

    if (dm_rp_next(p) != 0 || (kid = dm_rp_not(p)) < 0) {
        return -1;
    }

    n = dm_rp_node(p, DM_RN_NOT, 0, pos);
    if (n < 0) {
        return -1;
    }
    dm_rp_adopt(p, n, kid);
    p->depth--;

    return n;
}


static int
dm_rp_primary(dm_rp_t *p)
{
    int     n, left, kid, count;
    size_t  pos;

    if (p->tok == DM_T_LPAREN) {
        if (dm_rp_next(p) != 0 || (n = dm_rp_or(p)) < 0) {
            return -1;
        }
        if (p->tok != DM_T_RPAREN) {
            return dm_rp_fail(p, "expected ')'");
        }
        return dm_rp_next(p) != 0 ? -1 : n;
    }

    /* a function standing as a condition (size() is an operand) */
    if (p->tok == DM_T_NAME && dm_rp_call_follows(p)
        && !(p->tlen == 4 && memcmp(p->s + p->tpos, "size", 4) == 0))
    {
        return dm_rp_function(p, 0);
    }

    pos = p->tpos;

    left = dm_rp_operand(p);
    if (left < 0) {
        return -1;
    }

    if (p->tok == DM_T_CMP) {
        n = dm_rp_node(p, DM_RN_CMP, p->op, pos);
        if (n < 0 || dm_rp_next(p) != 0 || (kid = dm_rp_operand(p)) < 0) {
            return -1;
        }
        dm_rp_adopt(p, n, left);
        dm_rp_adopt(p, n, kid);

        if (p->tok == DM_T_CMP) {
            return dm_rp_fail(p, "comparisons do not chain");
        }
        return n;
    }

    if (dm_rp_is(p, "BETWEEN")) {
        n = dm_rp_node(p, DM_RN_BETWEEN, 0, pos);
        if (n < 0 || dm_rp_next(p) != 0 || (kid = dm_rp_operand(p)) < 0) {
            return -1;
        }
        dm_rp_adopt(p, n, left);
        dm_rp_adopt(p, n, kid);

        if (!dm_rp_is(p, "AND")) {
            return dm_rp_fail(p, "expected AND after BETWEEN's first bound");
        }
        if (dm_rp_next(p) != 0 || (kid = dm_rp_operand(p)) < 0) {
            return -1;
        }
        dm_rp_adopt(p, n, kid);
        return n;
    }

    if (dm_rp_is(p, "IN")) {
        n = dm_rp_node(p, DM_RN_IN, 0, pos);
        if (n < 0 || dm_rp_next(p) != 0) {
            return -1;
        }
        dm_rp_adopt(p, n, left);

        if (p->tok != DM_T_LPAREN) {
            return dm_rp_fail(p, "expected '(' after IN");
        }

        count = 0;

        do {
            if (dm_rp_next(p) != 0 || (kid = dm_rp_operand(p)) < 0) {
                return -1;
            }
            dm_rp_adopt(p, n, kid);

            if (++count > DM_REXPR_IN_MAX) {
                return dm_rp_fail(p, "more than 100 operands in IN");
            }
        } while (p->tok == DM_T_COMMA);

        if (p->tok != DM_T_RPAREN) {
            return dm_rp_fail(p, "expected ')' closing IN");
        }
        p->e->node[n].len = (uint32_t) (p->pos - pos);
        return dm_rp_next(p) != 0 ? -1 : n;
    }

    return dm_rp_fail(p, "expected a comparator, BETWEEN or IN");
}


static const struct {
    const char  *name;
    int          fn;
    int          nargs;
    int          update;         /* only in an update's SET */
} dm_rfns[] = {
    { "attribute_exists", DM_RFN_ATTRIBUTE_EXISTS, 1, 0 },
    { "attribute_not_exists", DM_RFN_ATTRIBUTE_NOT_EXISTS, 1, 0 },
    { "attribute_type", DM_RFN_ATTRIBUTE_TYPE, 2, 0 },
    { "begins_with", DM_RFN_BEGINS_WITH, 2, 0 },
    { "contains", DM_RFN_CONTAINS, 2, 0 },
    { "size", DM_RFN_SIZE, 1, 0 },
    { "if_not_exists", DM_RFN_IF_NOT_EXISTS, 2, 1 },
    { "list_append", DM_RFN_LIST_APPEND, 2, 1 }
};


/*
 * name(args): in a condition (allow_update 0) the condition functions and
 * size; in a SET (allow_update 1) if_not_exists and list_append only.
 * Function names are case-sensitive, as DynamoDB has them.
 */
static int
dm_rp_function(dm_rp_t *p, int allow_update)
{
    int          n, kid, i, f;
    size_t       pos, k;
    dm_rnode_t  *node;

    pos = p->tpos;
    f = -1;

    for (k = 0; k < sizeof(dm_rfns) / sizeof(dm_rfns[0]); k++) {
        if (strlen(dm_rfns[k].name) == p->tlen
            && memcmp(dm_rfns[k].name, p->s + p->tpos, p->tlen) == 0)
        {
            f = (int) k;
            break;
        }
    }

    if (f < 0) {
        return dm_rp_fail(p, "unknown function");
    }

    if (dm_rfns[f].update != allow_update
        && !(allow_update == 0 && dm_rfns[f].fn == DM_RFN_SIZE))
    {
        return dm_rp_fail(p, allow_update ? "only if_not_exists and "
                          "list_append may be used in SET"
                          : "this function is for SET only");
    }

    n = dm_rp_node(p, DM_RN_FUNC, dm_rfns[f].fn, pos);
    if (n < 0 || dm_rp_next(p) != 0 || dm_rp_next(p) != 0) {  /* name ( */
        return -1;
    }

    if (++p->depth > DM_REXPR_DEPTH_MAX) {
        return dm_rerr(p->err, p->tpos, "nested more than %d deep",
                       DM_REXPR_DEPTH_MAX);
    }

    for (i = 0; i < dm_rfns[f].nargs; i++) {
        if (i) {
            if (p->tok != DM_T_COMMA) {
                return dm_rp_fail(p, "expected ','");
            }
            if (dm_rp_next(p) != 0) {
                return -1;
            }
        }

        if (allow_update) {
            /* if_not_exists(path, value), list_append(value, value) */
            kid = (i == 0 && dm_rfns[f].fn == DM_RFN_IF_NOT_EXISTS)
                  ? dm_rp_path(p) : dm_rp_set_operand(p);

        } else if (i == 0) {
            kid = dm_rp_path(p);

        } else {
            kid = dm_rp_operand(p);
            if (kid >= 0) {
                node = &p->e->node[kid];
                if (dm_rfns[f].fn == DM_RFN_ATTRIBUTE_TYPE
                    && node->kind != DM_RN_VALUE)
                {
                    return dm_rerr(p->err, node->pos, "attribute_type "
                                   "takes a :value at %u", node->pos);
                }
                if (node->kind == DM_RN_FUNC) {
                    return dm_rerr(p->err, node->pos, "size() is no "
                                   "argument here, at %u", node->pos);
                }
            }
        }

        if (kid < 0) {
            return -1;
        }
        dm_rp_adopt(p, n, kid);
    }

    p->depth--;

    if (p->tok != DM_T_RPAREN) {
        return dm_rp_fail(p, "expected ')' closing the function");
    }

    p->e->node[n].len = (uint32_t) (p->pos - pos);

    if (dm_rp_next(p) != 0) {
        return -1;
    }

    if (!allow_update && dm_rfns[f].fn != DM_RFN_SIZE) {
        /* a condition function is a whole condition */
        if (p->tok == DM_T_CMP || dm_rp_is(p, "BETWEEN")
            || dm_rp_is(p, "IN"))
        {
            return dm_rp_fail(p, "a condition function is not compared");
        }
    }

    return n;
}


/* a :value, recorded as used */
static int
dm_rp_value(dm_rp_t *p)
{
    int  n;

    n = dm_rp_node(p, DM_RN_VALUE, 0, p->tpos);
    if (n < 0 || dm_rp_ref(p, p->e->value, &p->e->nvalues) != 0) {
        return -1;
    }

    p->e->node[n].len = (uint32_t) p->tlen;

    return dm_rp_next(p) != 0 ? -1 : n;
}


/* path, :value or size(path) */
static int
dm_rp_operand(dm_rp_t *p)
{
    if (p->tok == DM_T_VALUE) {
        return dm_rp_value(p);
    }

    if (p->tok == DM_T_NAME && dm_rp_call_follows(p)) {
        if (p->tlen == 4 && memcmp(p->s + p->tpos, "size", 4) == 0) {
            return dm_rp_function(p, 0);
        }
        return dm_rp_fail(p, "expected an operand (a condition function "
                          "cannot be one)");
    }

    return dm_rp_path(p);
}


/* name ( '.' name | '[' n ']' )* with names bare or #aliases */
static int
dm_rp_path(dm_rp_t *p)
{
    int     n, parts;
    size_t  pos;

    pos = p->tpos;
    parts = 0;

    n = dm_rp_node(p, DM_RN_PATH, 0, pos);
    if (n < 0) {
        return -1;
    }

    for ( ;; ) {
        if (p->tok == DM_T_ALIAS) {
            if (dm_rp_ref(p, p->e->name, &p->e->nnames) != 0) {
                return -1;
            }

        } else if (p->tok == DM_T_NAME) {
            if (dm_ddb_reserved(p->s + p->tpos, p->tlen)) {
                return dm_rerr(p->err, p->tpos, "\"%.*s\" at %zu is a "
                               "DynamoDB reserved word: use #name",
                               (int) p->tlen, p->s + p->tpos, p->tpos);
            }

        } else {
            return dm_rp_fail(p, "expected an attribute name");
        }

        parts++;
        p->e->node[n].len = (uint32_t) (p->pos - pos);

        if (dm_rp_next(p) != 0) {
            return -1;
        }

        while (p->tok == DM_T_LBRACKET) {
            if (dm_rp_next(p) != 0) {
                return -1;
            }
            if (p->tok != DM_T_NUMBER) {
                return dm_rp_fail(p, "expected a list index");
            }
            if (dm_rp_next(p) != 0) {
                return -1;
            }
            if (p->tok != DM_T_RBRACKET) {
                return dm_rp_fail(p, "expected ']'");
            }
            parts++;
            p->e->node[n].len = (uint32_t) (p->pos - pos);
            if (dm_rp_next(p) != 0) {
                return -1;
            }
        }

        if (p->tok != DM_T_DOT) {
            break;
        }

        if (dm_rp_next(p) != 0) {
            return -1;
        }
    }

    p->e->node[n].simple = (parts == 1);

    return n;
}


/* ---- updates and projections ------------------------------------------ */

static int
dm_rp_update(dm_rp_t *p)
{
    int       n, clause;
    unsigned  seen;

    static const char *const  clauses[] = { "SET", "REMOVE", "ADD",
                                            "DELETE" };

    seen = 0;

    if (p->tok == DM_T_END) {
        return dm_rp_fail(p, "expected SET, REMOVE, ADD or DELETE");
    }

    while (p->tok != DM_T_END) {

        for (clause = 0; clause < 4; clause++) {
            if (dm_rp_is(p, clauses[clause])) {
                break;
            }
        }

        if (clause == 4) {
            return dm_rp_fail(p, "expected SET, REMOVE, ADD or DELETE");
        }

        if (seen & (1u << clause)) {
            return dm_rp_fail(p, "each clause may appear only once");
        }

        seen |= 1u << clause;

        do {
            if (dm_rp_next(p) != 0 || (n = dm_rp_path(p)) < 0
                || dm_rp_target(p, n) != 0)
            {
                return -1;
            }

            switch (clause) {

            case 0:                                  /* SET path = value */
                if (p->tok != DM_T_CMP || p->op != DM_RCMP_EQ) {
                    return dm_rp_fail(p, "expected '=' in SET");
                }
                if (dm_rp_next(p) != 0 || dm_rp_set_value(p) < 0) {
                    return -1;
                }
                break;

            case 1:                                  /* REMOVE path */
                break;

            default:                                 /* ADD/DELETE path :v */
                if (p->tok != DM_T_VALUE) {
                    return dm_rp_fail(p, "ADD and DELETE take a :value");
                }
                if (dm_rp_operand(p) < 0) {
                    return -1;
                }
                break;
            }

        } while (p->tok == DM_T_COMMA);
    }

    return dm_rp_overlaps(p);
}


/* operand [ + operand | - operand ] */
static int
dm_rp_set_value(dm_rp_t *p)
{
    int     n, left, right;
    size_t  pos;

    pos = p->tpos;

    left = dm_rp_set_operand(p);
    if (left < 0 || (p->tok != DM_T_PLUS && p->tok != DM_T_MINUS)) {
        return left;
    }

    n = dm_rp_node(p, DM_RN_ARITH, p->tok == DM_T_PLUS ? '+' : '-', pos);
    if (n < 0 || dm_rp_next(p) != 0 || (right = dm_rp_set_operand(p)) < 0) {
        return -1;
    }

    dm_rp_adopt(p, n, left);
    dm_rp_adopt(p, n, right);

    if (p->tok == DM_T_PLUS || p->tok == DM_T_MINUS) {
        return dm_rp_fail(p, "one '+' or '-' per SET action");
    }

    return n;
}


static int
dm_rp_set_operand(dm_rp_t *p)
{
    if (p->tok == DM_T_VALUE) {
        return dm_rp_value(p);
    }

    if (p->tok == DM_T_NAME && dm_rp_call_follows(p)) {
        return dm_rp_function(p, 1);
    }

    return dm_rp_path(p);
}


static int
dm_rp_projection(dm_rp_t *p)
{
    int  n;

    for ( ;; ) {
        n = dm_rp_path(p);
        if (n < 0 || dm_rp_target(p, n) != 0) {
            return -1;
        }

        if (p->tok == DM_T_END) {
            return dm_rp_overlaps(p);
        }

        if (p->tok != DM_T_COMMA) {
            return dm_rp_fail(p, "expected ','");
        }

        if (dm_rp_next(p) != 0) {
            return -1;
        }
    }
}


static int
dm_rp_target(dm_rp_t *p, int node)
{
    if (p->ntargets == DM_REXPR_REFS_MAX) {
        return dm_rerr(p->err, p->e->node[node].pos, "more than %d paths",
                       DM_REXPR_REFS_MAX);
    }

    p->target[p->ntargets++] = (int16_t) node;

    return 0;
}


/*
 * DynamoDB refuses two paths of one update or projection where one is the
 * other or lies within it ("Two document paths overlap").  Compared as
 * written, blanks aside: #aliases are not resolved here.
 */
static int
dm_rp_overlaps(dm_rp_t *p)
{
    size_t             i, j, ai, bi, aend, bend;
    const char        *s;
    const dm_rnode_t  *a, *b;

    s = p->s;

    for (i = 0; i < p->ntargets; i++) {
        for (j = i + 1; j < p->ntargets; j++) {
            a = &p->e->node[p->target[i]];
            b = &p->e->node[p->target[j]];
            ai = a->pos;
            bi = b->pos;
            aend = a->pos + a->len;
            bend = b->pos + b->len;

            for ( ;; ) {
                while (ai < aend && (s[ai] == ' ' || s[ai] == '\t'
                                     || s[ai] == '\n' || s[ai] == '\r'))
                {
                    ai++;
                }
                while (bi < bend && (s[bi] == ' ' || s[bi] == '\t'
                                     || s[bi] == '\n' || s[bi] == '\r'))
                {
                    bi++;
                }
                if (ai == aend || bi == bend || s[ai] != s[bi]) {
                    break;
                }
                ai++;
                bi++;
            }

            if ((ai == aend && (bi == bend || s[bi] == '.' || s[bi] == '['))
                || (bi == bend && (s[ai] == '.' || s[ai] == '[')))
            {
                return dm_rerr(p->err, b->pos, "paths at %u and %u overlap",
                               a->pos, b->pos);
            }
        }
    }

    return 0;
}


/* ---- the entry points ------------------------------------------------- */

int
dm_rexpr_parse(dm_rexpr_t *e, dm_rexpr_kind_e kind, const char *text,
    size_t len, dm_rerr_t *err)
{
    dm_rp_t  p;

    e->kind = kind;
    e->text.data = text;
    e->text.len = len;
    e->root = -1;
    e->nnodes = 0;
    e->nvalues = 0;
    e->nnames = 0;

    if (len == 0) {
        return dm_rerr(err, 0, "empty expression");
    }

    if (len > DM_REXPR_MAX) {
        return dm_rerr(err, DM_REXPR_MAX, "expression longer than %d bytes",
                       DM_REXPR_MAX);
    }

    memset(&p, 0, sizeof(dm_rp_t));
    p.e = e;
    p.s = text;
    p.len = len;
    p.err = err;

    if (dm_rp_next(&p) != 0) {
        return -1;
    }

    switch (kind) {

    case DM_REXPR_UPDATE:
        return dm_rp_update(&p);

    case DM_REXPR_PROJECTION:
        return dm_rp_projection(&p);

    default:
        e->root = dm_rp_or(&p);
        if (e->root < 0) {
            return -1;
        }
        if (p.tok != DM_T_END) {
            return dm_rp_fail(&p, "expected AND, OR or the end");
        }
        if (e->node[e->root].kind == DM_RN_PATH
            || e->node[e->root].kind == DM_RN_VALUE)
        {
            return dm_rerr(err, 0, "not a condition");
        }
        return 0;
    }
}
