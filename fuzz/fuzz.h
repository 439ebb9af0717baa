/*
 * What every harness defines: libFuzzer's entry point, and an optional
 * one-time set-up.  Built either with libFuzzer (make fuzz) or with
 * replay.c's main (make fuzz-replay, part of make test).
 */

#ifndef DM_FUZZ_H
#define DM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* a broken invariant: crash loudly so libFuzzer keeps the input */
#define fuzz_assert(cond)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: fuzz_assert(%s) failed\n",              \
                    __FILE__, __LINE__, #cond);                             \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif /* DM_FUZZ_H */
