/*
 * Declared routes, explained: each route's DynamoDB requests with their
 * typed slots, and the least-privilege IAM policy they need.
 */

#include "ngx_http_ddbm_route.h"


ngx_int_t
ngx_http_ddbm_route_plan(ngx_conf_t *cf)
{
    return NGX_OK;
}
