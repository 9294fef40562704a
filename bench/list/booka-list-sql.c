/* booka-list-sql: prints the exact SQL the list endpoint runs for a query string, as a pgbench script (one pipeline,
 * like the server sends it) plus the pgbench -D definitions of its parameters, so the bench times the same SQL both
 * ways. Usage: booka-list-sql 'QUERY-STRING' SCRIPT-FILE  (the -D arguments go to stdout, one per line). */
#include <stdio.h>
#include <string.h>
#include "list/list.h"

/* write_statement: the statement with $n replaced by :s<i>_<n> (pgbench makes them parameters again with -M prepared). */
static void write_statement(FILE *fp, size_t index, const char *sql)
{
    for (const char *p = sql; *p != '\0'; ++p) {
        if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
            size_t n = 0;
            while (p[1] >= '0' && p[1] <= '9')
                n = n * 10 + (size_t)(*++p - '0');
            fprintf(fp, ":s%zu_%zu", index, n);
        } else {
            fputc(*p, fp);
        }
    }
    fputs(";\n", fp);
}

int main(int argc, char **argv)
{
    list_request_t req;
    list_sql_t sql;
    booka_buf_t errors = {NULL};
    FILE *fp;

    if (argc != 3) {
        fprintf(stderr, "usage: %s QUERY-STRING SCRIPT-FILE\n", argv[0]);
        return 2;
    }
    if (list_request_parse(&req, argv[1], strlen(argv[1]), &errors) != LIST_PARSE_OK) {
        fprintf(stderr, "%s: invalid query: %.*s\n", argv[0], (int)errors.len, errors.base);
        return 1;
    }
    list_sql_build(&req, &sql);
    if ((fp = fopen(argv[2], "w")) == NULL) {
        perror(argv[2]);
        return 1;
    }
    fputs("\\startpipeline\n", fp);
    for (size_t i = 0; i != sql.num_statements; ++i) {
        write_statement(fp, i, sql.statements[i].sql);
        for (size_t n = 0; n != sql.statements[i].num_params; ++n)
            printf("-Ds%zu_%zu=%s\n", i, n + 1, sql.statements[i].values[n]);
    }
    fputs("\\endpipeline\n", fp);
    fclose(fp);
    list_sql_dispose(&sql);
    booka_buf_free(&errors);
    return 0;
}
