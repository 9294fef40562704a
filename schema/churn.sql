-- Random writes that exercise every trigger path, for schema/check.sql to verify afterwards:
-- psql -v seed=0.42 -v rounds=3000 -f schema/churn.sql (both optional). Needs loaded data (schema/seed.sh).
-- Single-row and multi-row inserts, updates and deletes of bookings (status changes, moves between providers),
-- reviews (rating changes, moves), services (status, category, price, provider moves, deletes), providers (sort
-- keys, location, writes to the protected counters, new providers, deletions) and categories. Deterministic for a seed.
\set ON_ERROR_STOP on
\if :{?seed}
\else
    \set seed 0.42
\endif
\if :{?rounds}
\else
    \set rounds 3000
\endif
SELECT setseed(:seed) \g /dev/null
SET booka_churn.rounds = :rounds;

CREATE FUNCTION pg_temp.any_provider() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((SELECT user_id FROM service_provider_profiles
                     WHERE user_id >= (SELECT (random() * max(user_id))::bigint FROM service_provider_profiles)
                     ORDER BY user_id LIMIT 1),
                    (SELECT min(user_id) FROM service_provider_profiles))
$$;
CREATE FUNCTION pg_temp.any_row(tab regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    found bigint;
BEGIN
    EXECUTE format('SELECT coalesce((SELECT id FROM %s WHERE id >= (SELECT (random() * max(id))::bigint FROM %s)
                                      ORDER BY id LIMIT 1), (SELECT min(id) FROM %s))', tab, tab, tab) INTO found;
    RETURN found;
END
$$;
CREATE FUNCTION pg_temp.any_category() RETURNS integer LANGUAGE sql AS $$
    SELECT id FROM service_categories ORDER BY id OFFSET floor(random() * (SELECT count(*) FROM service_categories)) LIMIT 1
$$;
CREATE FUNCTION pg_temp.any_of(choices text[]) RETURNS text LANGUAGE sql AS $$
    SELECT choices[1 + floor(random() * cardinality(choices))::integer]
$$;

DO $$
DECLARE
    rounds integer := current_setting('booka_churn.rounds')::integer;
    op integer;
    k integer;
    p bigint;
    q bigint;
    row_id bigint;
    booking bigint;
    review bigint;
    service bigint;
    cat integer;
    client bigint := (SELECT min(id) FROM users WHERE user_type = 'client');
