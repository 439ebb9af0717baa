/*
 * The claims behind a valid signature: "<header JSON>\n<payload JSON>",
 * signed with the fixed key of fuzz_jwt.c and verified.
 */

#define FUZZ_JWT_CLAIMS  1

#include "fuzz_jwt.c"
