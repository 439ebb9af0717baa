/*
 * Declared routes' declarations, as the compiler reads them: the first
 * byte picks what the rest is.
 *   even: a ddbm_type line ("base option..." split on blanks, as NGINX
 *         gives its arguments); a type that compiles must accept what it
 *         says it accepts (its enum values, its range's ends), keep '#'
 *         out of every value when it claims to, and be freed whole.
 *   odd:  "PK\nSK\nvalue\nvalue...": two key templates of the built-in
 *         types, each slot bound from the next line; a rendered key splits
 *         back into its values, and a transaction of two actions on the
 *         same templates and sources is refused, as is one of 101.
 */

#include <string.h>
#include <inttypes.h>

#include "fuzz.h"
#include "dm_route.h"


#define FZ_ARGS   8
#define FZ_LINES  12


static void
fz_type_probe(const dm_rtype_t *t, const char *s, size_t len)
{
    size_t        i;
    dm_rval_t     v;
    dm_rbind_e    rc;
    static char   buf[8192];     /* larger than any input */

    rc = dm_rtype_bind(t, s, len, buf, sizeof(buf), &v);

    if (rc != DM_RBIND_OK) {
        return;
    }

    fuzz_assert(v.len < sizeof(buf) && buf[v.len] == '\0');

    if (!dm_rtype_may_hold_hash(t)) {
        fuzz_assert(memchr(v.data, '#', v.len) == NULL);
    }

    if (t->lower) {
        for (i = 0; i < v.len; i++) {
            fuzz_assert(!(v.data[i] >= 'A' && v.data[i] <= 'Z'));
        }
    }

    if (t->kind == DM_RTYPE_INT) {
        fuzz_assert(v.num >= t->min && v.num <= t->max);
    }
}


static void
fz_type(const char *s, size_t len)
{
    int          rc;
    char         num[32];
    size_t       n, i;
    dm_rval_t    v;
    dm_rstr_t    name, args[FZ_ARGS];
    dm_rerr_t    err;
    dm_rtype_t   t;
    const char  *p, *end, *sp;
    static char  buf[8192];     /* no enum value is too long to bind */

    name.data = "t";
    name.len = 1;
    n = 0;
    end = s + len;

    for (p = s; p < end && n < FZ_ARGS; p = sp + 1) {
        sp = memchr(p, ' ', end - p);
        if (sp == NULL) {
            sp = end;
        }
        args[n].data = p;
        args[n++].len = sp - p;
    }

    rc = dm_rtype_compile(&t, name, args, n, &err);

    if (rc != 0) {
        fuzz_assert(rc == -1 && err.msg[0] != '\0');
        fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        /* nothing is kept on a refusal (LeakSanitizer checks) */
        fuzz_assert(t.nenum == 0 && !t.has_regex);
        return;
    }

    fuzz_assert(strcmp(t.name, "t") == 0);

    switch (t.kind) {

    case DM_RTYPE_INT:
        fuzz_assert(t.min <= t.max);
        /* both ends of the range are values of the type */
        snprintf(num, sizeof(num), "%" PRId64, t.min);
        fuzz_assert(dm_rtype_bind(&t, num, strlen(num), buf, sizeof(buf),
                                  &v) == DM_RBIND_OK && v.num == t.min);
        snprintf(num, sizeof(num), "%" PRId64, t.max);
        fuzz_assert(dm_rtype_bind(&t, num, strlen(num), buf, sizeof(buf),
                                  &v) == DM_RBIND_OK && v.num == t.max);
        break;

    case DM_RTYPE_ENUM:
        fuzz_assert(t.nenum >= 1 && t.nenum <= DM_RTYPE_ENUM_MAX);
        /* every declared value can be given */
        for (i = 0; i < t.nenum; i++) {
            fuzz_assert(dm_rtype_bind(&t, t.enums[i], strlen(t.enums[i]),
                                      buf, sizeof(buf), &v)
                        == DM_RBIND_OK);
        }
        break;

    case DM_RTYPE_STRING:
        fuzz_assert(t.max_chars == 0 || t.min_chars <= t.max_chars);
        break;

    default:
        break;
    }

    fz_type_probe(&t, "", 0);
    fz_type_probe(&t, "#", 1);
    fz_type_probe(&t, "a#b", 3);
    fz_type_probe(&t, "Ab", 2);
    fz_type_probe(&t, s, len);

    dm_rtype_free(&t);
    fuzz_assert(t.nenum == 0 && !t.has_regex);
}