BEGIN
    FOR round IN 1 .. rounds LOOP
        op := floor(random() * 24)::integer;
        p := pg_temp.any_provider();
        q := pg_temp.any_provider();
        -- picked before the statements: a volatile call in WHERE would run once per scanned row
        booking := pg_temp.any_row('bookings');
        review := pg_temp.any_row('reviews');
        service := pg_temp.any_row('services');
        CASE op
        WHEN 0, 1 THEN  -- new booking, any status
            INSERT INTO bookings (artist_id, client_id, service_id, event_date, status)
            VALUES (p, client, (SELECT min(id) FROM services WHERE artist_id = p),
                    date '2025-01-01' + floor(random() * 365)::integer,
                    pg_temp.any_of('{pending,confirmed,completed,cancelled}'));
        WHEN 2, 3 THEN  -- booking status change
            UPDATE bookings SET status = pg_temp.any_of('{pending,confirmed,completed,cancelled}')
            WHERE id = booking;
        WHEN 4 THEN  -- booking moves to another provider (its review stays with the first)
            UPDATE bookings SET artist_id = q, service_id = NULL WHERE id = booking;
        WHEN 5 THEN  -- booking deleted, with its review
            row_id := booking;
            DELETE FROM reviews WHERE booking_id = row_id;
            DELETE FROM bookings WHERE id = row_id;
        WHEN 6, 7 THEN  -- review of a booking that has none
            row_id := (SELECT b.id FROM bookings b WHERE b.id >= booking
                       AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.booking_id = b.id) ORDER BY b.id LIMIT 1);
            INSERT INTO reviews (artist_id, booking_id, rating)
            SELECT artist_id, id, 1 + floor(random() * 5)::integer FROM bookings WHERE id = row_id;
        WHEN 8 THEN  -- rating change, or the review moves provider
            IF random() < 0.5 THEN
                UPDATE reviews SET rating = 1 + floor(random() * 5)::integer WHERE id = review;
            ELSE
                UPDATE reviews SET artist_id = q, rating = 1 + floor(random() * 5)::integer WHERE id = review;
            END IF;
        WHEN 9 THEN
            DELETE FROM reviews WHERE id = review;
        WHEN 10, 11 THEN  -- new service, any status, maybe without category
            INSERT INTO services (artist_id, service_category_id, title, price, status)
            VALUES (p, CASE WHEN random() < 0.95 THEN pg_temp.any_category() END, 'churn',
                    round((random() * 15000)::numeric, 2), pg_temp.any_of('{approved,approved,pending,rejected}'));
        WHEN 12, 13 THEN  -- service status change
            UPDATE services SET status = pg_temp.any_of('{approved,pending,rejected}') WHERE id = service;
        WHEN 14 THEN  -- service category move (sometimes to none)
            UPDATE services SET service_category_id = CASE WHEN random() < 0.9 THEN pg_temp.any_category() END
            WHERE id = service;
        WHEN 15 THEN  -- service price change
            UPDATE services SET price = round((random() * 15000)::numeric, 2) WHERE id = service;
        WHEN 16 THEN  -- service moves to another provider
            UPDATE services SET artist_id = q WHERE id = service;
        WHEN 17 THEN  -- service deleted (bookings keep no reference)
            row_id := service;
            UPDATE bookings SET service_id = NULL WHERE service_id = row_id;
            DELETE FROM services WHERE id = row_id;
        WHEN 18 THEN  -- provider edits: sort keys and location, plus writes to counters that must not stick
            UPDATE service_provider_profiles
            SET location = pg_temp.any_of('{"Cape Town, Western Cape","Durban, KwaZulu-Natal","100% Fun_Town\\",NULL}'),
                created_at = created_at - interval '1 day', business_name = business_name || '.',
                book_count = 999999, rating_avg = 1.23, rating_count = 7
            WHERE user_id = p;
        WHEN 19 THEN  -- new provider with two services
            INSERT INTO users (email, user_type) VALUES ('churn-' || round || '-' || random() || '@example.com', 'service_provider')
            RETURNING id INTO row_id;
            INSERT INTO service_provider_profiles (user_id, business_name, location, book_count, rating_count)
            VALUES (row_id, 'Churn ' || round, 'Soweto, Gauteng', 50, 5);
            INSERT INTO services (artist_id, service_category_id, title, price, status)
            VALUES (row_id, pg_temp.any_category(), 'a', 100 + round, 'approved'),
                   (row_id, pg_temp.any_category(), 'b', 20000 - round, pg_temp.any_of('{approved,pending}'));
        WHEN 20 THEN  -- provider deleted with everything that references it
            DELETE FROM reviews
            WHERE artist_id = p
               OR booking_id IN (SELECT id FROM bookings
                                 WHERE artist_id = p OR service_id IN (SELECT id FROM services WHERE artist_id = p));
            DELETE FROM bookings WHERE artist_id = p OR service_id IN (SELECT id FROM services WHERE artist_id = p);
            IF random() < 0.5 THEN
                DELETE FROM service_provider_profiles WHERE user_id = p;
            ELSE
                DELETE FROM users WHERE id = p;  -- cascades to the profile and its services
            END IF;
        WHEN 21 THEN  -- multi-row statements across many providers
            k := floor(random() * 97)::integer;
            UPDATE bookings SET status = pg_temp.any_of('{pending,confirmed,completed,cancelled}') WHERE id % 97 = k;
            UPDATE services SET status = CASE status WHEN 'approved' THEN 'pending' ELSE 'approved' END,
                                price = price + 1 WHERE id % 211 = k;
            DELETE FROM reviews WHERE id % 401 = k;
        WHEN 22 THEN  -- many services change category and provider at once
            k := floor(random() * 307)::integer;
            cat := pg_temp.any_category();
            UPDATE services SET service_category_id = cat, artist_id = CASE WHEN random() < 0.3 THEN q ELSE artist_id END
            WHERE id % 307 = k;
        ELSE  -- a category is created, used, emptied and dropped
            INSERT INTO service_categories (name) VALUES ('Churn Cat ' || round) RETURNING id INTO cat;
            UPDATE services SET service_category_id = cat WHERE artist_id IN (p, q);
            IF random() < 0.5 THEN
                UPDATE services SET service_category_id = pg_temp.any_category() WHERE service_category_id = cat;
                UPDATE services SET service_category_id = 1 WHERE service_category_id = cat;
                DELETE FROM service_categories WHERE id = cat;
            END IF;
        END CASE;
    END LOOP;
END
$$;
