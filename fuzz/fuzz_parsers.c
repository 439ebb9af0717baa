/*
 * The small parsers of client input: uuids (path segments and bodies),
 * handles, times (and so cursors, which are times), Idempotency-Key
 * values, and the key builders that take them.
 */

#include <string.h>

#include "fuzz.h"
#include "dm_keys.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          ok, ok2;
    char         key[DM_KEY_MAX], t[DM_TIME_LEN + 1], *s;
    size_t       n, i;
    int64_t      us, us2;

    /* an exact-size copy: a read past len is a heap overflow */
    s = malloc(size ? size : 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);

    ok = dm_uuid_valid(s, size);
    n = dm_key_msg(key, sizeof(key), s, size);
    fuzz_assert(ok ? n == 4 + DM_UUID_LEN && strlen(key) == n : n == 0);
    n = dm_key_group_meta(key, sizeof(key), s, size);
    fuzz_assert(ok ? n == 8 + DM_UUID_LEN : n == 0);

    ok = dm_handle_valid(s, size);
    n = dm_key_user_handle(key, sizeof(key), s, size);
    fuzz_assert(ok ? n == 12 + size : n == 0);
    for (i = 12; i < n; i++) {
        fuzz_assert(!(key[i] >= 'A' && key[i] <= 'Z'));
    }

    ok = (size >= 1 && size <= 255);
    for (i = 0; i < size; i++) {
        ok = ok && data[i] >= 0x20 && data[i] <= 0x7e;
    }
    fuzz_assert(dm_idempotency_key_valid(s, size) == ok);
    n = dm_key_idempotency(key, sizeof(key),
                           "5ae290ed-55d1-47a0-bc6d-fe2bc2700399",
                           DM_UUID_LEN, s, size);
    fuzz_assert(size ? n == 5 + DM_UUID_LEN + 1 + 32 : n == 0);

    ok = dm_time_parse(s, size, &us);
    if (ok) {
        /* a time we accept formats and parses back to itself */
        n = dm_time_format(us, t);
        fuzz_assert(n == DM_TIME_LEN && strlen(t) == DM_TIME_LEN);
        ok2 = dm_time_parse(t, n, &us2);
        if (us >= 0 && us < 253402300800000000LL) {   /* years 1970-9999 */
            fuzz_assert(ok2 && us2 == us);
        }
        fuzz_assert(dm_time_next(us, us) == us + 1);
    }

    free(s);

    return 0;
}
