/* Unit tests: the POST /api/messages body rules (dm_api). */

#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "dm_api.h"

#define G  "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"


static dm_api_post_t  post;
static const char    *codes[DM_API_CODES_MAX];
static size_t         ncodes;
static char           joined[256];


/* the status, with the codes joined by "," into joined */
static int
check(const char *body)
{
    int     rc;
    size_t  i;

    dm_api_post_free(&post);
    rc = dm_api_post_check(body, strlen(body), &post, codes, &ncodes);

    joined[0] = '\0';
    for (i = 0; i < ncodes; i++) {
        if (i) {
            strcat(joined, ",");
        }
        strcat(joined, codes[i]);
    }

    return rc;
}


static char *
message_of(size_t chars, const char *ch, const char *rest)
{
    size_t  i, n;
    char   *s;

    n = strlen(ch);
    s = malloc(64 + chars * n + strlen(rest));
    strcpy(s, "{\"message\":\"");
    for (i = 0; i < chars; i++) {
        strcat(s, ch);
    }
    strcat(s, "\"");
    strcat(s, rest);
    strcat(s, "}");

    return s;
}


int
main(void)
{
    char  *s;

    ok(check("{\"message\":\"hi\",\"message_group_uuid\":\"" G "\"}") == 0,
       "update: valid");
    ok(post.update == 1 && post.message_len == 2
       && memcmp(post.message, "hi", 2) == 0
       && post.message_group_uuid_len == 36, "update: the values");

    ok(check("{\"message\":\"hi\",\"handle\":\"bayko\"}") == 0,
       "create: valid");
    ok(post.update == 0 && post.handle_len == 5
       && memcmp(post.handle, "bayko", 5) == 0, "create: the values");

    ok(check("{\"message\":\"hi\",\"handle\":\"bayko\","
             "\"message_group_uuid\":null}") == 0 && post.update == 0,
       "a null message_group_uuid is create mode");

    /* 400s */
    dm_api_post_free(&post);
    ok(dm_api_post_check("", 0, &post, codes, &ncodes) == 400
       && strcmp(post.error, "body_required") == 0, "empty body");
    ok(check("{\"message\":") == 400
       && strcmp(post.error, "malformed_json") == 0, "malformed JSON");
    ok(check("{\"a\":1} x") == 400
       && strcmp(post.error, "malformed_json") == 0, "trailing garbage");
    ok(check("{\"message\":\"a\",\"message\":\"b\",\"handle\":\"x\"}") == 400
       && strcmp(post.error, "malformed_json") == 0, "duplicate member");
    ok(check("{\"message\":\"\\u0000\",\"handle\":\"x\"}") == 400
       && strcmp(post.error, "malformed_json") == 0, "NUL in a string");
    ok(check("{\"message\":\"\xff\",\"handle\":\"x\"}") == 400
       && strcmp(post.error, "malformed_json") == 0, "invalid UTF-8");
    ok(check("\"text\"") == 400 && strcmp(post.error, "malformed_json") == 0,
       "a bare string is malformed (as jansson decodes)");
    ok(check("[1,2]") == 400 && strcmp(post.error, "body_not_object") == 0,
       "an array is not an object");
    ok(check("{\"message\":5,\"handle\":\"x\"}") == 400
       && strcmp(post.error, "invalid_type") == 0
       && strcmp(post.detail, "message must be a string") == 0,
       "message of the wrong type");
    ok(check("{\"message\":\"hi\",\"handle\":[]}") == 400
       && strcmp(post.detail, "handle must be a string") == 0,
       "handle of the wrong type");
    ok(check("{\"message\":5,\"message_group_uuid\":7}") == 400
       && strcmp(post.detail, "message_group_uuid must be a string") == 0
       && post.update == 1,
       "message_group_uuid's type is checked first");
    ok(check("{\"message\":\"\",\"handle\":true}") == 400
       && strcmp(post.detail, "handle must be a string") == 0,
       "a wrong type is a 400 even with a blank message");

    /* 422s: every code, in order */
    ok(check("{}") == 422, "empty object");
    is_str(joined, "message_blank,user_reciever_handle_blank",
           "empty object: create mode's codes");
    ok(check("{\"message\":null,\"message_group_uuid\":\"\"}") == 422,
       "blank update");
    is_str(joined, "message_blank,message_group_uuid_blank",
           "blank update: both codes");
    ok(check("{\"message\":\"hi\",\"message_group_uuid\":\"" "5AE290ED-55D1-"
             "47A0-BC6D-FE2BC2700399\"}") == 422, "upper-case uuid");
    is_str(joined, "message_group_uuid_invalid", "upper-case uuid: invalid");
    ok(check("{\"message\":\"hi\",\"handle\":\"\"}") == 422, "blank handle");
    is_str(joined, "user_reciever_handle_blank", "blank handle: sic");

    s = message_of(1024, "\xc3\xa9", ",\"handle\":\"x\"");
    ok(check(s) == 0, "1024 two-byte characters (2048 bytes) are allowed");
    free(s);

    s = message_of(1025, "a", ",\"message_group_uuid\":\"nope\"");
    ok(check(s) == 422, "1025 characters");
    is_str(joined, "message_exceed_max_chars,message_group_uuid_invalid",
           "1025 characters: both codes");
    free(s);

    s = message_of(1024, "\xf0\x9f\x98\x80", ",\"handle\":\"x\"");
    ok(check(s) == 0, "1024 four-byte characters are allowed");
    free(s);

    s = message_of(1025, "\\u00e9", ",\"handle\":\"x\"");
    ok(check(s) == 422, "1025 escaped characters");
    is_str(joined, "message_exceed_max_chars", "counted after unescaping");
    free(s);

    ok(dm_utf8_chars("a\xc3\xa9\xf0\x9f\x98\x80", 7) == 3, "utf8 chars");

    dm_api_post_free(&post);
    dm_api_post_free(&post);
    ok(post.json == NULL, "free twice is harmless");

    return done_testing();
}
