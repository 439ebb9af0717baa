/*
 * Declared routes, the compiler: ddbm_type, ddbm_schema {} and
 * ddbm_route {} read by NGINX's own parser and compiled into a plan
 * (ngx_http_ddbm_route.h).  Every mistake is refused here, so nginx -t
 * refuses it with the file, the line and the reason.
 */

#include "ngx_http_ddbm_route.h"


char *
ngx_http_ddbm_type_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not built yet";
}


char *
ngx_http_ddbm_schema_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return "is not built yet";
}


char *
ngx_http_ddbm_route_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not built yet";
}


ngx_array_t *
ngx_http_ddbm_routes(ngx_conf_t *cf)
{
    ngx_http_ddbm_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ddbm_module);

    return dmcf->routes;
}
