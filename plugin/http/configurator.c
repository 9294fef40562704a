/* configurator.c: the http module's directives: CORS, the public origin, and the JSON 404 fallback for API paths. */
#include "config/table.h"
#include "http/client.h"
#include "http/http.h"

/* on_not_found: the last handler of an API path: preflight or a JSON 404, so unknown API URLs answer like known ones. */
static int on_not_found(h2o_handler_t *self, h2o_req_t *req)
{
    if (booka_http_answer_preflight(req))
        return 0;
    booka_http_send_error_message(req, 404, "Not Found", "Not Found");
    return 0;
}

static int on_config_not_found(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    ssize_t on = h2o_configurator_get_one_of(cmd, node, "OFF,ON");
    if (on == -1)
        return -1;
    if (on) {
        h2o_create_handler(ctx->pathconf, sizeof(h2o_handler_t))->on_req = on_not_found;
        booka_http_attach(ctx->pathconf);
    }
    return 0;
}

static int on_config_cors_origins(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    yoml_t **items = node->type == YOML_TYPE_SEQUENCE ? node->data.sequence.elements : &node;
    size_t n = node->type == YOML_TYPE_SEQUENCE ? node->data.sequence.size : 1;

    booka_http_settings.cors_origins.size = 0;
    booka_http_settings.cors_allow_any = 0;
    for (size_t i = 0; i != n; ++i) {
        if (items[i]->type != YOML_TYPE_SCALAR) {
            h2o_configurator_errprintf(cmd, items[i], "expected an origin such as https://example.com, or *");
            return -1;
        }
        if (strcmp(items[i]->data.scalar, "*") == 0) {
            booka_http_settings.cors_allow_any = 1;
            continue;
        }
        if (strncmp(items[i]->data.scalar, "http://", 7) != 0 && strncmp(items[i]->data.scalar, "https://", 8) != 0) {
            h2o_configurator_errprintf(cmd, items[i], "an origin starts with http:// or https:// (got `%s`)",
                                       items[i]->data.scalar);
            return -1;
        }
        h2o_vector_reserve(NULL, &booka_http_settings.cors_origins, booka_http_settings.cors_origins.size + 1);
        booka_http_settings.cors_origins.entries[booka_http_settings.cors_origins.size++] =
            h2o_strdup(NULL, items[i]->data.scalar, SIZE_MAX);
    }
    return 0;
}

/* on_config_cors_max_age: seconds, at most a day (browsers cap the preflight cache lower still). */
static int on_config_cors_max_age(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    static const booka_config_number_t rule = {BOOKA_CONFIG_KIND_DURATION, BOOKA_CONFIG_SECONDS, 0, 86400};
    uint64_t v;

    if (booka_config_scan_number(cmd, node, &rule, &v) != 0)
        return -1;
    booka_http_settings.cors_max_age = (unsigned)v;
    return 0;
}

static int on_config_public_origin(h2o_configurator_command_t *cmd, h2o_configurator_context_t *ctx, yoml_t *node)
{
    const char *v = node->data.scalar;
    size_t len = strlen(v);

    if (len != 0 && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
        h2o_configurator_errprintf(cmd, node, "expected an origin such as https://api.example.com");
        return -1;
    }
    while (len != 0 && v[len - 1] == '/')
        --len;
    booka_http_settings.public_origin = h2o_strdup(NULL, v, len);
    return 0;
}

void booka_http_register_configurator(h2o_globalconf_t *conf)
{
    h2o_configurator_t *c = h2o_configurator_create(conf, sizeof(*c));
    const int global_scalar = H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR;

    h2o_configurator_define_command(c, "booka.cors-origins",
                                    H2O_CONFIGURATOR_FLAG_GLOBAL | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR |
                                        H2O_CONFIGURATOR_FLAG_EXPECT_SEQUENCE,
                                    on_config_cors_origins);
    h2o_configurator_define_command(c, "booka.cors-max-age", global_scalar, on_config_cors_max_age);
    h2o_configurator_define_command(c, "booka.public-origin", global_scalar, on_config_public_origin);
    booka_client_register_configurator(conf);
    h2o_configurator_define_command(
        c, "booka.not-found", H2O_CONFIGURATOR_FLAG_PATH | H2O_CONFIGURATOR_FLAG_DEFERRED | H2O_CONFIGURATOR_FLAG_EXPECT_SCALAR,
        on_config_not_found);
}
