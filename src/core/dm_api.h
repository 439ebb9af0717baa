/*
 * The API's own input rules, free of NGINX types so that the module, the
 * unit tests and the fuzzers share them: the body of POST /api/messages.
 */

#ifndef DM_API_H
#define DM_API_H

#include <stddef.h>
#include <jansson.h>


#define DM_API_MESSAGE_MAX  1024    /* characters, not bytes */
#define DM_API_CODES_MAX    4       /* room the caller gives codes */


typedef struct {
    /* 1: "message_group_uuid" present and not null (a message in an
     * existing conversation); 0: a new conversation with "handle" */
    int             update;

    /* on success, point into json (valid until dm_api_post_free) */
    const char     *message;
    size_t          message_len;
    const char     *message_group_uuid;     /* update mode */
    size_t          message_group_uuid_len;
    const char     *handle;                 /* create mode */
    size_t          handle_len;

    /* a 400: the error code and a sentence for the client */
    const char     *error;
    const char     *detail;
    size_t          error_position;         /* malformed_json: byte */

    json_t         *json;
} dm_api_post_t;


/*
 * Checks a POST /api/messages body: {"message", "message_group_uuid"} or
 * {"message", "handle"}.  codes must hold DM_API_CODES_MAX entries.
 * Returns
 *   0    valid: out's strings are set;
 *   400  out->error is "body_required", "malformed_json",
 *        "body_not_object" or "invalid_type" (out->detail names the
 *        member: "message must be a string");
 *   422  codes[0 .. *ncodes) are every failing rule, in this order:
 *        message_blank or message_exceed_max_chars, then
 *        message_group_uuid_blank or message_group_uuid_invalid (update
 *        mode), or user_reciever_handle_blank (create mode; sic);
 *   -1   out of memory.
 * Always call dm_api_post_free(out) afterwards.
 */
int dm_api_post_check(const char *body, size_t len, dm_api_post_t *out,
    const char **codes, size_t *ncodes);

void dm_api_post_free(dm_api_post_t *out);

/* characters of valid UTF-8 (as jansson hands out) */
size_t dm_utf8_chars(const char *s, size_t len);

#endif /* DM_API_H */
