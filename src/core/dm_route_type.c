/*
 * Value types of declared routes: compiled once from a ddbm_type line,
 * then every request value is bound through one before it is used.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_keys.h"
#include "dm_route.h"


static int dm_rtype_option(dm_rtype_t *t, dm_rstr_t a, unsigned *seen,
    dm_rerr_t *err);
static int dm_rtype_range(dm_rstr_t v, int64_t *min, int64_t *max);
static int dm_rtype_charset(dm_rtype_t *t, dm_rstr_t v);
static int dm_rtype_enums(dm_rtype_t *t, dm_rstr_t v, dm_rerr_t *err);
static int dm_rtype_int(const char *s, size_t len, int64_t *v);
static int dm_rtype_regex_size(const char *re, size_t len, size_t *size);


static const dm_rtype_t  dm_rtype_uuid = {
    .name = "uuid", .kind = DM_RTYPE_UUID
};

static const dm_rtype_t  dm_rtype_time = {
    .name = "time", .kind = DM_RTYPE_TIME
};

static const dm_rtype_t  dm_rtype_int64 = {
    .name = "int", .kind = DM_RTYPE_INT, .min = INT64_MIN, .max = INT64_MAX
};

/* what one ddbm_type regex= may cost regcomp(): see dm_rtype_regex_size */
#define DM_RTYPE_REGEX_ATOMS  1024
#define DM_RTYPE_REGEX_DEPTH  16

enum {
    DM_OPT_RANGE = 1,
    DM_OPT_CHARS = 2,
    DM_OPT_CHARSET = 4,
    DM_OPT_REGEX = 8,
    DM_OPT_LOWER = 16,
    DM_OPT_VALUES = 32
};


int
dm_rerr(dm_rerr_t *err, size_t pos, const char *fmt, ...)
{
    va_list  ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->pos = pos;
    }

    return -1;
}


static int
dm_rstr_is(dm_rstr_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.data, lit, s.len) == 0;
}


int
dm_rtype_compile(dm_rtype_t *t, dm_rstr_t name, const dm_rstr_t *args,
    size_t nargs, dm_rerr_t *err)
{
    size_t          i;
    unsigned        seen;
    unsigned char   c;

    memset(t, 0, sizeof(dm_rtype_t));

    if (name.len == 0 || name.len >= DM_ROUTE_NAME_MAX) {
        return dm_rerr(err, DM_RERR_NOPOS, "type name must be 1 to %d "
                       "characters", DM_ROUTE_NAME_MAX - 1);
    }

    for (i = 0; i < name.len; i++) {
        c = (unsigned char) name.data[i];

        if (!(c == '_' || (c >= 'a' && c <= 'z')
              || (i && c >= '0' && c <= '9')))
        {
            return dm_rerr(err, DM_RERR_NOPOS, "type name \"%.*s\": use "
                           "[a-z_][a-z0-9_]*", (int) name.len, name.data);
        }
    }

    memcpy(t->name, name.data, name.len);

    if (nargs == 0) {
        return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\" has no base type",
                       t->name);
    }

    if (dm_rstr_is(args[0], "uuid")) {
        t->kind = DM_RTYPE_UUID;
    } else if (dm_rstr_is(args[0], "time")) {
        t->kind = DM_RTYPE_TIME;
    } else if (dm_rstr_is(args[0], "int")) {
        t->kind = DM_RTYPE_INT;
        t->min = INT64_MIN;
        t->max = INT64_MAX;
    } else if (dm_rstr_is(args[0], "enum")) {
        t->kind = DM_RTYPE_ENUM;
    } else if (dm_rstr_is(args[0], "string")) {
        t->kind = DM_RTYPE_STRING;
        t->min_chars = 1;            /* empty only when chars= says so */
    } else {
        return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": unknown base type "
                       "\"%.*s\" (uuid, time, int, enum, string)", t->name,
                       (int) args[0].len, args[0].data);
    }

    seen = 0;

    for (i = 1; i < nargs; i++) {
        if (dm_rtype_option(t, args[i], &seen, err) != 0) {
            dm_rtype_free(t);
            return -1;
        }
    }

    if (t->kind == DM_RTYPE_ENUM && t->nenum == 0) {
        return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": an enum needs "
                       "values=a|b|...", t->name);
    }

    /*
     * after every option, whatever their order: a value that binding
     * could never give back ("lower" folds first; UTF-8 is checked first)
     */
    for (i = 0; i < t->nenum; i++) {
        if (dm_rutf8_chars((const unsigned char *) t->enums[i],
                           strlen(t->enums[i])) == (size_t) -1)
        {
            dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": enum value %zu is "
                    "not valid UTF-8", t->name, i + 1);
            dm_rtype_free(t);
            return -1;
        }

        if (t->lower
            && strpbrk(t->enums[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != NULL)
        {
            dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": \"lower\" with an "
                    "upper-case value \"%s\" (it could never match)",
                    t->name, t->enums[i]);
            dm_rtype_free(t);
            return -1;
        }
    }

    return 0;
}


