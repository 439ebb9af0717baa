/* Minimal TAP producer for the core's unit tests (run by prove). */

#ifndef DM_TAP_H
#define DM_TAP_H

#include <stdio.h>
#include <string.h>

static int  tap_n;
static int  tap_failed;

#define ok(cond, ...)                                                       \
    do {                                                                    \
        int tap_c_ = (cond) ? 1 : 0;                                        \
        tap_n++;                                                            \
        if (!tap_c_) {                                                      \
            tap_failed++;                                                   \
        }                                                                   \
        printf("%sok %d - ", tap_c_ ? "" : "not ", tap_n);                  \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
        if (!tap_c_) {                                                      \
            printf("#   failed at %s:%d\n", __FILE__, __LINE__);            \
        }                                                                   \
    } while (0)

#define is_str(got, want, ...)                                              \
    do {                                                                    \
        const char *g_ = (got), *w_ = (want);                               \
        int is_c_ = (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);      \
        ok(is_c_, __VA_ARGS__);                                             \
        if (!is_c_) {                                                       \
            printf("#   got:  '%s'\n#   want: '%s'\n",                      \
                   g_ ? g_ : "(null)", w_ ? w_ : "(null)");                 \
        }                                                                   \
    } while (0)

#define diag(...)                                                           \
    do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

static int
done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* DM_TAP_H */
