-- Deterministic demo and scale data for N providers: psql -v n=N, plus the avatar data: URLs avatar_1 .. avatar_6
-- that schema/seed.sh makes and passes in. Replaces every row of every table. Same N, same rows: every value is a
-- function of row numbers through hashint8extended (stable across platforms), nothing reads the clock or random().
--
-- Shape for N providers: 30 categories; N provider users + N/2 clients; 1-5 services per provider (mostly approved,
-- some pending or rejected) with category-dependent prices over all price buckets; 5N bookings from 2023 to 2026
-- with a heavy skew (the top 0.5% of providers take more than half); a review for about half of the
-- completed bookings; South African towns; avatars ~30% data: URLs, ~40% /static/profile_pics/demo-NNN.(jpg|png)
-- (schema/make-media.sh creates those files), ~30% none.
--
-- The load runs in one transaction with session_replication_role = replica (no triggers, no FK checks: rows are
-- consistent by construction), with the secondary indexes dropped and rebuilt at the end, and the denormalised data
-- computed set-based: DATA-MODEL's counters on the provider insert, the list data by booka.rebuild_list_data().
-- The database must be one whose tables the project created (schema/migrate.sh on an empty database).
\set ON_ERROR_STOP on
\if :{?n}
\else
    \warn 'generate.sql: pass the provider count, e.g. psql -v n=10000 (schema/seed.sh N does it)'
    SELECT 1 / 0 AS missing_variable_n;
\endif
\if :{?avatar_6}
\else
    \warn 'generate.sql: avatar_1 .. avatar_6 (data: URLs) are missing: run it through schema/seed.sh'
    SELECT 1 / 0 AS missing_avatar_variables;
\endif

BEGIN;
SET LOCAL session_replication_role = replica;
SET LOCAL work_mem = '256MB';
SET LOCAL client_min_messages = warning;

