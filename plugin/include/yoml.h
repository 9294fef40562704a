/* yoml.h: the YAML node type that libh2o 2.2.5's configurator was compiled against (Debian ships no header for it). */
#ifndef yoml_h
#define yoml_h

/*
 * h2o/configurator.h includes "yoml.h" but Debian's libh2o-dev does not install it. libh2o's compiled code
 * reads, reallocs (h2o_mem_realloc) and frees (free) these nodes, so this declaration must match the
 * layout of H2O 2.2.5 field for field: type, filename, line, column, anchor, tag, _refcnt, then the
 * payload union whose sequence/mapping forms end in a flexible array. Nodes are allocated with malloc by
 * plugin/config/yaml_loader.c and released with yoml_free below.
 *
 * `line` and `column` are zero-based, as libh2o expects (its error printer adds one to `line`).
 */

#include <stdlib.h>
#include <string.h>

typedef enum enum_yoml_type_t { YOML_TYPE_SCALAR, YOML_TYPE_SEQUENCE, YOML_TYPE_MAPPING, YOML__TYPE_UNRESOLVED_ALIAS } yoml_type_t;

typedef struct st_yoml_t yoml_t;

typedef struct st_yoml_sequence_t {
    size_t size;
    yoml_t *elements[1];
} yoml_sequence_t;

typedef struct st_yoml_mapping_element_t {
    yoml_t *key;
    yoml_t *value;
} yoml_mapping_element_t;

typedef struct st_yoml_mapping_t {
    size_t size;
    yoml_mapping_element_t elements[1];
} yoml_mapping_t;

struct st_yoml_t {
    yoml_type_t type;
    char *filename;
    size_t line;
    size_t column;
    char *anchor;
    char *tag;
    size_t _refcnt;
    union {
        char *scalar;
        yoml_sequence_t sequence;
        yoml_mapping_t mapping;
        char *alias;
    } data;
};

/* yoml_free: drops one reference to `node`; the last one frees it and its children. `wipe`, when given, clears scalars first. */
static inline void yoml_free(yoml_t *node, void *(*wipe)(void *, int, size_t))
{
    size_t i;

    if (node == NULL || --node->_refcnt != 0)
        return;
    switch (node->type) {
    case YOML_TYPE_SCALAR:
        if (wipe != NULL)
            wipe(node->data.scalar, 0, strlen(node->data.scalar));
        free(node->data.scalar);
        break;
    case YOML_TYPE_SEQUENCE:
        for (i = 0; i != node->data.sequence.size; ++i)
            yoml_free(node->data.sequence.elements[i], wipe);
        break;
    case YOML_TYPE_MAPPING:
        for (i = 0; i != node->data.mapping.size; ++i) {
            yoml_free(node->data.mapping.elements[i].key, wipe);
            yoml_free(node->data.mapping.elements[i].value, wipe);
        }
        break;
    case YOML__TYPE_UNRESOLVED_ALIAS:
        free(node->data.alias);
        break;
    }
    free(node->filename);
    free(node->anchor);
    free(node->tag);
    free(node);
}

/* yoml_get: the value stored under the scalar key `name` of a mapping, or NULL (also when `node` is not a mapping). */
static inline yoml_t *yoml_get(yoml_t *node, const char *name)
{
    size_t i;

    if (node->type != YOML_TYPE_MAPPING)
        return NULL;
    for (i = 0; i != node->data.mapping.size; ++i) {
        yoml_t *key = node->data.mapping.elements[i].key;
        if (key->type == YOML_TYPE_SCALAR && strcmp(key->data.scalar, name) == 0)
            return node->data.mapping.elements[i].value;
    }
    return NULL;
}

#endif
