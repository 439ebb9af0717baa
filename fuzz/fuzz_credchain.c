/*
 * The credential chain's parsers: the container / instance metadata JSON
 * answer (dm_creds_parse_json), STS's AssumeRoleWithWebIdentity XML
 * answer (dm_creds_parse_sts_xml) and ISO 8601 times
 * (dm_creds_parse_time).  The first byte picks the parser.  Invariants:
 * what is taken fits the limits, holds no control character and has a
 * key id of letters and digits; what is refused leaves the credentials
 * wiped and a one-line reason.
 */

#include <string.h>

#include "fuzz.h"
#include "dm_credchain.h"


static void
fuzz_clean(const char *s, size_t max, int empty_ok)
{
    size_t  i, n;

    n = strnlen(s, max + 1);
    fuzz_assert(n <= max);
    fuzz_assert(empty_ok || n > 0);

    for (i = 0; i < n; i++) {
        fuzz_assert((unsigned char) s[i] >= 0x20 && s[i] != 0x7f);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc;
    char        *buf, err[DM_CREDCHAIN_ERR_MAX];
    size_t       i;
    time_t       t;
    dm_creds_t  *c;

    if (size == 0) {
        return 0;
    }

    /* an exact-size copy of the rest, so overreads are caught */
    buf = malloc(size);
    c = malloc(sizeof(dm_creds_t));
    if (buf == NULL || c == NULL) {
        free(buf);
        free(c);
        return 0;
    }
    memcpy(buf, data + 1, size - 1);

    err[0] = '\0';

    switch (data[0] % 3) {

    case 0:
        rc = dm_creds_parse_json(buf, size - 1, c, err, sizeof(err));
        break;

    case 1:
        rc = dm_creds_parse_sts_xml(buf, size - 1, c, err, sizeof(err));
        break;

    default:
        t = 0;
        rc = dm_creds_parse_time(buf, size - 1, &t);
        fuzz_assert(rc == 0 ? t > 0 : t == 0);
        free(buf);
        free(c);
        return 0;
    }

    if (rc == 0) {
        fuzz_clean(c->access_key_id, DM_CREDS_ID_MAX, 0);
        fuzz_clean(c->secret_access_key, DM_CREDS_SECRET_MAX, 0);
        fuzz_clean(c->session_token, DM_CREDS_TOKEN_MAX, 1);

        for (i = 0; c->access_key_id[i]; i++) {
            fuzz_assert((c->access_key_id[i] >= 'A'
                         && c->access_key_id[i] <= 'Z')
                        || (c->access_key_id[i] >= 'a'
                            && c->access_key_id[i] <= 'z')
                        || (c->access_key_id[i] >= '0'
                            && c->access_key_id[i] <= '9'));
        }

        /* STS credentials always expire */
        fuzz_assert((data[0] % 3) != 1 || c->expiration > 0);

    } else {
        fuzz_assert(rc == -1);
        fuzz_assert(c->access_key_id[0] == '\0'
                    && c->secret_access_key[0] == '\0'
                    && c->session_token[0] == '\0');
        fuzz_clean(err, sizeof(err) - 1, 0);
    }

    dm_creds_wipe(c);
    free(c);
    free(buf);

    return 0;
}
