-- Rows for the marketplace database of schema.sql: psql -v n=N (providers). Deterministic (hashint8extended of row
-- numbers, no clock, no random()): 12 categories, N providers and N/4 clients, 1-3 services per provider, 4N bookings
-- skewed towards a few providers, a review for about half of the completed ones, pictures in every form (none, media
-- path, https URL, small data: URL). A bulk load: the application's triggers are off (session_replication_role,
-- which needs a superuser) and its counters are set at the end.
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL session_replication_role = replica;
SET LOCAL work_mem = '256MB';

CREATE FUNCTION pg_temp.rnd(k bigint, salt integer) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT (hashint8extended(k, salt) & 4503599627370495)::float8 / 4503599627370496
$$;
SELECT greatest(20, :n / 4) AS clients \gset

INSERT INTO service_categories (id, name, icon, sort_order)
SELECT id, name, lower(left(name, 3)), id FROM unnest(ARRAY['DJ', 'Sound Service', 'Musician', 'Photographer',
    'MC & Host', 'Make-up Artist', 'Live Band', 'Caterer', 'Videographer', 'Event Decor', 'Lighting', 'Photo Booth'])
    WITH ORDINALITY AS c (name, id);

INSERT INTO users (id, email, user_type, first_name, last_name, phone, created_at)
SELECT i, 'artist' || i || '@marketplace.test', 'service_provider', 'Artist', 'No. ' || i, '+27 82 ' || (1000000 + i),
       timestamptz '2024-01-01 00:00:00+00' + make_interval(mins => i)
FROM generate_series(1, :n) AS i;
INSERT INTO users (id, email, user_type, first_name, last_name)
SELECT :n + j, 'client' || j || '@marketplace.test', 'client', 'Client', 'No. ' || j
FROM generate_series(1, :clients) AS j;

INSERT INTO service_provider_profiles (user_id, business_name, instagram_handle, location, description, custom_subtitle,
                                       hourly_rate, price_visible, profile_picture_url, verified, created_at, updated_at)
SELECT i, CASE WHEN pg_temp.rnd(i, 1) < 0.03 THEN NULL ELSE 'Act ' || i END, '@act' || i,
       (ARRAY['Cape Town, Western Cape', 'Johannesburg, Gauteng', 'Durban, KwaZulu-Natal', 'Pretoria, Gauteng',
              'Stellenbosch, Western Cape', NULL])[1 + floor(pg_temp.rnd(i, 2) * 6)::integer],
       'About act ' || i, CASE WHEN pg_temp.rnd(i, 3) < 0.5 THEN 'Weddings and parties' END,
       CASE WHEN pg_temp.rnd(i, 4) < 0.8 THEN 300 + 50 * floor(pg_temp.rnd(i, 5) * 40) END, pg_temp.rnd(i, 6) < 0.9,
       CASE floor(pg_temp.rnd(i, 7) * 4)::integer
           WHEN 0 THEN NULL
           WHEN 1 THEN '/static/profile_pics/m' || i || '.jpg'
           WHEN 2 THEN 'https://cdn.marketplace.test/avatars/' || i || '.png'
           ELSE 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
       END,
       pg_temp.rnd(i, 8) < 0.3,
       timestamptz '2025-06-01 00:00:00+00' - make_interval(days => floor(pg_temp.rnd(i, 9) * 500)::integer,
                                                           secs => floor(pg_temp.rnd(i, 10) * 86400)),
       timestamptz '2025-06-02 00:00:00+00' + make_interval(secs => i)
FROM generate_series(1, :n) AS i;

INSERT INTO services (id, title, artist_id, service_category_id, price, status, duration_minutes)
SELECT (i - 1) * 3 + j, 'Package ' || j, i, 1 + floor(pg_temp.rnd((i - 1) * 3 + j, 11) * 12)::integer,
       100 + 50 * floor(pg_temp.rnd((i - 1) * 3 + j, 12) * 300),
       CASE WHEN pg_temp.rnd((i - 1) * 3 + j, 13) < 0.85 THEN 'approved'
            WHEN pg_temp.rnd((i - 1) * 3 + j, 13) < 0.95 THEN 'pending' ELSE 'rejected' END,
       60 * (1 + j)
FROM generate_series(1, :n) AS i, generate_series(1, 1 + floor(pg_temp.rnd(i, 14) * 3)::integer) AS j;

INSERT INTO bookings (id, client_id, artist_id, service_id, status, event_date, total_price)
SELECT b, :n + 1 + floor(pg_temp.rnd(b, 20) * :clients)::bigint, a, (a - 1) * 3 + 1,
       (ARRAY['pending', 'confirmed', 'completed', 'completed', 'cancelled'])[1 + floor(pg_temp.rnd(b, 21) * 5)::integer],
       date '2025-01-01' + floor(pg_temp.rnd(b, 22) * 540)::integer, 500 + b % 5000
FROM generate_series(1, 4 * :n::bigint) AS b,
     LATERAL (SELECT 1 + floor(:n * pg_temp.rnd(b, 23) ^ 3)::bigint AS a) AS x;

INSERT INTO reviews (id, booking_id, artist_id, rating, comment)
SELECT b.id, b.id, b.artist_id, 1 + floor(pg_temp.rnd(b.id, 30) * 5)::integer,
       CASE WHEN pg_temp.rnd(b.id, 31) < 0.5 THEN 'Great set' END
FROM bookings b
WHERE b.status = 'completed' AND pg_temp.rnd(b.id, 32) < 0.5;

INSERT INTO payouts (artist_id, amount, paid_at)
SELECT i, 1000 + i % 900, timestamptz '2025-05-01 00:00:00+00' FROM generate_series(1, :n, 7) AS i;

UPDATE service_provider_profiles p
SET book_count = coalesce(b.n, 0), rating_count = coalesce(r.n, 0), rating_avg = r.avg
FROM service_provider_profiles q
LEFT JOIN (SELECT artist_id, count(*) AS n FROM bookings WHERE status IN ('confirmed', 'completed') GROUP BY 1) AS b
    ON b.artist_id = q.user_id
LEFT JOIN (SELECT artist_id, count(*) AS n, round(avg(rating), 2) AS avg FROM reviews GROUP BY 1) AS r
    ON r.artist_id = q.user_id
WHERE p.user_id = q.user_id;

-- the ids go on after the loaded ones
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'service_categories', 'services', 'bookings', 'reviews', 'payouts'] LOOP
        EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), (SELECT coalesce(max(id), 0) + 1 FROM %I), false)',
                       t, t);
    END LOOP;
END
$$;
COMMIT;
ANALYZE;
