/* sql_test.c: plugin/list/sql.c: which fragments each request gets, and that request values are only ever parameters. */
#include "list/list.h"
#include "unit.h"

static list_request_t req;
static list_sql_t sql;

static void build(const char *query)
{
    booka_buf_t errors = {NULL};
    list_sql_dispose(&sql);
    CHECK_INT_EQ(list_request_parse(&req, query, strlen(query), &errors), LIST_PARSE_OK);
    booka_buf_free(&errors);
    list_sql_build(&req, &sql);
}

static const char *page_sql(void)
{
    return sql.statements[0].sql;
}

static int contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

/* param_index: the 1-based number of the parameter holding `value` in statement i, or 0. */
static size_t param_index(size_t i, const char *value)
{
    for (size_t j = 0; j != sql.statements[i].num_params; ++j)
        if (sql.statements[i].values[j] != NULL && strcmp(sql.statements[i].values[j], value) == 0)
            return j + 1;
    return 0;
}

static void test_hostile_values_are_parameters(void)
{
    build("category=x'%3B drop table users%3B --&location=O'Brien%3B delete from users&when=2024-01-01&min_price=1&max_price=2"
          "&include_price_distribution=1");
    CHECK_INT_EQ(sql.num_statements, 2);
    for (size_t i = 0; i != sql.num_statements; ++i) {
        const char *text = sql.statements[i].sql;
        CHECK(!contains(text, "drop table"));
        CHECK(!contains(text, "O'Brien"));
        CHECK(!contains(text, "o'brien"));
        CHECK(!contains(text, "delete"));
        CHECK(!contains(text, "2024-01-01"));
        CHECK(param_index(i, "x';_drop_table_users;_") != 0);
        CHECK(param_index(i, "%o'brien; delete from users%") != 0);
        CHECK(param_index(i, "2024-01-01") != 0);
        CHECK(param_index(i, "1") != 0);
        /* every $n in the text has a value and vice versa */
        for (size_t n = 1; n <= sql.statements[i].num_params; ++n) {
            char marker[32];
            snprintf(marker, sizeof(marker), "$%zu::", n);
            CHECK(contains(text, marker));
        }
        {
            char marker[32];
            snprintf(marker, sizeof(marker), "$%zu", sql.statements[i].num_params + 1);
            CHECK(!contains(text, marker));
        }
    }
}

static void test_location_pattern(void)
{
    build("location=50%25_off%5Cnow");
    CHECK(param_index(0, "%50\\%\\_off\\\\now%") != 0);
    CHECK(contains(page_sql(), "t.location ILIKE $"));
}

static void test_paging(void)
{
    char limit[32], offset[32];
    build("page=3&limit=12");
    CHECK(param_index(0, "12") != 0);
    CHECK(param_index(0, "24") != 0);
    snprintf(limit, sizeof(limit), "$%zu::integer", param_index(0, "12"));
    snprintf(offset, sizeof(offset), "$%zu::bigint", param_index(0, "24"));
    CHECK(contains(page_sql(), limit));
    CHECK(contains(page_sql(), offset));
    build("page=1000000000&limit=100");
    CHECK(param_index(0, "99999999900") != 0);
}

static void test_lean_path(void)
{
    build("fields=id,business_name,profile_picture_url,created_at,updated_at,user_id&sort=most_booked");
    CHECK(contains(page_sql(),
                   "SELECT p.user_id, p.business_name, d.picture_version, (extract(epoch FROM p.created_at) * 1000000)::int8"));
    CHECK(contains(page_sql(), " JOIN booka.providers d ON d.user_id = k.user_id"));
    CHECK(!contains(page_sql(), "users u"));
    CHECK(!contains(page_sql(), "service_categories"));
    CHECK(!contains(page_sql(), "p.profile_picture_url")); /* never the URL itself: it may be a data: URL of megabytes */
    CHECK(!contains(page_sql(), "description"));
    CHECK(contains(page_sql(), "ORDER BY t.book_count DESC, t.user_id DESC"));
    CHECK(contains(page_sql(), "FROM booka.providers t"));
    /* the counts are the maintained ones */
    CHECK_STR_EQ(sql.statements[1].sql,
                 "SELECT bucket, sum(n)::bigint FROM booka.provider_list_counts WHERE category_id = 0 GROUP BY bucket");
    CHECK_INT_EQ(sql.statements[1].num_params, 0);
    /* and a page past the end reads nothing */
    CHECK(contains(page_sql(),
                   "WHERE $1::bigint < (SELECT coalesce(sum(n), 0) FROM booka.provider_list_counts WHERE category_id = 0)"));
}

