/*
 * The shared credentials and config files through dm_aws_profile_parse.
 * The first byte picks the file kind and the profile.  Invariants: no
 * value holds a line break or starts or ends with a blank, and a profile
 * that is not found has no values.
 */

#include <string.h>

#include "fuzz.h"
#include "dm_credentials.h"


static const char *const  fuzz_profiles[] = {
    "default", "dev", "profile", "a b"
};


static void
fuzz_value(const char *v)
{
    size_t  n;

    if (v == NULL) {
        return;
    }

    n = strlen(v);
    fuzz_assert(strchr(v, '\n') == NULL);
    if (n) {
        fuzz_assert(v[0] != ' ' && v[0] != '\t' && v[0] != '\r');
        fuzz_assert(v[n - 1] != ' ' && v[n - 1] != '\t'
                    && v[n - 1] != '\r');
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc;
    char             *buf;
    dm_aws_profile_t  p;

    if (size == 0) {
        return 0;
    }

    /* an exact-size copy of the rest */
    buf = malloc(size);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data + 1, size - 1);

    rc = dm_aws_profile_parse(buf, size - 1,
                              (data[0] & 1) ? DM_AWS_CONFIG_FILE
                                            : DM_AWS_CREDENTIALS_FILE,
                              fuzz_profiles[(data[0] >> 1) % 4], &p);

    if (rc == 0) {
        fuzz_value(p.access_key_id);
        fuzz_value(p.secret_access_key);
        fuzz_value(p.session_token);
        fuzz_value(p.region);
        fuzz_value(p.role_arn);
        fuzz_value(p.sso);
        fuzz_value(p.credential_process);

        if (!p.found) {
            fuzz_assert(p.access_key_id == NULL && p.secret_access_key == NULL
                        && p.session_token == NULL && p.region == NULL);
        }

    } else {
        fuzz_assert(p.access_key_id == NULL && p.session_token == NULL);
    }

    dm_aws_profile_free(&p);
    free(buf);

    return 0;
}
