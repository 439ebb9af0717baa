/*
 * Client bodies of POST /api/messages through dm_api_post_check.
 * Invariants: exactly one outcome; a 422 has 1..DM_API_CODES_MAX known
 * codes; a valid body's strings are the JSON's and within the rules.
 */

#include <string.h>

#include "fuzz.h"
#include "dm_api.h"
#include "dm_keys.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    size_t          n, i;
    const char     *codes[DM_API_CODES_MAX + 1];
    dm_api_post_t   p;

    codes[DM_API_CODES_MAX] = "canary";

    rc = dm_api_post_check((const char *) data, size, &p, codes, &n);

    fuzz_assert(codes[DM_API_CODES_MAX] != NULL
                && strcmp(codes[DM_API_CODES_MAX], "canary") == 0);

    switch (rc) {

    case 0:
        fuzz_assert(n == 0 && p.error == NULL);
        fuzz_assert(p.message_len > 0
                    && dm_utf8_chars(p.message, p.message_len)
                       <= DM_API_MESSAGE_MAX);
        if (p.update) {
            fuzz_assert(dm_uuid_valid(p.message_group_uuid,
                                      p.message_group_uuid_len));
        } else {
            fuzz_assert(p.handle_len > 0);
        }
        break;

    case 400:
        fuzz_assert(n == 0 && p.error != NULL && p.detail != NULL);
        fuzz_assert(p.error_position <= size);
        break;

    case 422:
        fuzz_assert(n >= 1 && n <= 2);
        for (i = 0; i < n; i++) {
            fuzz_assert(strcmp(codes[i], "message_blank") == 0
                        || strcmp(codes[i], "message_exceed_max_chars") == 0
                        || strcmp(codes[i], "message_group_uuid_blank") == 0
                        || strcmp(codes[i], "message_group_uuid_invalid") == 0
                        || strcmp(codes[i], "user_reciever_handle_blank")
                           == 0);
        }
        break;

    default:
        fuzz_assert(rc == -1);
    }

    dm_api_post_free(&p);

    return 0;
}