static void
fz_keys(const char *s, size_t len)
{
    int               rc, bound;
    char              key[2][512], buf[DM_RTMPL_PARTS_MAX][128];
    size_t            n, i, k, nslots, klen[2];
    dm_rstr_t         line[FZ_LINES], back[DM_RTMPL_PARTS_MAX], table;
    dm_rval_t         v[DM_RTMPL_PARTS_MAX];
    dm_rerr_t         err;
    dm_rtmpl_t        tm[2];
    const char       *p, *end, *nl;
    dm_rtx_action_t   a[DM_RTX_ACTIONS_MAX + 1];
    const dm_rval_t  *want;
    const dm_rtmpl_part_t  *part;

    n = 0;
    end = s + len;

    for (p = s; p <= end && n < FZ_LINES; p = nl + 1) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            nl = end;
        }
        line[n].data = p;
        line[n++].len = nl - p;
    }

    if (n < 2) {
        return;
    }

    for (i = 0; i < 2; i++) {
        rc = dm_rtmpl_parse(&tm[i], line[i].data, line[i].len, NULL, &err);
        if (rc != 0) {
            fuzz_assert(rc == -1 && err.msg[0] != '\0');
            return;
        }
        fuzz_assert(tm[i].nslots <= tm[i].nparts
                    && tm[i].nparts <= DM_RTMPL_PARTS_MAX);
    }

    /* each slot bound from the next line, pk's slots then sk's */
    k = 2;
    nslots = tm[0].nslots + tm[1].nslots;
    bound = 1;

    for (i = 0; i < nslots; i++) {
        part = (i < tm[0].nslots) ? dm_rtmpl_slot(&tm[0], i)
                                  : dm_rtmpl_slot(&tm[1], i - tm[0].nslots);
        fuzz_assert(part != NULL && part->slot && part->type != NULL);

        if (k >= n
            || dm_rtype_bind(part->type, line[k].data, line[k].len, buf[i],
                             sizeof(buf[i]), &v[i]) != DM_RBIND_OK)
        {
            bound = 0;
            break;
        }
        k++;
    }

    /* a template without slots is a key too: rendered and matched */
    if (bound) {
        klen[0] = dm_rtmpl_render(&tm[0], v, tm[0].nslots, key[0],
                                  sizeof(key[0]));
        klen[1] = dm_rtmpl_render(&tm[1], v + tm[0].nslots, tm[1].nslots,
                                  key[1], sizeof(key[1]));

        for (i = 0; i < 2; i++) {
            if (klen[i] == 0) {
                continue;
            }

            fuzz_assert(klen[i] < sizeof(key[i]) && key[i][klen[i]] == '\0');

            /* the key splits back into exactly the values it was made of */
            rc = dm_rtmpl_match(&tm[i], key[i], klen[i], back,
                                tm[i].nslots);
            fuzz_assert(rc == 0);

            for (k = 0; k < tm[i].nslots; k++) {
                want = &v[(i ? tm[0].nslots : 0) + k];
                fuzz_assert(back[k].len == want->len
                            && memcmp(back[k].data, want->data, want->len)
                               == 0);
            }
        }
    }

    /* two actions on the same templates and sources: one item */
    table.data = "t";
    table.len = 1;

    for (i = 0; i < 2; i++) {
        a[i].table = table;
        a[i].pk = &tm[0];
        a[i].sk = &tm[1];
        a[i].sources = line + 2;
        a[i].nsources = n - 2;
    }

    fuzz_assert(dm_rtx_check(a, 2, &err) == -1);
    fuzz_assert(dm_rtx_check(a, 1, &err) == 0);

    /* another table: another item */
    a[1].table.data = "u";
    fuzz_assert(dm_rtx_check(a, 2, &err) == 0);

    /* 101 actions: refused, whatever they are on */
    for (i = 0; i <= DM_RTX_ACTIONS_MAX; i++) {
        a[i] = a[0];
    }

    fuzz_assert(dm_rtx_check(a, DM_RTX_ACTIONS_MAX + 1, &err) == -1);
    fuzz_assert(strstr(err.msg, "at most") != NULL);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char  *s;

    if (size == 0) {
        return 0;
    }

    /* an exact-size copy: a read past the end is a heap overflow */
    s = malloc(size - 1 ? size - 1 : 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data + 1, size - 1);

    if (data[0] % 2 == 0) {
        fz_type(s, size - 1);

    } else {
        fz_keys(s, size - 1);
    }

    free(s);

    return 0;
}
