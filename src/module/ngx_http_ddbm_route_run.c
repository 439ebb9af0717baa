/*
 * Declared routes, the engine: a compiled plan (ngx_http_ddbm_route.h)
 * run as DynamoDB calls through the request loop of
 * ngx_http_ddbm_request.c, as a pattern whose start and resume steps are
 * the same for every route.
 */

#include "ngx_http_ddbm_route.h"


ngx_int_t
ngx_http_ddbm_route_start(ngx_http_ddbm_ctx_t *ctx)
{
    return NGX_ERROR;
}


ngx_int_t
ngx_http_ddbm_route_resume(ngx_http_ddbm_ctx_t *ctx)
{
    return NGX_ERROR;
}
