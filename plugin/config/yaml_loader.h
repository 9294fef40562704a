/* yaml_loader.h: reads h2o.conf-style YAML (libyaml) into the yoml node tree libh2o's configurator walks. */
#ifndef BOOKA_YAML_LOADER_H
#define BOOKA_YAML_LOADER_H

#include <stddef.h>
#include "yoml.h"

/*
 * Every node's `filename` holds "FILE:LINE:COLUMN" (one-based), because libh2o prints only node->filename and
 * the line when it reports a config error; booka_config_error_rewrite() turns its "[FILE:L:C:L] msg" lines
 * into "FILE:L:C: msg". booka_yaml_node_file() recovers FILE.
 *
 * Supported YAML: one document of scalars, sequences, mappings, anchors and aliases (shared, not copied), and
 * H2O's `!file PATH` tag, which splices in another YAML file (PATH relative to the including file).
 */

/* booka_yaml_load_file: parses `path`. On error, NULL is returned and `err` holds "FILE:LINE:COLUMN: what". */
yoml_t *booka_yaml_load_file(const char *path, char *err, size_t err_size);

/* booka_yaml_load_string: parses `len` bytes of `text`, reported as `name`; `!file` paths resolve from the cwd. */
yoml_t *booka_yaml_load_string(const char *name, const char *text, size_t len, char *err, size_t err_size);

/* booka_yaml_node_file: copies the FILE part of node->filename into buf (empty when unknown); returns buf. */
const char *booka_yaml_node_file(const yoml_t *node, char *buf, size_t size);

/* booka_yaml_resolve_path: `path` made relative to the directory of the file `node` was read from (absolute paths kept).
 * Returns a malloc'd string, or NULL on allocation failure. */
char *booka_yaml_resolve_path(const yoml_t *node, const char *path);

/* booka_yaml_rewrite_error_line: turns libh2o's "[FILE:L:C:L] msg" into "FILE:L:C: msg" in `out`; returns 0 (out
 * untouched) when `line` is not in that form. */
int booka_yaml_rewrite_error_line(const char *line, char *out, size_t size);

#endif
