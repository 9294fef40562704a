/* handler_test.c: the handler's life in event loops: one interpreter per loop shared by its handlers, created on the
 * first handler's context init and closed with the last one's dispose (the sanitizer build checks nothing leaks). */
#include <mruby.h>
#include "mruby/internal.h"
#include "unit.h"

/* add_handler: an mruby handler running `source` on a new path `path` of `host`. */
static h2o_handler_t *add_handler(h2o_hostconf_t *host, const char *path, const char *source)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, path, 0);
    size_t filters = pathconf->filters.size;
    struct booka_mruby_code code = {h2o_strdup(NULL, source, SIZE_MAX).base, strlen(source),
                                    h2o_strdup(NULL, "t.rb", SIZE_MAX).base, 1, 1};

    booka_mruby_register_handler(pathconf, &code);
    CHECK(code.source == NULL && code.name == NULL); /* the handler owns it now */
    CHECK_INT_EQ(pathconf->handlers.size, 1);
    CHECK_INT_EQ(pathconf->filters.size, filters + 1); /* the shared response headers (booka_http_attach) */
    return pathconf->handlers.entries[0];
}

static void test_contexts_share_and_release_interpreters(void)
{
    h2o_globalconf_t conf;
    h2o_hostconf_t *host;
    h2o_handler_t *a, *b, *broken;
    h2o_context_t loops[2];

    h2o_config_init(&conf);
    host = h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    a = add_handler(host, "/a", "Proc.new { |env| [200, {}, ['a']] }");
    b = add_handler(host, "/b", "class B\n  def call(env)\n    [200, {}, ['b']]\n  end\nend\nB.new\n");
    /* compiles once per interpreter only: in a loop's shared interpreter the second handler's copy raises */
    add_handler(host, "/c", "raise 'loaded twice' if $loaded_once\n$loaded_once = true\nproc { |env| [200, {}, []] }\n");
    broken = add_handler(host, "/d", "raise 'loaded twice' if $loaded_once\n$loaded_once = true\nproc { |env| [200, {}, []] }\n");

    for (int i = 0; i != 2; ++i) {
        memset(&loops[i], 0, sizeof(loops[i]));
        loops[i]._module_configs = h2o_mem_alloc(sizeof(void *) * conf._num_config_slots);
        memset(loops[i]._module_configs, 0, sizeof(void *) * conf._num_config_slots);
        for (size_t p = 0; p != host->paths.size; ++p) {
            h2o_handler_t *h = host->paths.entries[p].handlers.entries[0];
            h->on_context_init(h, &loops[i]);
            CHECK(h2o_context_get_handler_context(&loops[i], h) != NULL);
        }
    }
    CHECK(h2o_context_get_handler_context(&loops[0], a) != h2o_context_get_handler_context(&loops[1], a));
    /* dispose in an order unlike the init order: each loop's interpreter goes with its last handler */
    a->on_context_dispose(a, &loops[0]);
    b->on_context_dispose(b, &loops[1]);
    broken->on_context_dispose(broken, &loops[1]);
    for (int i = 0; i != 2; ++i) {
        for (size_t p = 0; p != host->paths.size; ++p) {
            h2o_handler_t *h = host->paths.entries[p].handlers.entries[0];
            if (!((i == 0 && h == a) || (i == 1 && (h == b || h == broken))))
                h->on_context_dispose(h, &loops[i]);
        }
        free(loops[i]._module_configs);
    }
    h2o_config_dispose(&conf);
}

int main(void)
{
    test_contexts_share_and_release_interpreters();
    return unit_report("mruby_handler");
}
