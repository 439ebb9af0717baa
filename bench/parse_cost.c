/*
 * What turning one DynamoDB page into the API's answer costs, outside
 * NGINX: bench/run.sh runs it on the pages it recorded, in the same run as
 * the load, to show how much of the module's CPU per request is the
 * answer's parse.
 *
 *   parse-cost FILE messages|conversations [ITERATIONS]
 *
 * Prints one line:
 *
 *   parse-cost bytes=N items=N yajl_us=X rewrite_us=Y
 *
 * yajl_us: yajl alone, every event ignored (the least any reader built on
 * yajl can cost); rewrite_us: dm_ddb_rewrite_items, as the module calls it
 * (with malloc where the module uses its request pool).  CPU time of this
 * thread, per page, the best of five rounds.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>
#include "dm_ddb.h"


/* the answers' fields, as the declared routes' answer blocks name them */
#define PC_FIELDS  5

static const dm_field_map_t  pc_message_fields[PC_FIELDS] = {
    { "message_uuid", "uuid" },
    { "user_display_name", "display_name" },
    { "user_handle", "handle" },
    { "message", "message" },
    { "sk", "created_at" },
};

static const dm_field_map_t  pc_conversation_fields[PC_FIELDS] = {
    { "message_group_uuid", "uuid" },
    { "user_display_name", "display_name" },
    { "user_handle", "handle" },
    { "message", "message" },
    { "sk", "created_at" },
};


static int
pc_null(void *ctx)
{
    return 1;
}


static int
pc_bool(void *ctx, int v)
{
    return 1;
}


static int
pc_text(void *ctx, const unsigned char *s, size_t len)
{
    return 1;
}


static int
pc_number(void *ctx, const char *s, size_t len)
{
    return 1;
}


static const yajl_callbacks  pc_callbacks = {
    pc_null, pc_bool, NULL, NULL, pc_number, pc_text,
    pc_null, pc_text, pc_null, pc_null, pc_null
};


static double
pc_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
pc_yajl(const unsigned char *body, size_t len)
{
    int          rc;
    yajl_handle  h;

    h = yajl_alloc(&pc_callbacks, NULL, NULL);
    if (h == NULL) {
        return -1;
    }

    rc = (yajl_parse(h, body, len) == yajl_status_ok
          && yajl_complete_parse(h) == yajl_status_ok) ? 0 : -1;

    yajl_free(h);

    return rc;
}


static int
pc_rewrite(const unsigned char *body, size_t len,
    const dm_field_map_t *map, int reverse, size_t *nitems)
{
    int              rc;
    dm_buf_t         out;
    dm_ddb_answer_t  answer;

    dm_buf_init_malloc(&out);

    rc = dm_ddb_rewrite_items(body, len, map, PC_FIELDS, reverse, &out,
                              &answer, NULL);
    *nitems = answer.nitems;

    dm_buf_free_malloc(&out);

    return rc;
}


int
main(int argc, char **argv)
{
    int                    reverse, round;
    long                   i, n;
    FILE                  *f;
    size_t                 len, nitems;
    double                 t, best_yajl, best_rewrite;
    unsigned char         *body;
    const dm_field_map_t  *map;

    if (argc < 3) {
        fprintf(stderr, "usage: parse-cost FILE messages|conversations "
                        "[ITERATIONS]\n");
        return 2;
    }

    if (strcmp(argv[2], "messages") == 0) {
        map = pc_message_fields;
        reverse = 1;            /* the API lists messages oldest first */

    } else if (strcmp(argv[2], "conversations") == 0) {
        map = pc_conversation_fields;
        reverse = 0;

    } else {
        fprintf(stderr, "parse-cost: unknown page \"%s\"\n", argv[2]);
        return 2;
    }

    n = argc > 3 ? atol(argv[3]) : 20000;
    if (n <= 0) {
        fprintf(stderr, "parse-cost: bad iteration count\n");
        return 2;
    }

    f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }

    body = malloc(1 << 20);
    if (body == NULL) {
        fclose(f);
        return 1;
    }

    len = fread(body, 1, 1 << 20, f);
    fclose(f);

    if (pc_yajl(body, len) != 0
        || pc_rewrite(body, len, map, reverse, &nitems) != 0)
    {
        fprintf(stderr, "parse-cost: %s is not a DynamoDB page\n", argv[1]);
        free(body);
        return 1;
    }

    best_yajl = best_rewrite = 1e30;

    for (round = 0; round < 5; round++) {
        t = pc_now_us();
        for (i = 0; i < n; i++) {
            (void) pc_yajl(body, len);
        }
        t = (pc_now_us() - t) / n;
        best_yajl = t < best_yajl ? t : best_yajl;

        t = pc_now_us();
        for (i = 0; i < n; i++) {
            (void) pc_rewrite(body, len, map, reverse, &nitems);
        }
        t = (pc_now_us() - t) / n;
        best_rewrite = t < best_rewrite ? t : best_rewrite;
    }

    printf("parse-cost bytes=%zu items=%zu yajl_us=%.2f rewrite_us=%.2f\n",
           len, nitems, best_yajl, best_rewrite);

    free(body);

    return 0;
}