static void test_ids_only(void)
{
    build("fields=id,user_id&sort=newest");
    CHECK(contains(page_sql(), "SELECT k.user_id FROM (SELECT t.created_at, t.user_id FROM booka.providers t WHERE $1::bigint < "));
    CHECK(!contains(page_sql(), "JOIN"));
}

static void test_full_path(void)
{
    build("fields=id,service_categories");
    CHECK(contains(page_sql(), "array_agg(c.name ORDER BY c.name COLLATE \"C\")"));
    CHECK(!contains(page_sql(), "users u"));
    build("fields=user.last_name");
    CHECK(contains(page_sql(), "JOIN users u ON u.id = p.user_id"));
    CHECK(contains(page_sql(), "SELECT p.user_id, u.last_name FROM"));
    build("");
    CHECK(contains(page_sql(), "JOIN users u"));
    CHECK(contains(page_sql(), "p.hourly_rate, p.price_visible, d.rating_avg"));
}

static void test_sorts(void)
{
    build("sort=newest");
    CHECK(contains(page_sql(), "ORDER BY t.created_at DESC, t.user_id DESC"));
    build("sort=top_rated");
    CHECK(contains(page_sql(), "ORDER BY t.rating_avg DESC NULLS LAST, t.rating_count DESC, t.user_id DESC"));
    build("sort=price_low");
    CHECK(contains(page_sql(), "ORDER BY t.min_price ASC NULLS LAST, t.user_id DESC"));
    build("sort=price_high");
    CHECK(contains(page_sql(), "ORDER BY t.min_price DESC NULLS LAST, t.user_id DESC"));
    CHECK(contains(page_sql(), "ORDER BY k.min_price DESC NULLS LAST, k.user_id DESC"));
    CHECK(contains(page_sql(), "FROM (SELECT t.min_price, t.user_id FROM booka.providers t"));
    build("sort=top_rated");
    CHECK(contains(page_sql(), "FROM (SELECT t.rating_avg, t.rating_count, t.user_id FROM"));
}

