/*
 * A small RFC 4180 CSV reader: what psql's "\copy ... to 'x.csv' csv header"
 * writes (fields quoted when they hold a comma, a quote or a line break,
 * quotes doubled), plus CRLF line ends and a leading UTF-8 byte order mark
 * from spreadsheet tools.
 */

#include <stdlib.h>
#include <string.h>

#include "ddbm.h"


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    size_t  *off;
    size_t  *flen;
    size_t   n;
    size_t   ncap;
    int      failed;
} ddbm_csv_acc_t;


static void
ddbm_csv_putc(ddbm_csv_acc_t *acc, char ch)
{
    char    *p;
    size_t   cap;

    if (acc->failed) {
        return;
    }

    if (acc->len == acc->cap) {
        cap = acc->cap ? acc->cap * 2 : 256;
        p = realloc(acc->data, cap);
        if (p == NULL) {
            acc->failed = 1;
            return;
        }

        acc->data = p;
        acc->cap = cap;
    }

    acc->data[acc->len++] = ch;
}


static void
ddbm_csv_field_start(ddbm_csv_acc_t *acc)
{
    size_t  *off, *flen, ncap;

    if (acc->failed) {
        return;
    }

    if (acc->n == acc->ncap) {
        ncap = acc->ncap ? acc->ncap * 2 : 8;

        off = realloc(acc->off, ncap * sizeof(size_t));
        if (off == NULL) {
            acc->failed = 1;
            return;
        }

        acc->off = off;

        flen = realloc(acc->flen, ncap * sizeof(size_t));
        if (flen == NULL) {
            acc->failed = 1;
            return;
        }

        acc->flen = flen;
        acc->ncap = ncap;
    }

    acc->off[acc->n] = acc->len;
    acc->flen[acc->n] = 0;
    acc->n++;
}


static void
ddbm_csv_field_end(ddbm_csv_acc_t *acc)
{
    if (acc->failed) {
        return;
    }

    acc->flen[acc->n - 1] = acc->len - acc->off[acc->n - 1];

    /* each field is NUL-terminated for the callers' convenience */
    ddbm_csv_putc(acc, '\0');
}


void
ddbm_csv_init(ddbm_csv_t *csv, const char *data, size_t len)
{
    csv->p = data;
    csv->end = data + len;
    csv->line = 1;
    csv->error = NULL;

    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        csv->p += 3;
    }
}


/* after a malformed record: resume at the next line */
static void
ddbm_csv_skip_line(ddbm_csv_t *csv)
{
    while (csv->p < csv->end) {
        if (*csv->p++ == '\n') {
            csv->line++;
            return;
        }
    }
}


static int
ddbm_csv_fail(ddbm_csv_t *csv, ddbm_csv_acc_t *acc, const char *why)
{
    free(acc->data);
    free(acc->off);
    free(acc->flen);

    csv->error = why;

    return -1;
}


int
ddbm_csv_next(ddbm_csv_t *csv, ddbm_csv_record_t *rec)
{
    size_t           i;
    const char      *p, *end;
    ddbm_csv_acc_t   acc;

    memset(rec, 0, sizeof(*rec));
    memset(&acc, 0, sizeof(acc));

    if (csv->p >= csv->end) {
        return 0;
    }

    rec->line = csv->line;
    end = csv->end;

    for ( ;; ) {
        ddbm_csv_field_start(&acc);
        p = csv->p;

        if (p < end && *p == '"') {
            p++;

            for ( ;; ) {
                if (p == end) {
                    csv->p = p;
                    return ddbm_csv_fail(csv, &acc,
                                         "unterminated quoted field");
                }

                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        ddbm_csv_putc(&acc, '"');
                        p += 2;
                        continue;
                    }

                    p++;
                    break;
                }

                if (*p == '\n') {
                    csv->line++;
                }

                ddbm_csv_putc(&acc, *p++);
            }

            if (p < end && *p == '\r' && p + 1 < end && p[1] == '\n') {
                p++;
            }

            if (p < end && *p != ',' && *p != '\n') {
                csv->p = p;
                ddbm_csv_skip_line(csv);
                return ddbm_csv_fail(csv, &acc, "a character follows a "
                                     "closing quote (quotes inside a "
                                     "quoted field must be doubled)");
            }

        } else {
            while (p < end && *p != ',' && *p != '\n') {
                /* CRLF: the CR belongs to the line end */
                if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
                    p++;
                    continue;
                }

                ddbm_csv_putc(&acc, *p++);
            }
        }

        ddbm_csv_field_end(&acc);

        if (p < end && *p == ',') {
            csv->p = p + 1;
            continue;
        }

        if (p < end && *p == '\n') {
            p++;
            csv->line++;
        }

        csv->p = p;
        break;
    }

    if (acc.failed) {
        return ddbm_csv_fail(csv, &acc, "out of memory");
    }

    rec->field = malloc(acc.n * sizeof(char *));
    if (rec->field == NULL) {
        return ddbm_csv_fail(csv, &acc, "out of memory");
    }

    for (i = 0; i < acc.n; i++) {
        rec->field[i] = acc.data + acc.off[i];
    }

    rec->len = acc.flen;
    rec->n = acc.n;
    rec->data = acc.data;
    free(acc.off);

    return 1;
}


void
ddbm_csv_record_free(ddbm_csv_record_t *rec)
{
    free(rec->field);
    free(rec->len);
    free(rec->data);

    memset(rec, 0, sizeof(*rec));
}
