-- 003: triggers that keep the denormalised list data of 002 exact on every write.
--
--   bookings, reviews  --(deltas)-->  service_provider_profiles.book_count / rating_sum / rating_count
--   services           --(resync of the touched providers)-->  min_price, provider_categories
--   service_provider_profiles  --(sort keys, location)-->  copies in provider_categories
--   service_provider_profiles, provider_categories  --(deltas per bucket)-->  provider_list_counts
--
-- Row sets are handled per statement through transition tables, so a bulk statement costs one pass.
-- Idempotent: functions and triggers are created or replaced.

-- Add count deltas to provider_list_counts, in the calling backend's shard. The rows are written in key order so
-- that concurrent writers cannot deadlock on them; zero deltas write nothing.
CREATE OR REPLACE FUNCTION booka_add_list_counts(categories integer[], buckets smallint[], deltas bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO provider_list_counts AS c (category_id, bucket, shard, n)
    SELECT d.category_id, d.bucket, (pg_backend_pid() % 8)::smallint, sum(d.delta)
    FROM unnest(categories, buckets, deltas) AS d (category_id, bucket, delta)
    GROUP BY d.category_id, d.bucket
    HAVING sum(d.delta) <> 0
    ORDER BY d.category_id, d.bucket
    ON CONFLICT (category_id, bucket, shard) DO UPDATE SET n = c.n + EXCLUDED.n
$$;

-- Bring min_price and the provider_categories rows of the given providers in line with their approved services.
-- The providers are locked first (in id order), so a concurrent booking or review waits and the sort keys copied
-- into new membership rows are the committed ones.
CREATE OR REPLACE FUNCTION booka_sync_provider_services(artists bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM service_provider_profiles WHERE user_id = ANY (artists) ORDER BY user_id FOR NO KEY UPDATE;

    UPDATE service_provider_profiles p
    SET min_price = (SELECT e.min_price FROM booka_expected_min_prices e WHERE e.user_id = p.user_id)
    WHERE p.user_id = ANY (artists)
      AND p.min_price IS DISTINCT FROM (SELECT e.min_price FROM booka_expected_min_prices e WHERE e.user_id = p.user_id);

    -- The anti-join's inner side is restricted to the same providers too: otherwise the planner may merge against
    -- the grouping of every approved service.
    DELETE FROM provider_categories m
    WHERE m.user_id = ANY (artists)
      AND NOT EXISTS (SELECT 1 FROM booka_expected_memberships e
                      WHERE e.user_id = ANY (artists) AND e.user_id = m.user_id AND e.category_id = m.category_id);

    INSERT INTO provider_categories AS m (user_id, category_id, min_price, book_count, rating_avg, rating_count,
                                          created_at, location)
    SELECT e.user_id, e.category_id, e.min_price, p.book_count, p.rating_avg, p.rating_count, p.created_at, p.location
    FROM booka_expected_memberships e
    JOIN service_provider_profiles p ON p.user_id = e.user_id
    WHERE e.user_id = ANY (artists)
    ORDER BY e.user_id, e.category_id
    ON CONFLICT (user_id, category_id) DO UPDATE SET min_price = EXCLUDED.min_price
        WHERE m.min_price IS DISTINCT FROM EXCLUDED.min_price;
END
$$;

-- services: any statement that touches an approved service (before or after) resyncs the providers involved.
CREATE OR REPLACE FUNCTION booka_on_services_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    artists bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT artist_id ORDER BY artist_id) INTO artists FROM new_rows WHERE status = 'approved';
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT artist_id ORDER BY artist_id) INTO artists FROM old_rows WHERE status = 'approved';
    ELSE
        SELECT array_agg(DISTINCT artist_id ORDER BY artist_id) INTO artists
        FROM (SELECT artist_id, status FROM old_rows UNION ALL SELECT artist_id, status FROM new_rows) AS r
        WHERE status = 'approved';
    END IF;
    IF artists IS NOT NULL THEN
        PERFORM booka_sync_provider_services(artists);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER services_list_sync_insert AFTER INSERT ON services
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_services_change();
CREATE OR REPLACE TRIGGER services_list_sync_update AFTER UPDATE ON services
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_services_change();
CREATE OR REPLACE TRIGGER services_list_sync_delete AFTER DELETE ON services
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_services_change();