static void test_category(void)
{
    build("category=Sound Service&sort=price_low");
    CHECK(contains(page_sql(), "FROM booka.provider_categories t WHERE t.category_id = (SELECT min(c.id) FROM service_categories c "
                               "WHERE booka.category_slug(c.name) = $"));
    CHECK(contains(page_sql(),
                   " AND $2::bigint < (SELECT coalesce(sum(n), 0) FROM booka.provider_list_counts WHERE category_id = (SELECT "
                   "min(c.id) FROM service_categories c WHERE booka.category_slug(c.name) = $3::text))"));
    CHECK(param_index(0, "sound_service") != 0);
    CHECK_STR_EQ(sql.statements[1].sql,
                 "SELECT bucket, sum(n)::bigint FROM booka.provider_list_counts WHERE category_id = (SELECT min(c.id) FROM "
                 "service_categories c WHERE booka.category_slug(c.name) = $1::text) GROUP BY bucket");
    CHECK(param_index(1, "sound_service") == 1);
    /* with a price range, one approved service must be in the category and in the range */
    build("category=dj&min_price=100&max_price=200");
    CHECK(contains(page_sql(), "s.status = 'approved' AND s.service_category_id = t.category_id AND s.price >= $"));
    /* counted from the services in the range, grouped by provider, without joining the list rows */
    CHECK_STR_EQ(sql.statements[1].sql,
                 "SELECT booka.price_bucket(f.price), count(*) FROM (SELECT s.artist_id, min(s.price) AS price "
                 "FROM services s WHERE s.status = 'approved' AND s.service_category_id = (SELECT min(c.id) FROM "
                 "service_categories c WHERE booka.category_slug(c.name) = $1::text) AND s.price >= "
                 "$2::numeric AND s.price <= "
                 "$3::numeric GROUP BY s.artist_id) f GROUP BY 1");
    /* with location or when too, joined to the filtered list rows */
    build("category=dj&min_price=100&location=cape&when=2024-01-01");
    CHECK(contains(sql.statements[1].sql, " GROUP BY s.artist_id) f JOIN (SELECT t.user_id FROM booka.provider_categories t WHERE "
                                          "t.category_id = (SELECT min(c.id) FROM service_categories c WHERE "
                                          "booka.category_slug(c.name) = $3::text) AND "
                                          "t.location ILIKE $4::text AND NOT EXISTS"));
    CHECK(contains(sql.statements[1].sql, ") t ON t.user_id = f.artist_id GROUP BY 1"));
    CHECK(!contains(sql.statements[1].sql, " EXISTS (SELECT 1 FROM services"));
}

static void test_filters(void)
{
    build("when=2024-06-01");
    CHECK(contains(page_sql(), "NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.artist_id = t.user_id AND bk.event_date = $"));
    CHECK(contains(page_sql(), "::date AND bk.status IN ('pending', 'confirmed'))"));
    /* `when` alone: the kept counts less the providers busy that day */
    CHECK(contains(sql.statements[1].sql,
                   "SELECT bucket, sum(n)::bigint FROM (SELECT bucket, n FROM booka.provider_list_counts WHERE "
                   "category_id = 0 UNION ALL SELECT booka.price_bucket(t.min_price), -count(*) FROM "
                   "booka.providers t WHERE t.user_id IN (SELECT bk.artist_id FROM bookings bk WHERE "
                   "bk.event_date = $1::date AND bk.status IN ('pending', 'confirmed')) GROUP BY 1) x GROUP BY bucket"));
    build("when=2024-06-01&category=dj");
    CHECK(contains(sql.statements[1].sql,
                   "FROM booka.provider_categories t WHERE t.category_id = (SELECT min(c.id) FROM service_categories c WHERE "
                   "booka.category_slug(c.name) = $2::text) AND t.user_id IN (SELECT bk.artist_id"));
    build("min_price=100");
    CHECK(contains(page_sql(), "s.price >= $") && !contains(page_sql(), "s.price <= $"));
    build("max_price=100");
    CHECK(!contains(page_sql(), "s.price >= $") && contains(page_sql(), "s.price <= $"));
    CHECK(!contains(page_sql(), "service_category_id"));
    build("location=x&when=2024-06-01");
    CHECK(contains(sql.statements[1].sql, "SELECT booka.price_bucket(t.min_price), count(*) FROM booka.providers t WHERE "
                                          "t.location ILIKE $1::text AND NOT EXISTS"));
    CHECK(contains(sql.statements[1].sql, " GROUP BY 1"));
}

static void test_distribution_needs_no_statement(void)
{
    list_sql_t other;
    build("include_price_distribution=true&min_price=10");
    other = sql;
    memset(&sql, 0, sizeof(sql));
    build("min_price=10");
    CHECK_INT_EQ(sql.num_statements, 2);
    CHECK_STR_EQ(sql.statements[1].sql, other.statements[1].sql);
    list_sql_dispose(&other);
}

int main(void)
{
    test_hostile_values_are_parameters();
    test_location_pattern();
    test_paging();
    test_lean_path();
    test_ids_only();
    test_full_path();
    test_sorts();
    test_category();
    test_filters();
    test_distribution_needs_no_statement();
    list_sql_dispose(&sql);
    return unit_report("list_sql");
}
