-- 004: recompute all denormalised list data from scratch in one set-based pass.
-- Used by the seed loader (after a bulk load with triggers off), after a TRUNCATE, and by operators to repair.
-- Idempotent: functions and triggers are created or replaced.

-- Rewrite book_count, rating_*, min_price, provider_categories and provider_list_counts from the booka_expected_*
-- views, touching only rows that differ. Writers of the source tables wait until the calling transaction ends.
CREATE OR REPLACE FUNCTION booka_rebuild_list_data() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE service_provider_profiles, services, bookings, reviews, provider_categories, provider_list_counts
        IN SHARE ROW EXCLUSIVE MODE;
    PERFORM set_config('booka.rebuild', 'on', true);

    UPDATE service_provider_profiles p
    SET book_count = e.book_count, rating_count = e.rating_count, rating_sum = e.rating_sum,
        rating_avg = booka_rating_avg(e.rating_sum, e.rating_count), min_price = e.min_price
    FROM (SELECT q.user_id, coalesce(b.book_count, 0) AS book_count, coalesce(r.rating_count, 0) AS rating_count,
                 coalesce(r.rating_sum, 0) AS rating_sum, m.min_price
          FROM service_provider_profiles q
          LEFT JOIN booka_expected_book_counts b USING (user_id)
          LEFT JOIN booka_expected_ratings r USING (user_id)
          LEFT JOIN booka_expected_min_prices m USING (user_id)) AS e
    WHERE p.user_id = e.user_id
      AND (p.book_count, p.rating_count, p.rating_sum, p.rating_avg, p.min_price)
          IS DISTINCT FROM (e.book_count, e.rating_count, e.rating_sum, booka_rating_avg(e.rating_sum, e.rating_count),
                            e.min_price);

    DELETE FROM provider_categories m
    WHERE NOT EXISTS (SELECT 1 FROM booka_expected_memberships e
                      WHERE e.user_id = m.user_id AND e.category_id = m.category_id);

    INSERT INTO provider_categories AS m (user_id, category_id, min_price, book_count, rating_avg, rating_count,
                                          created_at, location)
    SELECT e.user_id, e.category_id, e.min_price, p.book_count, p.rating_avg, p.rating_count, p.created_at, p.location
    FROM booka_expected_memberships e
    JOIN service_provider_profiles p ON p.user_id = e.user_id
    ON CONFLICT (user_id, category_id) DO UPDATE
        SET min_price = EXCLUDED.min_price, book_count = EXCLUDED.book_count, rating_avg = EXCLUDED.rating_avg,
            rating_count = EXCLUDED.rating_count, created_at = EXCLUDED.created_at, location = EXCLUDED.location
        WHERE (m.min_price, m.book_count, m.rating_avg, m.rating_count, m.created_at, m.location)
              IS DISTINCT FROM (EXCLUDED.min_price, EXCLUDED.book_count, EXCLUDED.rating_avg, EXCLUDED.rating_count,
                                EXCLUDED.created_at, EXCLUDED.location);

    DELETE FROM provider_list_counts;
    INSERT INTO provider_list_counts (category_id, bucket, shard, n)
    SELECT category_id, bucket, 0, n FROM booka_expected_list_counts;

    PERFORM set_config('booka.rebuild', 'off', true);
END
$$;

-- TRUNCATE bypasses row and statement triggers: rebuild after it.
CREATE OR REPLACE FUNCTION booka_on_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM booka_rebuild_list_data();
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER service_provider_profiles_list_truncate AFTER TRUNCATE ON service_provider_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION booka_on_truncate();
CREATE OR REPLACE TRIGGER services_list_truncate AFTER TRUNCATE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION booka_on_truncate();
CREATE OR REPLACE TRIGGER bookings_list_truncate AFTER TRUNCATE ON bookings
    FOR EACH STATEMENT EXECUTE FUNCTION booka_on_truncate();
CREATE OR REPLACE TRIGGER reviews_list_truncate AFTER TRUNCATE ON reviews
    FOR EACH STATEMENT EXECUTE FUNCTION booka_on_truncate();
CREATE OR REPLACE TRIGGER provider_categories_list_truncate AFTER TRUNCATE ON provider_categories
    FOR EACH STATEMENT EXECUTE FUNCTION booka_on_truncate();
CREATE OR REPLACE TRIGGER provider_list_counts_list_truncate AFTER TRUNCATE ON provider_list_counts
    FOR EACH STATEMENT EXECUTE FUNCTION booka_on_truncate();
