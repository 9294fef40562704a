-- Assert that every trigger-maintained value equals its recomputation from scratch: booka.providers (one row per
-- provider, counters, lowest price, rating_avg, copies, avatar version token), booka.provider_categories (membership,
-- lowest price per category and the copied sort keys), booka.provider_list_counts (totals and price buckets, per
-- category and for the whole set), and, on a database the project owns, DATA-MODEL's counters of the profiles.
-- Raises an exception naming the first kind of mismatch with up to 5 examples; prints "check: ok" otherwise.
-- Read-only. Run it at any time: psql -v ON_ERROR_STOP=1 -f schema/check.sql
\set ON_ERROR_STOP on
DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(format('provider %s: have %s want %s', user_id, have, want), '; ')
    INTO bad
    FROM (SELECT coalesce(b.user_id, e.user_id) AS user_id,
                 CASE WHEN b.user_id IS NULL THEN 'no row'
                      ELSE row(b.book_count, b.rating_count, b.rating_sum, b.min_price, b.created_at, b.location,
                               b.picture_version)::text END AS have,
                 CASE WHEN e.user_id IS NULL THEN 'no profile'
                      ELSE row(e.book_count, e.rating_count, e.rating_sum, e.min_price, e.created_at, e.location,
                               e.picture_version)::text END AS want
          FROM booka.providers b
          FULL JOIN booka.expected_providers e ON e.user_id = b.user_id
          WHERE b.user_id IS NULL OR e.user_id IS NULL
             OR (b.book_count, b.rating_count, b.rating_sum, b.min_price, b.created_at, b.location, b.picture_version)
                IS DISTINCT FROM (e.book_count, e.rating_count, e.rating_sum, e.min_price, e.created_at, e.location,
                                  e.picture_version)
          ORDER BY 1 LIMIT 5) AS x;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: booka.providers differs from the profiles, bookings, reviews and services: %', left(bad, 2000);
    END IF;

    -- rating_avg is also checked against avg() itself, independently of booka.rating_avg().
    SELECT string_agg(format('provider %s: rating_avg %s, avg(rating) %s', b.user_id, b.rating_avg, a.avg), '; ')
    INTO bad
    FROM (SELECT artist_id, round(avg(rating), 2) AS avg FROM reviews GROUP BY artist_id) AS a
    JOIN booka.providers b ON b.user_id = a.artist_id
    WHERE b.rating_avg IS DISTINCT FROM a.avg;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: rating_avg differs from avg(reviews.rating): %', bad;
    END IF;

    SELECT string_agg(format('(%s,%s): have %s want %s', coalesce(m.user_id, e.user_id), coalesce(m.category_id, e.category_id),
                             m, e), '; ')
    INTO bad
    FROM (SELECT * FROM booka.provider_categories) AS m
    FULL JOIN (SELECT e.user_id, e.category_id, e.min_price, b.book_count, b.rating_avg, b.rating_count, b.created_at,
                      b.location
               FROM booka.expected_memberships e JOIN booka.providers b USING (user_id)) AS e
        ON e.user_id = m.user_id AND e.category_id = m.category_id
    WHERE m.user_id IS NULL OR e.user_id IS NULL
       OR (m.min_price, m.book_count, m.rating_avg, m.rating_count, m.created_at, m.location)
          IS DISTINCT FROM (e.min_price, e.book_count, e.rating_avg, e.rating_count, e.created_at, e.location);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: booka.provider_categories differs from approved services: %', left(bad, 2000);
    END IF;

    SELECT string_agg(format('category %s bucket %s: have %s want %s', coalesce(c.category_id, e.category_id),
                             coalesce(c.bucket, e.bucket), coalesce(c.n, 0), coalesce(e.n, 0)), '; ')
    INTO bad
    FROM (SELECT * FROM booka.list_counts WHERE n <> 0) AS c
    FULL JOIN booka.expected_list_counts e ON e.category_id = c.category_id AND e.bucket = c.bucket
    WHERE coalesce(c.n, 0) <> coalesce(e.n, 0);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: booka.provider_list_counts differs from a recount: %', bad;
    END IF;

    SELECT string_agg(format('category %s bucket %s shard %s', category_id, bucket, shard), '; ') INTO bad
    FROM booka.provider_list_counts c
    WHERE c.category_id <> 0 AND NOT EXISTS (SELECT 1 FROM service_categories s WHERE s.id = c.category_id);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'check: booka.provider_list_counts has rows of deleted categories: %', bad;
    END IF;

    IF booka.owns_core_tables() THEN
        SELECT string_agg(format('provider %s: have (%s,%s,%s) want (%s,%s,%s)', p.user_id, p.book_count, p.rating_avg,
                                 p.rating_count, b.book_count, b.rating_avg, b.rating_count), '; ')
        INTO bad
        FROM (SELECT p.user_id, p.book_count, p.rating_avg, p.rating_count FROM service_provider_profiles p
              JOIN booka.providers b USING (user_id)
              WHERE (p.book_count, p.rating_avg, p.rating_count) IS DISTINCT FROM (b.book_count, b.rating_avg, b.rating_count)
              ORDER BY p.user_id LIMIT 5) AS p
        JOIN booka.providers b USING (user_id);
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'check: the profiles'' book_count, rating_avg, rating_count differ from booka.providers: %', bad;
        END IF;
    END IF;

    RAISE NOTICE 'check: ok (% providers, % memberships)',
        (SELECT count(*) FROM booka.providers), (SELECT count(*) FROM booka.provider_categories);
END
$$;
