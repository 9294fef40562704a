/* yaml_loader.c: libyaml event stream -> yoml tree, with positions, anchors/aliases and `!file` includes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "config/yaml_loader.h"

#define MAX_DEPTH 64        /* nesting deeper than any sane config; keeps the recursive builder's stack bounded */
#define MAX_INCLUDE_DEPTH 8 /* `!file` chains */
#define MAX_ALIASES 10000   /* aliases share nodes, but libh2o walks them once per use */
#define MAX_FILE_BYTES (8 << 20)

struct anchor {
    char *name;
    yoml_t *node;
};

struct loader {
    yaml_parser_t parser;
    const char *name; /* file name as reported in positions */
    const char *dir;  /* directory `!file` paths are relative to, or NULL for the cwd */
    struct anchor *anchors;
    size_t num_anchors, cap_anchors, num_aliases;
    int include_depth;
    char *err;
    size_t err_size;
    int failed;
};

static yoml_t *load_text(const char *name, const char *dir, const char *text, size_t len, int include_depth, char *err,
                         size_t err_size);

/* fail: records the first error at `mark` (later ones are consequences); always returns NULL. */
static yoml_t *fail(struct loader *l, const yaml_mark_t *mark, const char *fmt, ...)
{
    if (!l->failed) {
        int n = snprintf(l->err, l->err_size, "%s:%zu:%zu: ", l->name, mark->line + 1, mark->column + 1);
        if (n >= 0 && (size_t)n < l->err_size) {
            va_list args;
            va_start(args, fmt);
            vsnprintf(l->err + n, l->err_size - n, fmt, args);
            va_end(args);
        }
        l->failed = 1;
    }
    return NULL;
}

/* fail_parser: reports libyaml's own diagnosis of a syntax error. */
static yoml_t *fail_parser(struct loader *l)
{
    const yaml_mark_t *mark = &l->parser.problem_mark;
    if (l->parser.context != NULL)
        return fail(l, mark, "%s %s", l->parser.problem, l->parser.context);
    return fail(l, mark, "%s", l->parser.problem != NULL ? l->parser.problem : "invalid YAML");
}

/* next_event: pulls one event; on a syntax error, NULL-equivalent 0 is returned with the error recorded. */
static int next_event(struct loader *l, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&l->parser, ev)) {
        fail_parser(l);
        return 0;
    }
    return 1;
}

/* new_node: allocates a node of `size` bytes (at least sizeof(yoml_t)) stamped with its position; NULL on OOM. */
static yoml_t *new_node(struct loader *l, yoml_type_t type, size_t size, const yaml_mark_t *mark, const yaml_char_t *anchor,
                        const yaml_char_t *tag)
{
    yoml_t *node;
    char pos[64];
    size_t name_len = strlen(l->name);

    if (size < sizeof(yoml_t))
        size = sizeof(yoml_t);
    if ((node = calloc(1, size)) == NULL)
        return fail(l, mark, "out of memory");
    node->type = type;
    node->line = mark->line;
    node->column = mark->column;
    node->_refcnt = 1;
    snprintf(pos, sizeof(pos), ":%zu:%zu", mark->line + 1, mark->column + 1);
    if ((node->filename = malloc(name_len + strlen(pos) + 1)) == NULL)
        goto Error;
    memcpy(node->filename, l->name, name_len);
    strcpy(node->filename + name_len, pos);
    if (anchor != NULL && (node->anchor = strdup((const char *)anchor)) == NULL)
        goto Error;
    if (tag != NULL && (node->tag = strdup((const char *)tag)) == NULL)
        goto Error;
    return node;
Error:
    free(node->filename);
    free(node->anchor);
    free(node);
    return fail(l, mark, "out of memory");
}

