/*
 * Key builders and id/time helpers; see dm_keys.h.
 */

#include <string.h>
#include <stdio.h>
#include <time.h>
#include <sys/time.h>
#include <openssl/rand.h>
#include "dm_keys.h"
#include "dm_sigv4.h"


static const char  dm_hex[] = "0123456789abcdef";


int
dm_uuid_valid(const char *s, size_t len)
{
    size_t          i, k;
    unsigned char   c;

    /* 8-4-4-4-12 lower-case hex digits */
    static const unsigned char  group[] = { 8, 4, 4, 4, 12 };

    if (s == NULL || len != DM_UUID_LEN) {
        return 0;
    }

    for (k = 0; k < sizeof(group); k++) {
        if (k && *s++ != '-') {
            return 0;
        }

        for (i = 0; i < group[k]; i++) {
            c = (unsigned char) *s++;

            if ((unsigned) (c - '0') > 9 && (unsigned) (c - 'a') > 5) {
                return 0;
            }
        }
    }

    return 1;
}


int
dm_uuid_v4(char *out)
{
    unsigned char  r[16];
    size_t         i, o;

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return -1;
    }

    r[6] = (r[6] & 0x0f) | 0x40;    /* version 4 */
    r[8] = (r[8] & 0x3f) | 0x80;    /* RFC 4122 variant */

    for (i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = dm_hex[r[i] >> 4];
        out[o++] = dm_hex[r[i] & 0xf];
    }

    out[o] = '\0';

    return 0;
}


int
dm_handle_valid(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > DM_HANDLE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == '.' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static size_t
dm_key_join(char *out, size_t size, const char *prefix, const char *id,
    size_t len)
{
    size_t  plen;

    plen = strlen(prefix);

    if (plen + len + 1 > size) {
        return 0;
    }

    memcpy(out, prefix, plen);
    memcpy(out + plen, id, len);
    out[plen + len] = '\0';

    return plen + len;
}


/* "<prefix><uuid>", for a canonical uuid only */
static size_t
dm_key_uuid(char *out, size_t size, const char *prefix, const char *uuid,
    size_t len)
{
    if (!dm_uuid_valid(uuid, len)) {
        return 0;
    }

    return dm_key_join(out, size, prefix, uuid, len);
}


size_t
dm_key_grp(char *out, size_t size, const char *user_uuid, size_t len)
{
    return dm_key_uuid(out, size, DM_PK_GRP, user_uuid, len);
}


size_t
dm_key_msg(char *out, size_t size, const char *group_uuid, size_t len)
{
    return dm_key_uuid(out, size, DM_PK_MSG, group_uuid, len);
}


size_t
dm_key_group_meta(char *out, size_t size, const char *group_uuid,
    size_t len)
{
    return dm_key_uuid(out, size, DM_PK_GROUP_META, group_uuid, len);
}


size_t
dm_key_receipt(char *out, size_t size, const char *message_uuid, size_t len)
{
    return dm_key_uuid(out, size, DM_PK_RECEIPT, message_uuid, len);
}


size_t
dm_key_user_sub(char *out, size_t size, const char *sub, size_t len)
{
    return dm_key_uuid(out, size, DM_PK_USER_SUB, sub, len);
}


size_t
dm_key_user_handle(char *out, size_t size, const char *handle, size_t len)
{
    size_t  n, plen, i;

    if (!dm_handle_valid(handle, len)) {
        return 0;
    }

    n = dm_key_join(out, size, DM_PK_USER_HANDLE, handle, len);
    if (n == 0) {
        return 0;
    }

    plen = sizeof(DM_PK_USER_HANDLE) - 1;

    for (i = plen; i < n; i++) {
        if (out[i] >= 'A' && out[i] <= 'Z') {
            out[i] = (char) (out[i] - 'A' + 'a');
        }
    }

    return n;
}


size_t
dm_key_idempotency(char *out, size_t size, const char *user_uuid,
    size_t uuid_len, const char *client_key, size_t key_len)
{
    char    digest[65];
    size_t  plen;

    if (!dm_uuid_valid(user_uuid, uuid_len) || key_len == 0) {
        return 0;
    }

    plen = sizeof(DM_PK_IDEMPOTENCY) - 1;

    if (plen + uuid_len + 1 + 32 + 1 > size) {
        return 0;
    }

    if (dm_sha256_hex(client_key, key_len, digest) != 0) {
        return 0;
    }

    memcpy(out, DM_PK_IDEMPOTENCY, plen);
    memcpy(out + plen, user_uuid, uuid_len);
    out[plen + uuid_len] = '#';
    memcpy(out + plen + uuid_len + 1, digest, 32);
    out[plen + uuid_len + 1 + 32] = '\0';

    return plen + uuid_len + 1 + 32;
}


int64_t
dm_time_now_us(void)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);

    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}