static int
dm_rtype_option(dm_rtype_t *t, dm_rstr_t a, unsigned *seen, dm_rerr_t *err)
{
    int64_t     min, max;
    size_t      klen;
    unsigned    opt;
    dm_rstr_t   v;
    const char *eq;
    char        re[1024], msg[128];
    int         rc;

    eq = memchr(a.data, '=', a.len);
    klen = eq ? (size_t) (eq - a.data) : a.len;
    v.data = eq ? eq + 1 : NULL;
    v.len = eq ? a.len - klen - 1 : 0;

#define DM_KEY_IS(k)  (klen == sizeof(k) - 1 && memcmp(a.data, k, klen) == 0)

    if (DM_KEY_IS("range") && eq) {
        opt = DM_OPT_RANGE;
    } else if (DM_KEY_IS("chars") && eq) {
        opt = DM_OPT_CHARS;
    } else if (DM_KEY_IS("charset") && eq) {
        opt = DM_OPT_CHARSET;
    } else if (DM_KEY_IS("regex") && eq) {
        opt = DM_OPT_REGEX;
    } else if (DM_KEY_IS("values") && eq) {
        opt = DM_OPT_VALUES;
    } else if (DM_KEY_IS("lower") && !eq) {
        opt = DM_OPT_LOWER;
    } else {
        return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": unknown option "
                       "\"%.*s\"", t->name, (int) a.len, a.data);
    }