/* remember_anchor: makes `node` reachable by alias under its anchor name (the table holds no reference). */
static int remember_anchor(struct loader *l, yoml_t *node)
{
    if (node->anchor == NULL)
        return 0;
    if (l->num_anchors == l->cap_anchors) {
        size_t cap = l->cap_anchors == 0 ? 8 : l->cap_anchors * 2;
        struct anchor *grown = realloc(l->anchors, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        l->anchors = grown;
        l->cap_anchors = cap;
    }
    l->anchors[l->num_anchors++] = (struct anchor){node->anchor, node};
    return 0;
}

static yoml_t *build_node(struct loader *l, yaml_event_t *ev, int depth);

/* include_file: replaces a `!file PATH` scalar by the document PATH holds. */
static yoml_t *include_file(struct loader *l, yoml_t *scalar)
{
    yaml_mark_t mark = {0, scalar->line, scalar->column};
    char *path = NULL, *text = NULL, *dir = NULL, *slash;
    yoml_t *root = NULL;
    FILE *fp = NULL;
    size_t len;

    if (l->include_depth + 1 > MAX_INCLUDE_DEPTH) {
        fail(l, &mark, "`!file` nested more than %d deep", MAX_INCLUDE_DEPTH);
        goto Exit;
    }
    if (scalar->data.scalar[0] == '/' || l->dir == NULL) {
        path = strdup(scalar->data.scalar);
    } else if ((path = malloc(strlen(l->dir) + strlen(scalar->data.scalar) + 2)) != NULL) {
        sprintf(path, "%s/%s", l->dir, scalar->data.scalar);
    }
    if (path == NULL || (text = malloc(MAX_FILE_BYTES + 1)) == NULL) {
        fail(l, &mark, "out of memory");
        goto Exit;
    }
    if ((fp = fopen(path, "rb")) == NULL) {
        fail(l, &mark, "cannot open %s: %s", path, strerror(errno));
        goto Exit;
    }
    len = fread(text, 1, MAX_FILE_BYTES + 1, fp);
    if (ferror(fp)) {
        fail(l, &mark, "cannot read %s: %s", path, strerror(errno));
        goto Exit;
    }
    if (len > MAX_FILE_BYTES) {
        fail(l, &mark, "%s is larger than %d bytes", path, MAX_FILE_BYTES);
        goto Exit;
    }
    if ((dir = strdup(path)) == NULL) {
        fail(l, &mark, "out of memory");
        goto Exit;
    }
    if ((slash = strrchr(dir, '/')) != NULL)
        *slash = '\0';
    else
        strcpy(dir, ".");
    if ((root = load_text(path, dir, text, len, l->include_depth + 1, l->err, l->err_size)) == NULL)
        l->failed = 1;
Exit:
    if (fp != NULL)
        fclose(fp);
    free(dir);
    free(text);
    free(path);
    yoml_free(scalar, NULL);
    return root;
}

/* build_scalar: a scalar event becomes a node (or, tagged `!file`, the included document). */
static yoml_t *build_scalar(struct loader *l, yaml_event_t *ev)
{
    yoml_t *node;
    size_t len = ev->data.scalar.length;

    if (memchr(ev->data.scalar.value, '\0', len) != NULL)
        return fail(l, &ev->start_mark, "NUL byte in a scalar");
    if ((node = new_node(l, YOML_TYPE_SCALAR, 0, &ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag)) == NULL)
        return NULL;
    if ((node->data.scalar = malloc(len + 1)) == NULL) {
        yoml_free(node, NULL);
        return fail(l, &ev->start_mark, "out of memory");
    }
    memcpy(node->data.scalar, ev->data.scalar.value, len);
    node->data.scalar[len] = '\0';
    if (node->tag != NULL && strcmp(node->tag, "!file") == 0)
        return include_file(l, node);
    return node;
}

/* build_collection: children up to the matching END event; a sequence holds nodes, a mapping key/value pairs. */
static yoml_t *build_collection(struct loader *l, yaml_event_t *start, int depth)
{
    int is_map = start->type == YAML_MAPPING_START_EVENT;
    const yaml_char_t *anchor = is_map ? start->data.mapping_start.anchor : start->data.sequence_start.anchor;
    const yaml_char_t *tag = is_map ? start->data.mapping_start.tag : start->data.sequence_start.tag;
    size_t head = offsetof(yoml_t, data.mapping.elements), slot = is_map ? sizeof(yoml_mapping_element_t) : sizeof(yoml_t *);
    size_t cap = 4, n = 0;
    yoml_t *node, *child = NULL, *key = NULL;
    yaml_event_t ev;

    if (depth > MAX_DEPTH)
        return fail(l, &start->start_mark, "nested more than %d levels deep", MAX_DEPTH);
    if ((node = new_node(l, is_map ? YOML_TYPE_MAPPING : YOML_TYPE_SEQUENCE, head + cap * slot, &start->start_mark, anchor, tag)) ==
        NULL)
        return NULL;
    for (;;) {
        if (!next_event(l, &ev))
            goto Error;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        child = build_node(l, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (child == NULL)
            goto Error;
        if (is_map && key == NULL) {
            key = child;
            child = NULL; /* owned through `key` now; the error path frees each once */
            continue;
        }
        if (n == cap) {
            yoml_t *grown = realloc(node, head + cap * 2 * slot);
            if (grown == NULL) {
                fail(l, &start->start_mark, "out of memory");
                goto Error;
            }
            node = grown;
            cap *= 2;
        }
        if (is_map) {
            node->data.mapping.elements[n] = (yoml_mapping_element_t){key, child};
            key = NULL;
        } else {
            node->data.sequence.elements[n] = child;
        }
        node->data.mapping.size = ++n; /* `size` sits at the same offset in both forms */
        child = NULL;
    }
    return node;
Error:
    yoml_free(key, NULL);
    yoml_free(child, NULL);
    yoml_free(node, NULL);
    return NULL;
}

/* build_alias: the anchored node, shared by reference count. */
static yoml_t *build_alias(struct loader *l, yaml_event_t *ev)
{
    size_t i;

    if (++l->num_aliases > MAX_ALIASES)
        return fail(l, &ev->start_mark, "more than %d aliases", MAX_ALIASES);
    for (i = l->num_anchors; i-- != 0;) {
        if (strcmp(l->anchors[i].name, (const char *)ev->data.alias.anchor) == 0) {
            ++l->anchors[i].node->_refcnt;
            return l->anchors[i].node;
        }
    }
    return fail(l, &ev->start_mark, "unknown anchor *%s", (const char *)ev->data.alias.anchor);
}

/* build_node: the node that starts with event `ev` (which the caller still owns). */
static yoml_t *build_node(struct loader *l, yaml_event_t *ev, int depth)
{
    yoml_t *node;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        node = build_scalar(l, ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        node = build_collection(l, ev, depth);
        break;
    case YAML_ALIAS_EVENT:
        return build_alias(l, ev);
    default:
        return fail(l, &ev->start_mark, "unexpected YAML event");
    }
    if (node != NULL && remember_anchor(l, node) != 0) {
        yoml_free(node, NULL);
        return fail(l, &ev->start_mark, "out of memory");
    }
    return node;
}

/* expect_event: consumes one event of type `type`; anything else is an error naming `what`. */
static int expect_event(struct loader *l, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    int ok;

    if (!next_event(l, &ev))
        return 0;
    ok = ev.type == type;
    if (!ok)
        fail(l, &ev.start_mark, "expected %s", what);
    yaml_event_delete(&ev);
    return ok;
}

static yoml_t *load_text(const char *name, const char *dir, const char *text, size_t len, int include_depth, char *err,
                         size_t err_size)
{
    struct loader l = {.name = name, .dir = dir, .include_depth = include_depth, .err = err, .err_size = err_size};
    yoml_t *root = NULL;
    yaml_event_t ev;

    if (!yaml_parser_initialize(&l.parser)) {
        snprintf(err, err_size, "%s: cannot initialise the YAML parser", name);
        return NULL;
    }
    yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, len);
    if (!expect_event(&l, YAML_STREAM_START_EVENT, "the start of the stream"))
        goto Exit;
    if (!next_event(&l, &ev))
        goto Exit;
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        fail(&l, &ev.start_mark, "the file holds no YAML document");
        yaml_event_delete(&ev);
        goto Exit;
    }
    yaml_event_delete(&ev);
    if (!next_event(&l, &ev))
        goto Exit;
    root = build_node(&l, &ev, 0);
    yaml_event_delete(&ev);
    if (root == NULL)
        goto Exit;
    if (!expect_event(&l, YAML_DOCUMENT_END_EVENT, "the end of the document") ||
        !expect_event(&l, YAML_STREAM_END_EVENT, "a single YAML document")) {
        yoml_free(root, NULL);
        root = NULL;
    }
Exit:
    if (root == NULL && !l.failed)
        snprintf(err, err_size, "%s: invalid YAML", name);
    free(l.anchors);
    yaml_parser_delete(&l.parser);
    return root;
}

