/*
 * Key builders and id/time helpers for the cruddur-messages table.
 *
 * Every id is validated before it is placed in a key: a builder returns 0
 * (and writes nothing usable) for anything but a canonical id.
 */

#ifndef DM_KEYS_H
#define DM_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define DM_UUID_LEN        36
#define DM_TIME_LEN        32      /* 2026-11-25T19:55:39.123456+00:00 */
#define DM_HANDLE_MAX      64
#define DM_KEY_MAX         128

#define DM_PK_GRP          "GRP#"
#define DM_PK_MSG          "MSG#"
#define DM_PK_GROUP_META   "GRPMETA#"
#define DM_PK_USER_SUB     "USER#SUB#"
#define DM_PK_USER_HANDLE  "USER#HANDLE#"
#define DM_PK_IDEMPOTENCY  "IDEM#"
#define DM_PK_RECEIPT      "RECEIPT#"

#define DM_SK_GROUP_META   "META"
#define DM_SK_USER         "USER"
#define DM_SK_IDEMPOTENCY  "IDEM"
#define DM_SK_RECEIPT      "RECEIPT"


/* canonical lower-case 8-4-4-4-12 hex uuid, nothing else */
int dm_uuid_valid(const char *s, size_t len);

/*
 * A random (version 4) uuid from the OpenSSL CSPRNG; out gets 37 bytes.
 * Returns 0, or -1 when the CSPRNG fails.
 */
int dm_uuid_v4(char *out);

/* 1..64 of [A-Za-z0-9_.-] */
int dm_handle_valid(const char *s, size_t len);

/*
 * Key builders: write "<prefix><id>" NUL-terminated into out and return its
 * length, or 0 when the id is invalid or out is too small.
 */
size_t dm_key_grp(char *out, size_t size, const char *user_uuid, size_t len);
size_t dm_key_msg(char *out, size_t size, const char *group_uuid, size_t len);
size_t dm_key_group_meta(char *out, size_t size, const char *group_uuid,
    size_t len);
size_t dm_key_user_sub(char *out, size_t size, const char *sub, size_t len);
/* handles are case-insensitive: the key holds the lower-cased handle */
size_t dm_key_user_handle(char *out, size_t size, const char *handle,
    size_t len);
/* IDEM#<user uuid>#<first 32 hex digits of SHA-256 of the client key> */
size_t dm_key_idempotency(char *out, size_t size, const char *user_uuid,
    size_t uuid_len, const char *client_key, size_t key_len);

/*
 * RECEIPT#<message uuid>: written with the message in its transaction, so
 * that a request whose earlier attempt may have been applied can tell
 */
size_t dm_key_receipt(char *out, size_t size, const char *message_uuid,
    size_t len);

/* microseconds since the epoch, wall clock */
int64_t dm_time_now_us(void);

/* "2026-11-25T19:55:39.123456+00:00"; out gets DM_TIME_LEN + 1 bytes */
size_t dm_time_format(int64_t us, char *out);

/*
 * Parses the reference's times: with "+00:00" / "Z" / any "+hh:mm" offset,
 * or without offset (taken as UTC); 0 to 6 fraction digits.
 * Returns 1 and the UTC microseconds, or 0 for anything else.
 */
int dm_time_parse(const char *s, size_t len, int64_t *us);

/*
 * The time for a new message: now, or one microsecond after the newest
 * known time of the conversation if the clock is not past it, so that keys
 * within a conversation never repeat and never go backwards.
 */
int64_t dm_time_next(int64_t now_us, int64_t last_us);

/*
 * Lower-case hex SHA-256; out gets 65 bytes and may overlap data (all of
 * data is read before out is written).  Returns 0, or -1 when OpenSSL
 * fails (out is then "", never a digest of nothing).
 */
int dm_sha256_hex(const void *data, size_t len, char *out);

#define DM_IDEMPOTENCY_KEY_MAX  255

/* an Idempotency-Key header value: 1..255 printable ASCII (0x20-0x7e) */
int dm_idempotency_key_valid(const char *s, size_t len);

#endif /* DM_KEYS_H */