static void
dm_put_digits(char *p, int n, long v)
{
    while (n--) {
        p[n] = (char) ('0' + v % 10);
        v /= 10;
    }
}


size_t
dm_time_format(int64_t us, char *out)
{
    time_t     sec;
    struct tm  tm;
    long       frac;

    sec = (time_t) (us / 1000000);
    frac = (long) (us % 1000000);

    if (frac < 0) {
        frac += 1000000;
        sec--;
    }

    gmtime_r(&sec, &tm);

    dm_put_digits(out, 4, tm.tm_year + 1900);
    out[4] = '-';
    dm_put_digits(out + 5, 2, tm.tm_mon + 1);
    out[7] = '-';
    dm_put_digits(out + 8, 2, tm.tm_mday);
    out[10] = 'T';
    dm_put_digits(out + 11, 2, tm.tm_hour);
    out[13] = ':';
    dm_put_digits(out + 14, 2, tm.tm_min);
    out[16] = ':';
    dm_put_digits(out + 17, 2, tm.tm_sec);
    out[19] = '.';
    dm_put_digits(out + 20, 6, frac);
    memcpy(out + 26, "+00:00", sizeof("+00:00"));

    return DM_TIME_LEN;
}


static int
dm_digits(const char *s, size_t n, int *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        *v = *v * 10 + (s[i] - '0');
    }

    return 1;
}


/* days since 1970-01-01 of a proleptic Gregorian date (civil_from_days) */
static int64_t
dm_days_from_civil(int y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


int
dm_time_parse(const char *s, size_t len, int64_t *us)
{
    static const int  mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };
    int               y, mo, d, h, mi, sec, oh, om, sign;
    size_t            i, nfrac;
    int64_t           frac, t;

    /* YYYY-MM-DDTHH:MM:SS */
    if (len < 19
        || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ')
        || s[13] != ':' || s[16] != ':'
        || !dm_digits(s, 4, &y) || !dm_digits(s + 5, 2, &mo)
        || !dm_digits(s + 8, 2, &d) || !dm_digits(s + 11, 2, &h)
        || !dm_digits(s + 14, 2, &mi) || !dm_digits(s + 17, 2, &sec))
    {
        return 0;
    }

    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23
        || mi > 59 || sec > 60)
    {
        return 0;
    }

    i = 19;
    frac = 0;
    nfrac = 0;

    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (++nfrac > 6) {
                return 0;
            }
            frac = frac * 10 + (s[i] - '0');
        }

        if (nfrac == 0) {
            return 0;
        }

        for ( /* void */ ; nfrac < 6; nfrac++) {
            frac *= 10;
        }
    }

    oh = 0;
    om = 0;
    sign = 1;

    if (i < len) {
        if (s[i] == 'Z' && i + 1 == len) {
            i++;

        } else if ((s[i] == '+' || s[i] == '-') && len - i == 6
                   && s[i + 3] == ':'
                   && dm_digits(s + i + 1, 2, &oh)
                   && dm_digits(s + i + 4, 2, &om)
                   && oh <= 23 && om <= 59)
        {
            sign = (s[i] == '-') ? -1 : 1;
            i = len;

        } else {
            return 0;
        }
    }

    t = dm_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= sign * (oh * 3600 + om * 60);

    *us = t * 1000000 + frac;

    return 1;
}


int64_t
dm_time_next(int64_t now_us, int64_t last_us)
{
    return now_us > last_us ? now_us : last_us + 1;
}


int
dm_sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char  md[32];
    unsigned int   i;

    if (dm_sha256(data, len, md) != 0) {
        /* uninitialised md must never become a key or a request hash */
        out[0] = '\0';
        return -1;
    }

    for (i = 0; i < 32; i++) {
        out[2 * i] = dm_hex[md[i] >> 4];
        out[2 * i + 1] = dm_hex[md[i] & 0xf];
    }

    out[64] = '\0';

    return 0;
}


int
dm_idempotency_key_valid(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > DM_IDEMPOTENCY_KEY_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}