-- bookings: book_count moves by the number of counted bookings (confirmed, completed) gained or lost per provider,
-- including a booking that changes status or provider.
CREATE OR REPLACE FUNCTION booka_on_bookings_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    artists bigint[];
    deltas integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(artist_id), array_agg(booka_booking_counts(status)) INTO artists, deltas FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(artist_id), array_agg(-booka_booking_counts(status)) INTO artists, deltas FROM old_rows;
    ELSE
        SELECT array_agg(artist_id), array_agg(delta) INTO artists, deltas
        FROM (SELECT artist_id, -booka_booking_counts(status) AS delta FROM old_rows
              UNION ALL
              SELECT artist_id, booka_booking_counts(status) FROM new_rows) AS r;
    END IF;
    UPDATE service_provider_profiles p SET book_count = p.book_count + d.delta
    FROM (SELECT artist_id, sum(delta) AS delta FROM unnest(artists, deltas) AS u (artist_id, delta)
          GROUP BY artist_id HAVING sum(delta) <> 0) AS d
    WHERE p.user_id = d.artist_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER bookings_book_count_insert AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_bookings_change();
CREATE OR REPLACE TRIGGER bookings_book_count_update AFTER UPDATE ON bookings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_bookings_change();
CREATE OR REPLACE TRIGGER bookings_book_count_delete AFTER DELETE ON bookings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_bookings_change();

-- reviews: rating_count and rating_sum move by what each provider gained or lost (rating_avg follows in the
-- provider's BEFORE trigger), including a review that changes rating or provider.
CREATE OR REPLACE FUNCTION booka_on_reviews_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    artists bigint[];
    counts integer[];
    sums bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(artist_id), array_agg(1), array_agg(rating) INTO artists, counts, sums FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(artist_id), array_agg(-1), array_agg(-rating) INTO artists, counts, sums FROM old_rows;
    ELSE
        SELECT array_agg(artist_id), array_agg(n), array_agg(rating) INTO artists, counts, sums
        FROM (SELECT artist_id, -1 AS n, -rating AS rating FROM old_rows
              UNION ALL
              SELECT artist_id, 1, rating FROM new_rows) AS r;
    END IF;
    UPDATE service_provider_profiles p
    SET rating_count = p.rating_count + d.count_delta, rating_sum = p.rating_sum + d.sum_delta
    FROM (SELECT artist_id, sum(n) AS count_delta, sum(rating) AS sum_delta
          FROM unnest(artists, counts, sums) AS u (artist_id, n, rating)
          GROUP BY artist_id HAVING sum(n) <> 0 OR sum(rating) <> 0) AS d
    WHERE p.user_id = d.artist_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER reviews_rating_insert AFTER INSERT ON reviews
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_reviews_change();
CREATE OR REPLACE TRIGGER reviews_rating_update AFTER UPDATE ON reviews
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_reviews_change();
CREATE OR REPLACE TRIGGER reviews_rating_delete AFTER DELETE ON reviews
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_reviews_change();

-- service_provider_profiles, before a row is written: the denormalised columns belong to the triggers. A write
-- that does not come from a trigger (depth 1) or from booka_rebuild_list_data() keeps them as they were (zero on
-- insert: a new provider has no bookings, reviews or services yet). rating_avg always follows rating_sum/count,
-- and updated_at moves on every update.
CREATE OR REPLACE FUNCTION booka_on_provider_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 AND current_setting('booka.rebuild', true) IS DISTINCT FROM 'on' THEN
        IF TG_OP = 'INSERT' THEN
            NEW.book_count := 0;
            NEW.rating_count := 0;
            NEW.rating_sum := 0;
            NEW.min_price := NULL;
        ELSE
            NEW.book_count := OLD.book_count;
            NEW.rating_count := OLD.rating_count;
            NEW.rating_sum := OLD.rating_sum;
            NEW.min_price := OLD.min_price;
        END IF;
    END IF;
    NEW.rating_avg := booka_rating_avg(NEW.rating_sum, NEW.rating_count);
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := greatest(clock_timestamp(), OLD.updated_at + interval '1 microsecond');
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER service_provider_profiles_write BEFORE INSERT OR UPDATE ON service_provider_profiles
    FOR EACH ROW EXECUTE FUNCTION booka_on_provider_write();

-- service_provider_profiles, after a sort key or the location changed: refresh the copies in provider_categories.
CREATE OR REPLACE FUNCTION booka_on_provider_list_keys_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE provider_categories
    SET book_count = NEW.book_count, rating_avg = NEW.rating_avg, rating_count = NEW.rating_count,
        created_at = NEW.created_at, location = NEW.location
    WHERE user_id = NEW.user_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER service_provider_profiles_list_keys AFTER UPDATE ON service_provider_profiles
    FOR EACH ROW
    WHEN (OLD.book_count IS DISTINCT FROM NEW.book_count OR OLD.rating_avg IS DISTINCT FROM NEW.rating_avg
          OR OLD.rating_count IS DISTINCT FROM NEW.rating_count OR OLD.created_at IS DISTINCT FROM NEW.created_at
          OR OLD.location IS DISTINCT FROM NEW.location)
    EXECUTE FUNCTION booka_on_provider_list_keys_change();

-- service_provider_profiles: whole-set counts (category 0) per price bucket of min_price.
CREATE OR REPLACE FUNCTION booka_on_provider_count_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    categories integer[];
    buckets smallint[];
    deltas bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(0), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT booka_price_bucket(min_price) AS bucket, count(*) AS n FROM new_rows GROUP BY 1) AS r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(0), array_agg(bucket), array_agg(-n) INTO categories, buckets, deltas
        FROM (SELECT booka_price_bucket(min_price) AS bucket, count(*) AS n FROM old_rows GROUP BY 1) AS r;
    ELSE
        SELECT array_agg(0), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT booka_price_bucket(min_price) AS bucket, -count(*) AS n FROM old_rows GROUP BY 1
              UNION ALL
              SELECT booka_price_bucket(min_price), count(*) FROM new_rows GROUP BY 1) AS r;
    END IF;
    PERFORM booka_add_list_counts(categories, buckets, deltas);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER service_provider_profiles_count_insert AFTER INSERT ON service_provider_profiles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_provider_count_change();
