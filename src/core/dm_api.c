/*
 * POST /api/messages body rules; see dm_api.h.
 */

#include <string.h>

#include "dm_api.h"
#include "dm_keys.h"


/* 1: a string, 0: absent or null, -1: another type */
static int
dm_api_string(json_t *body, const char *name, const char **s, size_t *len)
{
    json_t  *v;

    *s = NULL;
    *len = 0;

    v = json_object_get(body, name);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    *s = json_string_value(v);
    *len = json_string_length(v);

    return 1;
}


size_t
dm_utf8_chars(const char *s, size_t len)
{
    size_t  i, n;

    for (i = 0, n = 0; i < len; i++) {
        n += ((unsigned char) s[i] & 0xc0) != 0x80;
    }

    return n;
}


static int
dm_api_bad(dm_api_post_t *out, const char *error, const char *detail)
{
    out->error = error;
    out->detail = detail;

    return 400;
}


int
dm_api_post_check(const char *body, size_t len, dm_api_post_t *out,
    const char **codes, size_t *ncodes)
{
    int            rc;
    size_t         n;
    json_error_t   err;

    memset(out, 0, sizeof(dm_api_post_t));
    *ncodes = 0;

    if (body == NULL || len == 0) {
        return dm_api_bad(out, "body_required", "a JSON object is required");
    }

    out->json = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);

    if (out->json == NULL) {
        if (json_error_code(&err) == json_error_out_of_memory) {
            return -1;
        }

        out->error_position = err.position < 0 ? 0 : (size_t) err.position;
        return dm_api_bad(out, "malformed_json", "the body is not valid JSON");
    }

    if (!json_is_object(out->json)) {
        return dm_api_bad(out, "body_not_object",
                          "the body must be a JSON object");
    }

    n = 0;

    rc = dm_api_string(out->json, "message_group_uuid",
                       &out->message_group_uuid,
                       &out->message_group_uuid_len);

    if (rc < 0) {
        out->update = 1;
        return dm_api_bad(out, "invalid_type",
                          "message_group_uuid must be a string");
    }

    out->update = (rc == 1);

    rc = dm_api_string(out->json, "message", &out->message,
                       &out->message_len);

    if (rc < 0) {
        return dm_api_bad(out, "invalid_type", "message must be a string");
    }

    if (out->message_len == 0) {
        codes[n++] = "message_blank";

    } else if (dm_utf8_chars(out->message, out->message_len)
               > DM_API_MESSAGE_MAX)
    {
        codes[n++] = "message_exceed_max_chars";
    }

    if (out->update) {
        if (out->message_group_uuid_len == 0) {
            codes[n++] = "message_group_uuid_blank";

        } else if (!dm_uuid_valid(out->message_group_uuid,
                                  out->message_group_uuid_len))
        {
            codes[n++] = "message_group_uuid_invalid";
        }

    } else {
        if (dm_api_string(out->json, "handle", &out->handle,
                          &out->handle_len)
            < 0)
        {
            return dm_api_bad(out, "invalid_type", "handle must be a string");
        }

        if (out->handle_len == 0) {
            /* the reference's spelling, kept for its frontend */
            codes[n++] = "user_reciever_handle_blank";
        }
    }

    *ncodes = n;

    return n ? 422 : 0;
}


void
dm_api_post_free(dm_api_post_t *out)
{
    if (out->json != NULL) {
        json_decref(out->json);
        out->json = NULL;
    }
}
