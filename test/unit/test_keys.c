/* Unit tests: ids, keys and times of the shared core. */

#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "dm_keys.h"

#define U  "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"


int
main(void)
{
    char     out[DM_KEY_MAX], t[DM_TIME_LEN + 1], u[DM_UUID_LEN + 1];
    char     u2[DM_UUID_LEN + 1], big[256];
    int64_t  us, us2;
    size_t   n;

    ok(dm_uuid_valid(U, 36), "canonical uuid accepted");
    ok(!dm_uuid_valid("5AE290ED-55D1-47A0-BC6D-FE2BC2700399", 36),
       "upper-case uuid rejected");
    ok(!dm_uuid_valid(U "x", 37), "long uuid rejected");
    ok(!dm_uuid_valid("5ae290ed-55d1-47a0-bc6d-fe2bc270039", 35),
       "short uuid rejected");
    ok(!dm_uuid_valid("5ae290ed#55d1-47a0-bc6d-fe2bc2700399", 36),
       "'#' in uuid rejected");
    ok(!dm_uuid_valid("5ae290ed-55d1-47a0-bc6d-fe2bc270039\n", 36),
       "control character in uuid rejected");
    ok(!dm_uuid_valid("5ae290ed55d1-47a0-bc6d-fe2bc2700399-", 36),
       "misplaced dashes rejected");
    ok(!dm_uuid_valid(NULL, 0), "NULL rejected");

    n = dm_key_grp(out, sizeof(out), U, 36);
    is_str(out, "GRP#" U, "GRP# key");
    ok(n == 40, "GRP# key length");
    dm_key_msg(out, sizeof(out), U, 36);
    is_str(out, "MSG#" U, "MSG# key");
    dm_key_group_meta(out, sizeof(out), U, 36);
    is_str(out, "GRPMETA#" U, "group meta key");
    dm_key_receipt(out, sizeof(out), U, 36);
    is_str(out, "RECEIPT#" U, "receipt key");
    ok(dm_key_receipt(out, sizeof(out), U "#", 37) == 0,
       "'#' after a message uuid: no receipt key");
    dm_key_user_sub(out, sizeof(out), U, 36);
    is_str(out, "USER#SUB#" U, "user-by-sub key");
    dm_key_user_handle(out, sizeof(out), "AndrewBrown", 11);
    is_str(out, "USER#HANDLE#andrewbrown", "handle key is lower-cased");

    ok(dm_key_grp(out, sizeof(out), "GRP#x", 5) == 0, "bad id: no GRP# key");
    ok(dm_key_msg(out, sizeof(out), U "#MSG#", 41) == 0,
       "'#' smuggled after a uuid: no key");
    ok(dm_key_user_handle(out, sizeof(out), "a#b", 3) == 0,
       "'#' in handle: no key");
    ok(dm_key_user_handle(out, sizeof(out), "a\tb", 3) == 0,
       "control character in handle: no key");
    ok(dm_key_user_handle(out, sizeof(out), "", 0) == 0, "empty handle");
    ok(dm_key_grp(out, 10, U, 36) == 0, "too small a buffer: no key");
    ok(dm_handle_valid("a.b-c_d9", 8), "handle characters");

    n = dm_key_idempotency(out, sizeof(out), U, 36, "retry-1", 7);
    ok(n == 5 + 36 + 1 + 32, "idempotency key length");
    ok(strncmp(out, "IDEM#" U "#", 42) == 0, "idempotency key prefix");
    ok(dm_key_idempotency(out, sizeof(out), U, 36, "", 0) == 0,
       "empty client key: no idempotency key");

    ok(dm_uuid_v4(u) == 0 && dm_uuid_valid(u, 36), "v4 uuid is canonical");
    ok(u[14] == '4' && strchr("89ab", u[19]) != NULL,
       "v4 uuid version and variant");
    dm_uuid_v4(u2);
    ok(strcmp(u, u2) != 0, "two v4 uuids differ");

    dm_time_format(0, t);
    is_str(t, "1970-01-01T00:00:00.000000+00:00", "epoch");
    dm_time_format(1795636539123456LL, t);
    is_str(t, "2026-11-25T19:55:39.123456+00:00", "time format");

    ok(dm_time_parse(t, 32, &us) && us == 1795636539123456LL,
       "parse with +00:00");
    ok(dm_time_parse("2026-11-25T19:55:39.123456", 26, &us)
       && us == 1795636539123456LL, "parse without offset (UTC)");
    ok(dm_time_parse("2026-11-25T20:55:39.123456+01:00", 32, &us)
       && us == 1795636539123456LL, "parse with another offset");
    ok(dm_time_parse("2026-11-25T19:55:39Z", 20, &us)
       && us == 1795636539000000LL, "parse Z without fraction");
    ok(dm_time_parse("2024-02-29T00:00:00.5+00:00", 27, &us)
       && us % 1000000 == 500000, "short fraction, leap day");
    ok(!dm_time_parse("2026-13-01T00:00:00+00:00", 25, &us), "month 13");
    ok(!dm_time_parse("2026-11-25T19:55:39.1234567", 27, &us),
       "seven fraction digits");
    ok(!dm_time_parse("2026-11-25T19:55:39.123456+00:00x", 33, &us),
       "trailing garbage");
    ok(!dm_time_parse("2026-11-25", 10, &us), "date only");

    us = dm_time_now_us();
    dm_time_format(us, t);
    ok(dm_time_parse(t, 32, &us2) && us2 == us, "now round-trips");

    ok(dm_time_next(100, 50) == 100, "clock ahead: now");
    ok(dm_time_next(100, 100) == 101, "same microsecond: moved on");
    ok(dm_time_next(100, 200) == 201, "clock behind: after the last");

    ok(dm_sha256_hex("abc", 3, out) == 0, "sha256 succeeds");
    is_str(out,
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 hex");

    memcpy(big, "abc", 3);
    ok(dm_sha256_hex(big, 3, big) == 0
       && strcmp(big, "ba7816bf8f01cfea414140de5dae2223"
                      "b00361a396177a9cb410ff61f20015ad") == 0,
       "sha256 hex in place");

    ok(dm_idempotency_key_valid("3f0c1d7e", 8), "idempotency key");
    ok(dm_idempotency_key_valid(" ~", 2), "space and tilde are printable");
    ok(!dm_idempotency_key_valid("", 0), "empty idempotency key");
    ok(!dm_idempotency_key_valid(NULL, 0), "no idempotency key");
    ok(!dm_idempotency_key_valid("a\tb", 3), "tab in idempotency key");
    ok(!dm_idempotency_key_valid("a\x7f", 2), "DEL in idempotency key");
    ok(!dm_idempotency_key_valid("\xc3\xa9", 2), "UTF-8 in idempotency key");
    memset(big, 'k', sizeof(big));
    ok(dm_idempotency_key_valid(big, 255), "255 characters");
    ok(!dm_idempotency_key_valid(big, 256), "256 characters");

    return done_testing();
}