#undef DM_KEY_IS

    if (*seen & opt) {
        return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": \"%.*s\" given "
                       "twice", t->name, (int) klen, a.data);
    }

    *seen |= opt;

    if ((opt == DM_OPT_RANGE && t->kind != DM_RTYPE_INT)
        || (opt == DM_OPT_VALUES && t->kind != DM_RTYPE_ENUM)
        || ((opt & (DM_OPT_CHARS|DM_OPT_CHARSET|DM_OPT_REGEX))
            && t->kind != DM_RTYPE_STRING)
        || (opt == DM_OPT_LOWER && t->kind != DM_RTYPE_STRING
            && t->kind != DM_RTYPE_ENUM))
    {
        return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": \"%.*s\" does not "
                       "apply to this base type", t->name, (int) klen,
                       a.data);
    }

    switch (opt) {

    case DM_OPT_RANGE:
        if (dm_rtype_range(v, &t->min, &t->max) != 0) {
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": range= needs "
                           "MIN..MAX, MIN <= MAX", t->name);
        }
        break;

    case DM_OPT_CHARS:
        if (dm_rtype_range(v, &min, &max) != 0 || min < 0 || max < 1) {
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": chars= needs "
                           "MIN..MAX, 0 <= MIN <= MAX, MAX > 0", t->name);
        }
        t->min_chars = (size_t) min;
        t->max_chars = (size_t) max;
        break;

    case DM_OPT_CHARSET:
        if (dm_rtype_charset(t, v) != 0) {
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": charset= takes "
                           "printable ASCII characters and ranges a-z",
                           t->name);
        }
        break;

    case DM_OPT_REGEX:
        if (v.len == 0 || v.len >= sizeof(re)
            || memchr(v.data, '\0', v.len) != NULL)
        {
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": regex= needs "
                           "1 to %d characters", t->name,
                           (int) sizeof(re) - 1);
        }
        rc = dm_rtype_regex_size(v.data, v.len, &klen);
        if (rc != 0 || klen > DM_RTYPE_REGEX_ATOMS) {
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": regex: %s",
                           t->name,
                           rc == -1 ? "a repetition of a repetition "
                                      "(\"a+*\", \"a{2}{3}\"), which POSIX "
                                      "leaves undefined"
                           : rc == -2 ? "groups nested too deep"
                           : rc == -3 ? "a back-reference (\\1), whose "
                                        "matching may take exponential time"
                           : "over 1024 atoms once its repetitions are "
                             "expanded (regcomp() copies an atom for each: "
                             "for a length, use chars=)");
        }
        memcpy(re, v.data, v.len);
        re[v.len] = '\0';
        rc = regcomp(&t->regex, re, REG_EXTENDED|REG_NOSUB);
        if (rc != 0) {
            regerror(rc, &t->regex, msg, sizeof(msg));
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": regex: %s",
                           t->name, msg);
        }
        t->has_regex = 1;
        break;

    case DM_OPT_VALUES:
        return dm_rtype_enums(t, v, err);

    default: /* DM_OPT_LOWER: its enum values are checked at the end */
        t->lower = 1;
        break;
    }

    return 0;
}


static int
dm_rtype_range(dm_rstr_t v, int64_t *min, int64_t *max)
{
    const char  *dots;

    dots = NULL;

    if (v.len >= 4) {
        dots = memchr(v.data + 1, '.', v.len - 2);
    }

    if (dots == NULL || dots[1] != '.'
        || dm_rtype_int(v.data, dots - v.data, min) != 0
        || dm_rtype_int(dots + 2, v.len - (dots + 2 - v.data), max) != 0
        || *min > *max)
    {
        return -1;
    }

    return 0;
}


/*
 * Roughly what regcomp() builds for an ERE: one node per atom, and a
 * repetition copies its atom, {m,n} n times (m + 1 when unbounded), "+"
 * twice.  Nested repetitions multiply: "((a{1,255}){1,255}){1,255}" asks
 * glibc for gigabytes, so nginx -t would die on one line of a type.
 * Returns 0 and the size (capped just over DM_RTYPE_REGEX_ATOMS), -1 for
 * a repetition of a repetition, -2 for groups nested too deep, -3 for a
 * back-reference (a request's value is matched against it).  What is
 * not well formed is left for regcomp() to refuse.
 */