CREATE OR REPLACE TRIGGER service_provider_profiles_count_update AFTER UPDATE ON service_provider_profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION booka_on_provider_count_change();
CREATE OR REPLACE TRIGGER service_provider_profiles_count_delete AFTER DELETE ON service_provider_profiles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_provider_count_change();

-- provider_categories: per-category counts per price bucket of the category's lowest price.
CREATE OR REPLACE FUNCTION booka_on_membership_count_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    categories integer[];
    buckets smallint[];
    deltas bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(category_id), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT category_id, booka_price_bucket(min_price) AS bucket, count(*) AS n FROM new_rows GROUP BY 1, 2) AS r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(category_id), array_agg(bucket), array_agg(-n) INTO categories, buckets, deltas
        FROM (SELECT category_id, booka_price_bucket(min_price) AS bucket, count(*) AS n FROM old_rows GROUP BY 1, 2) AS r;
    ELSE
        SELECT array_agg(category_id), array_agg(bucket), array_agg(n) INTO categories, buckets, deltas
        FROM (SELECT category_id, booka_price_bucket(min_price) AS bucket, -count(*) AS n FROM old_rows GROUP BY 1, 2
              UNION ALL
              SELECT category_id, booka_price_bucket(min_price), count(*) FROM new_rows GROUP BY 1, 2) AS r;
    END IF;
    PERFORM booka_add_list_counts(categories, buckets, deltas);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER provider_categories_count_insert AFTER INSERT ON provider_categories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_membership_count_change();
CREATE OR REPLACE TRIGGER provider_categories_count_update AFTER UPDATE ON provider_categories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION booka_on_membership_count_change();
CREATE OR REPLACE TRIGGER provider_categories_count_delete AFTER DELETE ON provider_categories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_membership_count_change();

-- A category that goes away takes its (zero) counts with it.
CREATE OR REPLACE FUNCTION booka_on_category_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM provider_list_counts c USING old_rows o WHERE c.category_id = o.id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER service_categories_counts_delete AFTER DELETE ON service_categories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION booka_on_category_delete();