yoml_t *booka_yaml_load_string(const char *name, const char *text, size_t len, char *err, size_t err_size)
{
    return load_text(name, NULL, text, len, 0, err, err_size);
}

yoml_t *booka_yaml_load_file(const char *path, char *err, size_t err_size)
{
    struct loader l = {.name = path, .err = err, .err_size = err_size};
    yoml_t *scalar;

    /* Loading a file is including it from nowhere, so one code path reads files: a scalar carries the path. */
    if ((scalar = calloc(1, sizeof(*scalar))) == NULL || (scalar->data.scalar = strdup(path)) == NULL) {
        free(scalar);
        snprintf(err, err_size, "%s: out of memory", path);
        return NULL;
    }
    scalar->type = YOML_TYPE_SCALAR;
    scalar->_refcnt = 1;
    l.include_depth = -1;
    return include_file(&l, scalar);
}

const char *booka_yaml_node_file(const yoml_t *node, char *buf, size_t size)
{
    size_t len;
    const char *colon;

    buf[0] = '\0';
    if (node->filename == NULL || size == 0)
        return buf;
    len = strlen(node->filename);
    /* strip ":LINE:COLUMN" */
    for (int i = 0; i != 2 && (colon = memrchr(node->filename, ':', len)) != NULL; ++i)
        len = colon - node->filename;
    if (len >= size)
        len = size - 1;
    memcpy(buf, node->filename, len);
    buf[len] = '\0';
    return buf;
}

char *booka_yaml_resolve_path(const yoml_t *node, const char *path)
{
    char file[4096], *slash, *out;

    if (path[0] == '/' || booka_yaml_node_file(node, file, sizeof(file))[0] == '\0' || (slash = strrchr(file, '/')) == NULL)
        return strdup(path);
    slash[1] = '\0';
    if ((out = malloc(strlen(file) + strlen(path) + 1)) == NULL)
        return NULL;
    strcpy(out, file);
    strcat(out, path);
    return out;
}

int booka_yaml_rewrite_error_line(const char *line, char *out, size_t size)
{
    const char *end, *last_colon;

    /* libh2o prints "[FILE:L:C:L] message"; the trailing ":L" is its own copy of the line. */
    if (line[0] != '[' || (end = strstr(line, "] ")) == NULL)
        return 0;
    if ((last_colon = memrchr(line, ':', end - line)) == NULL)
        return 0;
    snprintf(out, size, "%.*s: %s", (int)(last_colon - line - 1), line + 1, end + 2);
    return 1;
}