static int
dm_rtype_regex_size(const char *re, size_t len, size_t *size)
{
    int     repeated;
    size_t  i, j, depth, m, n, factor;
    size_t  sum[DM_RTYPE_REGEX_DEPTH + 1], last[DM_RTYPE_REGEX_DEPTH + 1];

#define DM_CAP(x)  ((x) > DM_RTYPE_REGEX_ATOMS ? DM_RTYPE_REGEX_ATOMS + 1 \
                                               : (x))

    depth = 0;
    sum[0] = 0;
    last[0] = 0;
    repeated = 0;

    for (i = 0; i < len; i++) {
        factor = 0;

        switch (re[i]) {

        case '\\':
            /*
             * glibc takes \1 in an ERE, and matching it may take
             * exponential time
             */
            if (i + 1 < len && re[i + 1] >= '1' && re[i + 1] <= '9') {
                return -3;
            }
            i++;
            break;

        case '[':
            /* one atom: "[]a]", "[^]a]", "[[:alpha:]_]" */
            j = i + 1;
            j += (j < len && re[j] == '^');
            j += (j < len && re[j] == ']');

            while (j < len && re[j] != ']') {
                if (re[j] == '[' && j + 1 < len
                    && (re[j + 1] == ':' || re[j + 1] == '='
                        || re[j + 1] == '.'))
                {
                    /* up to its ":]" (or "=]", ".]") */
                    for (j += 2; j + 1 < len; j++) {
                        if ((re[j] == ':' || re[j] == '=' || re[j] == '.')
                            && re[j + 1] == ']')
                        {
                            break;
                        }
                    }
                    j += 2;
                    continue;
                }
                j++;
            }

            i = j;
            break;

        case '(':
            if (depth == DM_RTYPE_REGEX_DEPTH) {
                return -2;
            }
            sum[depth] = DM_CAP(sum[depth] + last[depth]);
            last[depth] = 0;
            depth++;
            sum[depth] = 0;
            last[depth] = 0;
            repeated = 0;
            continue;

        case ')':
            if (depth == 0) {
                break;
            }
            m = DM_CAP(sum[depth] + last[depth] + 1);
            depth--;
            sum[depth] = DM_CAP(sum[depth] + last[depth]);
            last[depth] = m;
            repeated = 0;
            continue;

        case '|':
            sum[depth] = DM_CAP(sum[depth] + last[depth]);
            last[depth] = 0;
            repeated = 0;
            continue;

        case '*':
        case '?':
            factor = 1;
            break;

        case '+':
            factor = 2;
            break;

        case '{':
            /* {m}, {m,}, {m,n}, {,n}: anything else is a literal "{" */
            m = 0;
            n = 0;
            for (j = i + 1; j < len && j < i + 7 && re[j] >= '0'
                            && re[j] <= '9'; j++)
            {
                m = m * 10 + (re[j] - '0');
            }
            factor = m;
            if (j < len && re[j] == ',') {
                factor = m + 1;
                for (j++; j < len && re[j] >= '0' && re[j] <= '9'
                          && n < 1000000; j++)
                {
                    n = n * 10 + (re[j] - '0');
                    factor = n;
                }
            }
            if (j < len && re[j] == '}' && j > i + 1) {
                i = j;
                factor = factor ? factor : 1;
            } else {
                factor = 0;
            }
            break;

        default:
            break;
        }

        if (factor && last[depth]) {
            if (repeated) {
                return -1;
            }
            last[depth] = DM_CAP(last[depth] * DM_CAP(factor));
            repeated = 1;
            continue;
        }

        /* an atom */
        sum[depth] = DM_CAP(sum[depth] + last[depth]);
        last[depth] = 1;
        repeated = 0;
    }

    while (depth > 0) {
        m = DM_CAP(sum[depth] + last[depth]);
        depth--;
        sum[depth] = DM_CAP(sum[depth] + last[depth]);
        last[depth] = m;
    }

    *size = DM_CAP(sum[0] + last[0]);

#undef DM_CAP

    return 0;
}


static int
dm_rtype_charset(dm_rtype_t *t, dm_rstr_t v)
{
    size_t         i;
    unsigned char  c, from, to;

    if (v.len == 0) {
        return -1;
    }

    for (i = 0; i < v.len; i++) {
        c = (unsigned char) v.data[i];

        if (c < 0x20 || c > 0x7e) {
            return -1;
        }
    }

    for (i = 0; i < v.len; i++) {
        from = (unsigned char) v.data[i];
        to = from;

        /* "a-z"; a '-' first or last is itself */
        if (i + 2 < v.len && v.data[i + 1] == '-') {
            to = (unsigned char) v.data[i + 2];
            if (to < from) {
                return -1;
            }
            i += 2;
        }

        for (c = from; ; c++) {
            t->charset[c >> 3] |= (unsigned char) (1u << (c & 7));
            if (c == to) {
                break;
            }
        }
    }

    t->has_charset = 1;

    return 0;
}


