/* yaml_loader_test.c: the YAML loader builds the node tree libh2o expects, with positions, and reports errors precisely. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "unit.h"
#include "config/yaml_loader.h"

static yoml_t *load(const char *text, char *err)
{
    return booka_yaml_load_string("t.conf", text, strlen(text), err, 256);
}

static void test_tree_shape_and_positions(void)
{
    char err[256] = "";
    yoml_t *root = load("listen: 8080\nhosts:\n  \"default\":\n    paths:\n      /: {file.dir: x}\nlist: [a, b, c]\n", err);
    CHECK(root != NULL);
    if (root == NULL)
        return;
    CHECK_INT_EQ(root->type, YOML_TYPE_MAPPING);
    CHECK_INT_EQ(root->data.mapping.size, 3);
    yoml_t *listen = yoml_get(root, "listen");
    CHECK(listen != NULL && listen->type == YOML_TYPE_SCALAR);
    CHECK_STR_EQ(listen->data.scalar, "8080");
    CHECK_INT_EQ(listen->line, 0);
    CHECK_INT_EQ(listen->column, 8);
    CHECK_STR_EQ(listen->filename, "t.conf:1:9");
    yoml_t *paths = yoml_get(yoml_get(yoml_get(root, "hosts"), "default"), "paths");
    CHECK(paths != NULL && paths->type == YOML_TYPE_MAPPING);
    yoml_t *dir = yoml_get(yoml_get(paths, "/"), "file.dir");
    CHECK_STR_EQ(dir->data.scalar, "x");
    CHECK_INT_EQ(dir->line, 4);
    yoml_t *list = yoml_get(root, "list");
    CHECK(list->type == YOML_TYPE_SEQUENCE);
    CHECK_INT_EQ(list->data.sequence.size, 3);
    CHECK_STR_EQ(list->data.sequence.elements[2]->data.scalar, "c");
    CHECK(yoml_get(root, "missing") == NULL);
    yoml_free(root, NULL);
}

static void test_large_collections_grow(void)
{
    char text[20000], err[256];
    size_t off = 0;
    for (int i = 0; i != 1000; ++i)
        off += sprintf(text + off, "k%d: [%d]\n", i, i);
    yoml_t *root = load(text, err);
    CHECK(root != NULL && root->data.mapping.size == 1000);
    if (root != NULL) {
        CHECK_STR_EQ(yoml_get(root, "k999")->data.sequence.elements[0]->data.scalar, "999");
        yoml_free(root, NULL);
    }
}

static void test_aliases_share_nodes(void)
{
    char err[256];
    yoml_t *root = load("a: &x {k: v}\nb: *x\nc: *x\n", err);
    CHECK(root != NULL);
    if (root == NULL)
        return;
    CHECK(yoml_get(root, "a") == yoml_get(root, "b"));
    CHECK_INT_EQ(yoml_get(root, "a")->_refcnt, 3);
    yoml_free(root, NULL);
    CHECK(load("a: *nope\n", err) == NULL);
    CHECK_STR_EQ(err, "t.conf:1:4: unknown anchor *nope");
}

static void test_syntax_errors_name_position(void)
{
    char err[256];
    CHECK(load("a: [1, 2\nb: c\n", err) == NULL);
    CHECK(strncmp(err, "t.conf:", 7) == 0 && strstr(err, "flow sequence") != NULL);
    CHECK(load("", err) == NULL);
    CHECK(strstr(err, "t.conf") == err);
    CHECK(load("a: 1\n---\nb: 2\n", err) == NULL);
    CHECK(strstr(err, "single YAML document") != NULL);
    /* a syntax error right after a mapping key (found by the fuzzer: the key was freed twice) */
    CHECK(load("a: {k: [1]}\nc: !t?# x\nlisten: [\n", err) == NULL);
    CHECK(load("{k", err) == NULL);
    CHECK(load("a: \"x\\0y\"\n", err) == NULL);
    CHECK(strstr(err, "NUL") != NULL);
}

static void test_depth_limit(void)
{
    char text[400], err[256];
    memset(text, '[', 200);
    memset(text + 200, ']', 200);
    text[399] = '\0';
    text[200 - 1] = '['; /* unbalanced on purpose does not matter: depth is refused first */
    CHECK(booka_yaml_load_string("t.conf", text, 200, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "levels deep") != NULL);
}

static void test_file_include_and_paths(void)
{
    char dir[] = "/tmp/booka-yaml-XXXXXX", path[256], inc[256], err[256], buf[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/main.conf", dir);
    snprintf(inc, sizeof(inc), "%s/part.yaml", dir);
    FILE *fp = fopen(path, "w");
    fputs("top: !file part.yaml\nother: 1\n", fp);
    fclose(fp);
    fp = fopen(inc, "w");
    fputs("inner: [x]\n", fp);
    fclose(fp);
    yoml_t *root = booka_yaml_load_file(path, err, sizeof(err));
    CHECK(root != NULL);
    if (root != NULL) {
        yoml_t *inner = yoml_get(yoml_get(root, "top"), "inner");
        CHECK(inner != NULL && inner->type == YOML_TYPE_SEQUENCE);
        CHECK_STR_EQ(booka_yaml_node_file(inner, buf, sizeof(buf)), inc);
        char *resolved = booka_yaml_resolve_path(yoml_get(root, "other"), "mruby/x.rb");
        snprintf(buf, sizeof(buf), "%s/mruby/x.rb", dir);
        CHECK_STR_EQ(resolved, buf);
        free(resolved);
        yoml_free(root, NULL);
    }
    unlink(inc);
    CHECK(booka_yaml_load_file(path, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "main.conf:1:6: cannot open") == err + strlen(dir) + 1);
    CHECK(booka_yaml_load_string("t.conf", "a: !file /\n", 11, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "cannot read /: Is a directory") != NULL);
    unlink(path);
    CHECK(booka_yaml_load_file(path, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "No such file") != NULL);
    rmdir(dir);
}

static void test_rewrite_error_line(void)
{
    char out[256];
    CHECK(booka_yaml_rewrite_error_line("[h2o.conf:3:5:3] in command listen, unknown", out, sizeof(out)));
    CHECK_STR_EQ(out, "h2o.conf:3:5: in command listen, unknown");
    CHECK(!booka_yaml_rewrite_error_line("plain text", out, sizeof(out)));
}

int main(void)
{
    test_tree_shape_and_positions();
    test_large_collections_grow();
    test_aliases_share_nodes();
    test_syntax_errors_name_position();
    test_depth_limit();
    test_file_include_and_paths();
    test_rewrite_error_line();
    return unit_report("yaml_loader");
}
