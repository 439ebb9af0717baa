/*
 * Declared routes' typed binding and key templates: the first byte picks
 * a type, the rest is a raw request value, bound and then rendered into
 * "K#{v:<type>}"; the whole input is also parsed as a key template.
 */

#include <string.h>

#include "fuzz.h"
#include "dm_keys.h"
#include "dm_route.h"


#define NTYPES  8

static dm_rtype_t         fz_compiled[5];
static const dm_rtype_t  *fz_type[NTYPES];
static dm_rtmpl_t         fz_key[NTYPES];
static int                fz_keyed[NTYPES];
static dm_rtmpl_t         fz_idem;


static const dm_rtype_t *
fz_find(void *data, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < NTYPES; i++) {
        if (strlen(fz_type[i]->name) == len
            && memcmp(fz_type[i]->name, name, len) == 0)
        {
            return fz_type[i];
        }
    }

    return NULL;
}


/* "base option..." split on blanks, as NGINX gives ddbm_type's arguments */
static void
fz_compile(int i, const char *name, const char *line)
{
    size_t       n;
    dm_rstr_t    nm, args[6];
    dm_rerr_t    err;
    const char  *p, *sp;

    nm.data = name;
    nm.len = strlen(name);
    n = 0;

    for (p = line; *p && n < 6; p = sp ? sp + 1 : p + strlen(p)) {
        sp = strchr(p, ' ');
        args[n].data = p;
        args[n++].len = sp ? (size_t) (sp - p) : strlen(p);
    }

    fuzz_assert(dm_rtype_compile(&fz_compiled[i], nm, args, n, &err) == 0);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int         i;
    char        text[64];
    dm_rerr_t   err;
    dm_rtypes_t types;

    fz_compile(0, "limit", "int range=1..100");
    fz_compile(1, "order", "enum values=asc|desc|a#b lower");
    fz_compile(2, "handle", "string chars=1..64 charset=A-Za-z0-9_.- lower");
    fz_compile(3, "word", "string chars=0..8 regex=^[a-z]*$");
    fz_compile(4, "message", "string chars=1..20");

    fz_type[0] = dm_rtype_builtin("uuid", 4);
    fz_type[1] = dm_rtype_builtin("time", 4);
    fz_type[2] = dm_rtype_builtin("int", 3);

    for (i = 0; i < 5; i++) {
        fz_type[3 + i] = &fz_compiled[i];
    }

    types.find = fz_find;
    types.data = NULL;

    for (i = 0; i < NTYPES; i++) {
        snprintf(text, sizeof(text), "K#{v:%s}", fz_type[i]->name);
        fz_keyed[i] = (dm_rtmpl_parse(&fz_key[i], strdup(text), strlen(text),
                                      &types, &err) == 0);
        /* exactly the types that cannot hold '#' make a key */
        fuzz_assert(fz_keyed[i] == !dm_rtype_may_hold_hash(fz_type[i]));
    }

    fuzz_assert(dm_rtmpl_parse(&fz_idem, "IDEM#{u:uuid}#{k:handle}", 24,
                               &types, &err) == 0);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 t;
    char               *s, buf[256], again[256], key[512];
    size_t              i, len, n;
    dm_rval_t           v, v2;
    dm_rstr_t           raw, two[2];
    dm_rerr_t           err;
    dm_rbind_e          rc;
    dm_rtmpl_t          tmpl;
    dm_rtypes_t         types;
    const dm_rtype_t   *type;

    if (size == 0) {
        return 0;
    }

    t = data[0] % NTYPES;
    type = fz_type[t];
    len = size - 1;

    s = malloc(len ? len : 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data + 1, len);

    fuzz_assert(dm_rtype_bind(type, NULL, 0, buf, sizeof(buf), &v)
                == DM_RBIND_MISSING && v.state == DM_RVAL_MISSING);

    rc = dm_rtype_bind(type, s, len, buf, sizeof(buf), &v);

    if (len == 0) {
        /* empty is never mistaken for missing */
        fuzz_assert(rc != DM_RBIND_MISSING);
    }

    if (rc == DM_RBIND_OK) {
        fuzz_assert(v.type == type && v.data == buf && v.len < sizeof(buf));
        fuzz_assert(buf[v.len] == '\0');
        fuzz_assert(v.state == (v.len ? DM_RVAL_SET : DM_RVAL_EMPTY));

        if (type->kind == DM_RTYPE_STRING) {
            n = dm_rutf8_chars((const unsigned char *) v.data, v.len);
            fuzz_assert(n >= type->min_chars);
            fuzz_assert(type->max_chars == 0 || n <= type->max_chars);
        }

        if (type->kind == DM_RTYPE_INT) {
            fuzz_assert(v.num >= type->min && v.num <= type->max);
            fuzz_assert(v.ddb == 'N');
        }

        if (type->lower) {
            for (i = 0; i < v.len; i++) {
                fuzz_assert(!(v.data[i] >= 'A' && v.data[i] <= 'Z'));
            }
        }

        /* the canonical text binds to itself (times: years 1970-9999) */
        if (type->kind != DM_RTYPE_TIME
            || (v.num >= 0 && v.num < 253402300800000000LL))
        {
            fuzz_assert(dm_rtype_bind(type, v.data, v.len, again,
                                      sizeof(again), &v2) == DM_RBIND_OK);
            fuzz_assert(v2.len == v.len
                        && memcmp(v2.data, v.data, v.len) == 0);
        }

        if (fz_keyed[t]) {
            fuzz_assert(memchr(v.data, '#', v.len) == NULL);
            n = dm_rtmpl_render(&fz_key[t], &v, 1, key, sizeof(key));
            fuzz_assert(v.len ? n == 2 + v.len : n == 0);
            if (n) {
                fuzz_assert(strchr(key + 2, '#') == NULL);
                /* and the key splits back into the value */
                fuzz_assert(dm_rtmpl_match(&fz_key[t], key, n, &raw, 1) == 0
                            && raw.len == v.len
                            && memcmp(raw.data, v.data, v.len) == 0);
            }
        }
    }

    /* the raw input as a key: what matches rebuilds it exactly */
    if (len < sizeof(key) && dm_rtmpl_match(&fz_idem, s, len, two, 2) == 0) {
        /* memcpy, not "%.*s": a value may hold NUL bytes */
        memcpy(key, "IDEM#", 5);
        memcpy(key + 5, two[0].data, two[0].len);
        key[5 + two[0].len] = '#';
        memcpy(key + 6 + two[0].len, two[1].data, two[1].len);
        n = 6 + two[0].len + two[1].len;
        fuzz_assert(n == len && memcmp(key, s, len) == 0);
        fuzz_assert(two[0].len && two[1].len
                    && memchr(two[0].data, '#', two[0].len) == NULL
                    && memchr(two[1].data, '#', two[1].len) == NULL);
    }

    /* the raw input as a template */
    types.find = fz_find;
    types.data = NULL;

    if (dm_rtmpl_parse(&tmpl, s, len, &types, &err) == 0) {
        fuzz_assert(tmpl.nslots <= tmpl.nparts
                    && tmpl.nparts <= DM_RTMPL_PARTS_MAX);
        for (i = 0; i < tmpl.nparts; i++) {
            if (tmpl.part[i].slot) {
                fuzz_assert(!dm_rtype_may_hold_hash(tmpl.part[i].type));
                fuzz_assert(i == 0 || !tmpl.part[i - 1].slot);
            } else {
                fuzz_assert(tmpl.part[i].lit.len > 0);
                fuzz_assert(memchr(tmpl.part[i].lit.data, '{',
                                   tmpl.part[i].lit.len) == NULL);
                fuzz_assert(memchr(tmpl.part[i].lit.data, '}',
                                   tmpl.part[i].lit.len) == NULL);
            }
        }

    } else {
        fuzz_assert(err.pos == DM_RERR_NOPOS || err.pos <= len);
    }

    free(s);

    return 0;
}