static int
dm_rtype_enums(dm_rtype_t *t, dm_rstr_t v, dm_rerr_t *err)
{
    size_t       n, i;
    const char  *p, *end, *bar;

    p = v.data;
    end = v.data + v.len;

    for ( ;; ) {
        bar = memchr(p, '|', end - p);
        n = (bar ? bar : end) - p;

        if (n == 0 || memchr(p, '\0', n) != NULL) {
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": an empty enum "
                           "value", t->name);
        }

        for (i = 0; i < t->nenum; i++) {
            if (strlen(t->enums[i]) == n && memcmp(t->enums[i], p, n) == 0) {
                return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": enum value "
                               "\"%.*s\" given twice", t->name, (int) n, p);
            }
        }

        if (t->nenum == DM_RTYPE_ENUM_MAX) {
            return dm_rerr(err, DM_RERR_NOPOS, "type \"%s\": more than %d "
                           "enum values", t->name, DM_RTYPE_ENUM_MAX);
        }

        /* not strndup(): the value need not be followed by a NUL */
        t->enums[t->nenum] = malloc(n + 1);
        if (t->enums[t->nenum] == NULL) {
            return dm_rerr(err, DM_RERR_NOPOS, "out of memory");
        }
        memcpy(t->enums[t->nenum], p, n);
        t->enums[t->nenum][n] = '\0';
        t->nenum++;

        if (bar == NULL) {
            return 0;
        }

        p = bar + 1;
    }
}


void
dm_rtype_free(dm_rtype_t *t)
{
    size_t  i;

    if (t->has_regex) {
        regfree(&t->regex);
        t->has_regex = 0;
    }

    for (i = 0; i < t->nenum; i++) {
        free(t->enums[i]);
        t->enums[i] = NULL;
    }

    t->nenum = 0;
}


const dm_rtype_t *
dm_rtype_builtin(const char *name, size_t len)
{
    if (len == 4 && memcmp(name, "uuid", 4) == 0) {
        return &dm_rtype_uuid;
    }

    if (len == 4 && memcmp(name, "time", 4) == 0) {
        return &dm_rtype_time;
    }

    if (len == 3 && memcmp(name, "int", 3) == 0) {
        return &dm_rtype_int64;
    }

    return NULL;
}


int
dm_rtype_may_hold_hash(const dm_rtype_t *t)
{
    size_t  i;

    switch (t->kind) {

    case DM_RTYPE_UUID:
    case DM_RTYPE_TIME:
    case DM_RTYPE_INT:
        return 0;

    case DM_RTYPE_ENUM:
        for (i = 0; i < t->nenum; i++) {
            if (strchr(t->enums[i], '#') != NULL) {
                return 1;
            }
        }
        return 0;

    default:
        /* a regex cannot be read for it: only a charset proves it */
        return !t->has_charset || (t->charset['#' >> 3] & (1u << ('#' & 7)));
    }
}


/* strict: [-]digits, no leading zeros, no sign on zero, within int64 */
static int
dm_rtype_int(const char *s, size_t len, int64_t *v)
{
    int       neg;
    size_t    i;
    uint64_t  n, limit;

    neg = (len && s[0] == '-');
    i = neg;

    if (i == len || (s[i] == '0' && (len - i > 1 || neg))) {
        return -1;
    }

    limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    n = 0;

    for ( /* void */ ; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        if (n > (limit - (uint64_t) (s[i] - '0')) / 10) {
            return 1;                /* a number, out of range */
        }
        n = n * 10 + (uint64_t) (s[i] - '0');
    }

    *v = neg ? (int64_t) (0 - n) : (int64_t) n;

    return 0;
}


size_t
dm_rutf8_chars(const unsigned char *s, size_t len)
{
    size_t         i, n, k, need;
    unsigned char  c, lo, hi;

    n = 0;

    for (i = 0; i < len; n++) {
        c = s[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        /* the shortest form only, no surrogates, nothing past U+10FFFF */
        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = (c == 0xe0) ? 0xa0 : 0x80;
            hi = (c == 0xed) ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = (c == 0xf0) ? 0x90 : 0x80;
            hi = (c == 0xf4) ? 0x8f : 0xbf;
        } else {
            return (size_t) -1;
        }

        if (len - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi) {
            return (size_t) -1;
        }

        for (k = 2; k <= need; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
                return (size_t) -1;
            }
        }

        i += need + 1;
    }

    return n;
}