-- A uniform number in [0, 1) and an integer in [0, m) for row key k and stream salt.
CREATE FUNCTION pg_temp.rnd(k bigint, salt integer) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashint8extended(k, salt) & 4503599627370495)::float8 / 4503599627370496
$$;
CREATE FUNCTION pg_temp.pick(k bigint, salt integer, m integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor(pg_temp.rnd(k, salt) * m)::integer
$$;
-- How many services provider i has (1..5); service j of provider i has id (i - 1) * 5 + j.
CREATE FUNCTION pg_temp.service_count(i bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1 + pg_temp.pick(i, 1, 5)
$$;
CREATE FUNCTION pg_temp.provider_created(i bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT timestamptz '2025-06-01 00:00:00+00'
           - make_interval(days => pg_temp.pick(i, 41, 1500), secs => pg_temp.pick(i, 42, 86400) + (i % 997) / 1000.0)
$$;

TRUNCATE users, service_provider_profiles, service_categories, services, bookings, reviews, booka.providers,
    booka.provider_categories, booka.provider_list_counts RESTART IDENTITY;

-- Drop the secondary indexes now and rebuild them from their own definitions after the load.
CREATE TEMP TABLE seed_dropped_indexes ON COMMIT DROP AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
WHERE i.indrelid IN ('users'::regclass, 'service_provider_profiles'::regclass, 'service_categories'::regclass,
                     'services'::regclass, 'bookings'::regclass, 'reviews'::regclass,
                     'booka.providers'::regclass, 'booka.provider_categories'::regclass,
                     'booka.provider_list_counts'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
DO $$
DECLARE
    idx record;
BEGIN
    FOR idx IN SELECT name FROM seed_dropped_indexes LOOP
        EXECUTE 'DROP INDEX ' || idx.name;
    END LOOP;
END
$$;

CREATE TEMP TABLE seed_categories (id integer, name text, weight integer, base_price numeric, noun text) ON COMMIT DROP;
INSERT INTO seed_categories VALUES
    (1, 'DJ', 14, 3000, 'Beats'), (2, 'Sound Service', 8, 4500, 'Sound'), (3, 'Musician', 12, 2500, 'Music'),
    (4, 'Photographer', 12, 3500, 'Photography'), (5, 'Videographer', 8, 5000, 'Films'),
    (6, 'MC & Host', 6, 2000, 'Events'), (7, 'Caterer', 7, 8000, 'Kitchen'), (8, 'Bartender', 4, 1500, 'Bar Co.'),
    (9, 'Wedding Planner', 4, 12000, 'Weddings'), (10, 'Event Decor', 5, 6000, 'Decor'), (11, 'Florist', 4, 2500, 'Flowers'),
    (12, 'Make-up Artist', 6, 1200, 'Beauty'), (13, 'Hair Stylist', 4, 900, 'Hair'), (14, 'Lighting', 4, 4000, 'Lighting'),
    (15, 'Stage Hire', 2, 9000, 'Staging'), (16, 'Tent Hire', 3, 7000, 'Marquees'), (17, 'Furniture Hire', 3, 3000, 'Hire'),
    (18, 'Photo Booth', 4, 2500, 'Booths'), (19, 'Dancer', 3, 1500, 'Dance'), (20, 'Comedian', 2, 3000, 'Comedy'),
    (21, 'Magician', 2, 2000, 'Magic'), (22, 'Face Painter', 2, 600, 'Faces'), (23, 'Jumping Castle', 3, 800, 'Castles'),
    (24, 'Cake Baker', 4, 1500, 'Cakes'), (25, 'Security', 2, 3500, 'Security'), (26, 'Transport', 2, 4000, 'Shuttles'),
    (27, 'Live Band', 5, 9000, 'Band'), (28, 'Choir', 2, 5000, 'Voices'), (29, 'Drone Operator', 2, 4500, 'Aerial'),
    (30, 'Event Staffing', 2, 2500, 'Crew');
INSERT INTO service_categories (id, name) SELECT id, name FROM seed_categories;

-- Weighted draws are an index into a "wheel" that repeats each choice by its weight.
SELECT array_agg(id ORDER BY id, k)::text AS category_wheel, count(*) AS category_wheel_len
FROM seed_categories, generate_series(1, weight) AS k \gset

SELECT array_agg(town ORDER BY ord, k)::text AS town_wheel, count(*) AS town_wheel_len
FROM (VALUES (1, 'Johannesburg, Gauteng', 12), (2, 'Cape Town, Western Cape', 12), (3, 'Durban, KwaZulu-Natal', 9),
             (4, 'Pretoria, Gauteng', 8), (5, 'Soweto, Gauteng', 4), (6, 'Sandton, Gauteng', 4),
             (7, 'Gqeberha, Eastern Cape', 4), (8, 'Bloemfontein, Free State', 3), (9, 'Stellenbosch, Western Cape', 3),
             (10, 'Centurion, Gauteng', 3), (11, 'East London, Eastern Cape', 2), (12, 'Pietermaritzburg, KwaZulu-Natal', 2),
             (13, 'Paarl, Western Cape', 2), (14, 'George, Western Cape', 2), (15, 'Polokwane, Limpopo', 2),
             (16, 'Mbombela, Mpumalanga', 2), (17, 'Rustenburg, North West', 2), (18, 'Midrand, Gauteng', 2),
             (19, 'Umhlanga, KwaZulu-Natal', 2), (20, 'Somerset West, Western Cape', 2), (21, 'Knysna, Western Cape', 1),
             (22, 'Hermanus, Western Cape', 1), (23, 'Kimberley, Northern Cape', 1), (24, 'Upington, Northern Cape', 1),
             (25, 'Ballito, KwaZulu-Natal', 1), (26, 'Richards Bay, KwaZulu-Natal', 1), (27, 'Mahikeng, North West', 1),
             (28, 'Potchefstroom, North West', 1), (29, 'Franschhoek, Western Cape', 1), (30, 'Makhanda, Eastern Cape', 1),
             (31, 'Mthatha, Eastern Cape', 1), (32, 'Welkom, Free State', 1), (33, 'Emalahleni, Mpumalanga', 1),
             (34, 'Vanderbijlpark, Gauteng', 1)) AS t (ord, town, weight),
     generate_series(1, weight) AS k \gset

\set first_names '''{Thabo,Lerato,Sipho,Naledi,Johan,Annelie,Pieter,Zanele,Ayanda,Kagiso,Nomvula,Themba,Lindiwe,Mandla,Refilwe,Bongani,Karabo,Palesa,Tshepo,Lwazi,Riaan,Chantelle,Fatima,Yusuf,Priya,Kavitha,Michael,Sarah,David,Emma}''::text[]'
\set last_names '''{Nkosi,Dlamini,Mokoena,Naidoo,"van der Merwe",Botha,Ndlovu,Khumalo,Pillay,Mthembu,Smith,Jacobs,Petersen,Mahlangu,Sithole,Zulu,Pretorius,Coetzee,Adams,Williams,Ngcobo,Molefe,Govender,Daniels,Fourie}''::text[]'
\set brands '''{Ubuntu,Jozi,Karoo,Kalahari,Protea,Baobab,Savanna,Highveld,Lowveld,"Golden Hour","Blue Crane",Springbok,Fynbos,Marula,Jacaranda,Umoja,Mzansi,Sunset,Lekker,Indaba,Shosholoza,"Table Bay",Drakensberg,Zambezi,Acacia}''::text[]'
\set subtitles '''{"Weddings, corporate and private events","Available nationwide","Over 10 years of experience","Book early for December","Fully insured and vetted","Weekends and public holidays","Small venues to stadiums","Township to boardroom"}''::text[]'
\set packages '''{"Standard package","Half day","Full day","Premium package","Wedding package","Corporate event","Hourly rate","Kids party"}''::text[]'
\set comments '''{"Absolutely amazing, everyone is still talking about it!","Professional and on time.","Great value for money.","Good, but arrived a little late.","Would book again in a heartbeat.","The dance floor never emptied.","Lovely to work with, very flexible.","Not quite what we expected."}''::text[]'
SELECT greatest(50, :n / 2) AS clients \gset

-- Users: providers are 1..N, clients N+1..N+clients.
INSERT INTO users (id, email, first_name, last_name, user_type, created_at)
SELECT i, 'provider' || i || '@demo.booka.co.za',
       (:first_names)[1 + pg_temp.pick(i, 2, 30)], (:last_names)[1 + pg_temp.pick(i, 3, 25)],
       'service_provider', pg_temp.provider_created(i) - interval '1 hour'
FROM generate_series(1, :n) AS i;

INSERT INTO users (id, email, first_name, last_name, user_type, created_at)
SELECT :n + j, 'client' || j || '@demo.booka.co.za',
       (:first_names)[1 + pg_temp.pick(:n + j, 2, 30)], (:last_names)[1 + pg_temp.pick(:n + j, 3, 25)],
       'client', timestamptz '2025-06-01 00:00:00+00' - make_interval(days => pg_temp.pick(j, 4, 1200), secs => pg_temp.pick(j, 5, 86400))
FROM generate_series(1, :clients) AS j;

-- Services: the first is in the provider's main category and nearly always approved.
INSERT INTO services (id, artist_id, service_category_id, title, price, status)
SELECT s.id, s.i, c.id, c.name || ' - ' || (:packages)[1 + pg_temp.pick(s.id, 13, 8)],
       greatest(100, round(c.base_price * (0.2 + 2.6 * pg_temp.rnd(s.id, 14) ^ 2) / 50) * 50),
       CASE WHEN s.u < (CASE WHEN s.j = 1 THEN 0.93 ELSE 0.80 END) THEN 'approved'
            WHEN s.u < (CASE WHEN s.j = 1 THEN 0.98 ELSE 0.93 END) THEN 'pending'
            ELSE 'rejected' END
FROM (SELECT i, j, (i - 1) * 5 + j AS id, pg_temp.rnd((i - 1) * 5 + j, 15) AS u,
             (:'category_wheel'::integer[])[1 + pg_temp.pick(CASE WHEN j = 1 THEN i ELSE (i - 1) * 5 + j END,
                                                             CASE WHEN j = 1 THEN 11 ELSE 12 END, :category_wheel_len)] AS category_id
      FROM generate_series(1, :n) AS i, generate_series(1, pg_temp.service_count(i)) AS j) AS s
JOIN seed_categories c ON c.id = s.category_id;

-- Bookings: provider by popularity rank, 55% among the top 0.5% of providers and the rest among all, both skewed
-- (rank ~ size * u^2); ranks spread over ids by a multiplicative step.
INSERT INTO bookings (id, artist_id, client_id, service_id, event_date, status, created_at)
SELECT b, a, :n + 1 + pg_temp.pick(b, 22, :clients), (a - 1) * 5 + 1 + pg_temp.pick(b, 23, pg_temp.service_count(a)),
       d,
       CASE WHEN d < date '2025-06-01'
            THEN CASE WHEN u < 0.75 THEN 'completed' WHEN u < 0.93 THEN 'cancelled' ELSE 'confirmed' END
            ELSE CASE WHEN u < 0.35 THEN 'pending' WHEN u < 0.90 THEN 'confirmed' ELSE 'cancelled' END END,
       (d - (1 + pg_temp.pick(b, 26, 120)))::timestamp AT TIME ZONE 'UTC' + make_interval(secs => pg_temp.pick(b, 27, 86400))
FROM generate_series(1, 5 * :n::bigint) AS b,
     LATERAL (SELECT 1 + (floor(CASE WHEN pg_temp.rnd(b, 20) < 0.55 THEN greatest(1, :n / 200) ELSE :n END
                                * pg_temp.rnd(b, 21) ^ 2)::bigint * 48271) % :n AS a,
                     date '2023-01-01' + pg_temp.pick(b, 24, 1461) AS d,
                     pg_temp.rnd(b, 25) AS u) AS x;

-- Reviews for about half of the completed bookings; each provider has a quality that shifts its ratings.
INSERT INTO reviews (id, artist_id, booking_id, rating, comment, created_at)
SELECT b.id, b.artist_id, b.id,
       CASE WHEN r.u < 0.02 + 0.06 * r.q THEN 1
            WHEN r.u < 0.06 + 0.12 * r.q THEN 2
            WHEN r.u < 0.16 + 0.22 * r.q THEN 3
            WHEN r.u < 0.46 + 0.30 * r.q THEN 4
            ELSE 5 END,
       CASE WHEN pg_temp.rnd(b.id, 35) < 0.7 THEN (:comments)[1 + pg_temp.pick(b.id, 36, 8)] END,
       b.event_date::timestamp AT TIME ZONE 'UTC' + make_interval(days => 1 + pg_temp.pick(b.id, 37, 14), secs => pg_temp.pick(b.id, 38, 86400))
FROM bookings b,
     LATERAL (SELECT pg_temp.rnd(b.id, 32) AS u, pg_temp.rnd(b.artist_id, 34) AS q) AS r
WHERE b.status = 'completed' AND pg_temp.rnd(b.id, 31) < 0.5;

-- Providers last, with their counters computed from what was loaded above.
INSERT INTO service_provider_profiles (user_id, business_name, custom_subtitle, description, location, hourly_rate,
                                       price_visible, profile_picture_url, book_count, rating_count, rating_avg,
                                       created_at, updated_at)
SELECT i,
       CASE WHEN pg_temp.rnd(i, 51) < 0.25
            THEN u.first_name || ' ' || u.last_name || ' ' || c.noun
            ELSE (:brands)[1 + pg_temp.pick(i, 52, 25)] || ' ' || c.noun END,
       CASE WHEN pg_temp.rnd(i, 53) < 0.7 THEN (:subtitles)[1 + pg_temp.pick(i, 54, 8)] END,
       c.name || ' based in ' || split_part(t.town, ',', 1) || '. ' || (:subtitles)[1 + pg_temp.pick(i, 55, 8)] || '.',
       CASE WHEN pg_temp.rnd(i, 56) < 0.02 THEN NULL ELSE t.town END,
       CASE WHEN pg_temp.rnd(i, 57) < 0.2 THEN NULL ELSE 250 + 50 * pg_temp.pick(i, 58, 96) END,
       pg_temp.rnd(i, 59) < 0.9,
       CASE WHEN a.u < 0.3
            THEN CASE WHEN pg_temp.rnd(i, 61) < 0.002 THEN :'avatar_6'
                      ELSE (ARRAY[:'avatar_1', :'avatar_2', :'avatar_3', :'avatar_4', :'avatar_5'])[1 + pg_temp.pick(i, 62, 5)] END
            WHEN a.u < 0.7
            THEN '/static/profile_pics/demo-' || lpad(a.media::text, 3, '0') || CASE WHEN a.media % 6 = 0 THEN '.png' ELSE '.jpg' END
       END,
       coalesce(bc.book_count, 0), coalesce(r.rating_count, 0),
       booka.rating_avg(coalesce(r.rating_sum, 0), coalesce(r.rating_count, 0)),
       pg_temp.provider_created(i),
       pg_temp.provider_created(i)
           + (timestamptz '2025-06-01 00:00:00+00' - pg_temp.provider_created(i)) * pg_temp.rnd(i, 63)
FROM generate_series(1, :n) AS i
JOIN users u ON u.id = i
JOIN seed_categories c ON c.id = (:'category_wheel'::integer[])[1 + pg_temp.pick(i, 11, :category_wheel_len)]
CROSS JOIN LATERAL (SELECT (:'town_wheel'::text[])[1 + pg_temp.pick(i, 60, :town_wheel_len)] AS town) AS t
CROSS JOIN LATERAL (SELECT pg_temp.rnd(i, 64) AS u, 1 + pg_temp.pick(i, 65, 24) AS media) AS a
LEFT JOIN booka.expected_book_counts bc ON bc.user_id = i
LEFT JOIN booka.expected_ratings r ON r.user_id = i;

-- The list data (booka.providers, memberships, counts); then the ids continue after the generated ones, and the
-- dropped indexes come back.
DO $$
DECLARE
    t text;
    idx record;
BEGIN
    PERFORM booka.rebuild_list_data();
    FOREACH t IN ARRAY ARRAY['users', 'service_categories', 'services', 'bookings', 'reviews'] LOOP
        EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), coalesce(max(id), 0) + 1, false) FROM %I', t, t);
    END LOOP;
    FOR idx IN SELECT definition FROM seed_dropped_indexes LOOP
        EXECUTE idx.definition;
    END LOOP;
END
$$;

COMMIT;
