-- Assert that every trigger-maintained value equals its recomputation from scratch: provider counters and lowest
-- prices, rating_avg, the avatar version token, provider_categories rows (membership, lowest price per category and
-- the copied sort keys) and provider_list_counts (totals and price buckets, per category and for the whole set).
-- Raises an exception naming the first kind of mismatch with up to 5 examples; prints "check: ok" otherwise.
-- Read-only. Run it at any time: psql -v ON_ERROR_STOP=1 -f schema/check.sql
\set ON_ERROR_STOP on
DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(format('provider %s: have (%s,%s,%s,%s,%s) want (%s,%s,%s,%s,%s)', user_id,
                             book_count, rating_count, rating_sum, rating_avg, min_price,
                             want_book_count, want_rating_count, want_rating_sum, want_rating_avg, want_min_price), '; ')
    INTO bad
    FROM (SELECT p.user_id, p.book_count, p.rating_count, p.rating_sum, p.rating_avg, p.min_price,
                 coalesce(b.book_count, 0) AS want_book_count, coalesce(r.rating_count, 0) AS want_rating_count,
                 coalesce(r.rating_sum, 0) AS want_rating_sum,
                 booka_rating_avg(coalesce(r.rating_sum, 0), coalesce(r.rating_count, 0)) AS want_rating_avg,
                 m.min_price AS want_min_price
          FROM service_provider_profiles p
          LEFT JOIN booka_expected_book_counts b USING (user_id)
          LEFT JOIN booka_expected_ratings r USING (user_id)
          LEFT JOIN booka_expected_min_prices m USING (user_id)
          WHERE (p.book_count, p.rating_count, p.rating_sum, p.rating_avg, p.min_price)
                IS DISTINCT FROM (coalesce(b.book_count, 0), coalesce(r.rating_count, 0), coalesce(r.rating_sum, 0),
                                  booka_rating_avg(coalesce(r.rating_sum, 0), coalesce(r.rating_count, 0)), m.min_price)
          ORDER BY p.user_id LIMIT 5) AS x;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: provider counters differ from bookings/reviews/services: %', bad;
    END IF;

    -- rating_avg is also checked against avg() itself, independently of booka_rating_avg().
    SELECT string_agg(format('provider %s: rating_avg %s, avg(rating) %s', p.user_id, p.rating_avg, a.avg), '; ')
    INTO bad
    FROM (SELECT artist_id, round(avg(rating), 2) AS avg FROM reviews GROUP BY artist_id) AS a
    JOIN service_provider_profiles p ON p.user_id = a.artist_id
    WHERE p.rating_avg IS DISTINCT FROM a.avg;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: rating_avg differs from avg(reviews.rating): %', bad;
    END IF;

    SELECT string_agg(format('provider %s', user_id), '; ') INTO bad
    FROM (SELECT user_id FROM service_provider_profiles
          WHERE profile_picture_version IS DISTINCT FROM left(md5(profile_picture_url), 16) LIMIT 5) AS x;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: profile_picture_version is stale: %', bad;
    END IF;

    SELECT string_agg(format('(%s,%s): have %s want %s', coalesce(m.user_id, e.user_id), coalesce(m.category_id, e.category_id),
                             m, e), '; ')
    INTO bad
    FROM (SELECT * FROM provider_categories) AS m
    FULL JOIN (SELECT e.user_id, e.category_id, e.min_price, p.book_count, p.rating_avg, p.rating_count, p.created_at,
                      p.location
               FROM booka_expected_memberships e JOIN service_provider_profiles p USING (user_id)) AS e
        ON e.user_id = m.user_id AND e.category_id = m.category_id
    WHERE m.user_id IS NULL OR e.user_id IS NULL
       OR (m.min_price, m.book_count, m.rating_avg, m.rating_count, m.created_at, m.location)
          IS DISTINCT FROM (e.min_price, e.book_count, e.rating_avg, e.rating_count, e.created_at, e.location);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: provider_categories differs from approved services: %', left(bad, 2000);
    END IF;

    SELECT string_agg(format('category %s bucket %s: have %s want %s', coalesce(c.category_id, e.category_id),
                             coalesce(c.bucket, e.bucket), coalesce(c.n, 0), coalesce(e.n, 0)), '; ')
    INTO bad
    FROM (SELECT * FROM booka_list_counts WHERE n <> 0) AS c
    FULL JOIN booka_expected_list_counts e ON e.category_id = c.category_id AND e.bucket = c.bucket
    WHERE coalesce(c.n, 0) <> coalesce(e.n, 0);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: provider_list_counts differs from a recount: %', bad;
    END IF;

    SELECT string_agg(format('category %s bucket %s shard %s', category_id, bucket, shard), '; ') INTO bad
    FROM provider_list_counts c
    WHERE c.category_id <> 0 AND NOT EXISTS (SELECT 1 FROM service_categories s WHERE s.id = c.category_id);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: provider_list_counts has rows of deleted categories: %', bad;
    END IF;

    RAISE NOTICE 'check: ok (% providers, % memberships)',
        (SELECT count(*) FROM service_provider_profiles), (SELECT count(*) FROM provider_categories);
END
$$;