dm_rbind_e
dm_rtype_bind(const dm_rtype_t *t, const char *value, size_t len, char *buf,
    size_t size, dm_rval_t *out)
{
    int            rc;
    size_t         i, n;
    int64_t        v;
    unsigned char  c;

    memset(out, 0, sizeof(dm_rval_t));
    out->type = t;
    out->ddb = 'S';

    if (value == NULL) {
        return DM_RBIND_MISSING;
    }

    if (len == 0 && !(t->kind == DM_RTYPE_STRING && t->min_chars == 0)) {
        return DM_RBIND_EMPTY;
    }

    if (size < len + 1 || (t->kind == DM_RTYPE_TIME && size < DM_TIME_LEN + 1)
        || (t->kind == DM_RTYPE_INT && size < 21))
    {
        return DM_RBIND_NO_ROOM;
    }

    switch (t->kind) {

    case DM_RTYPE_UUID:
        if (!dm_uuid_valid(value, len)) {
            return DM_RBIND_INVALID;
        }
        memcpy(buf, value, len);
        buf[len] = '\0';
        break;

    case DM_RTYPE_TIME:
        if (!dm_time_parse(value, len, &v)) {
            return DM_RBIND_INVALID;
        }
        out->num = v;
        len = dm_time_format(v, buf);
        break;

    case DM_RTYPE_INT:
        rc = dm_rtype_int(value, len, &v);
        if (rc < 0) {
            return DM_RBIND_INVALID;
        }
        if (rc > 0 || v < t->min || v > t->max) {
            return DM_RBIND_RANGE;
        }
        out->num = v;
        out->ddb = 'N';
        len = (size_t) snprintf(buf, size, "%lld", (long long) v);
        break;

    default: /* DM_RTYPE_STRING, DM_RTYPE_ENUM */
        n = dm_rutf8_chars((const unsigned char *) value, len);
        if (n == (size_t) -1) {
            return DM_RBIND_UTF8;
        }

        for (i = 0; i < len; i++) {
            c = (unsigned char) value[i];
            buf[i] = (char) ((t->lower && c >= 'A' && c <= 'Z') ? c | 0x20
                                                                 : c);
        }
        buf[len] = '\0';

        if (t->kind == DM_RTYPE_ENUM) {
            for (i = 0; i < t->nenum; i++) {
                if (strlen(t->enums[i]) == len
                    && memcmp(t->enums[i], buf, len) == 0)
                {
                    break;
                }
            }
            if (i == t->nenum) {
                return DM_RBIND_NOT_ALLOWED;
            }
            break;
        }

        if (n < t->min_chars) {
            return DM_RBIND_TOO_SHORT;
        }
        if (t->max_chars && n > t->max_chars) {
            return DM_RBIND_TOO_LONG;
        }

        if (t->has_charset) {
            for (i = 0; i < len; i++) {
                c = (unsigned char) buf[i];
                if (c > 0x7f || !(t->charset[c >> 3] & (1u << (c & 7)))) {
                    return DM_RBIND_NOT_ALLOWED;
                }
            }
        }

        if (t->has_regex
            && (memchr(buf, '\0', len) != NULL
                || regexec(&t->regex, buf, 0, NULL, 0) != 0))
        {
            return DM_RBIND_NOT_ALLOWED;
        }

        break;
    }

    out->state = len ? DM_RVAL_SET : DM_RVAL_EMPTY;
    out->data = buf;
    out->len = len;

    return DM_RBIND_OK;
}


const char *
dm_rbind_name(dm_rbind_e rc)
{
    static const char *const  names[] = {
        "ok", "missing", "empty", "invalid", "not_utf8", "too_short",
        "too_long", "out_of_range", "not_allowed", "too_large"
    };

    return (unsigned) rc < sizeof(names) / sizeof(names[0]) ? names[rc]
                                                             : "unknown";
}
