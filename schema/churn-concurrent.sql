-- Concurrent writes for pgbench (several clients at once), to show that the triggers stay exact under concurrency:
-- pgbench -n -c 4 -T 30 --max-tries=10 -f schema/churn-concurrent.sql, then schema/check.sql.
-- Each transaction touches random bookings, services, reviews and providers of the generated id ranges; statements
-- that find no row do nothing. Deadlocks between the providers' counter rows are retried by pgbench.
\set p random(1, 10000)
\set q random(1, 10000)
\set b random(1, 50000)
\set s random(1, 50000)
\set r random(1, 50000)
BEGIN;
UPDATE bookings SET status = (ARRAY['pending', 'confirmed', 'completed', 'cancelled'])[1 + :b % 4] WHERE id = :b;
INSERT INTO bookings (artist_id, client_id, event_date, status)
SELECT p.user_id, (SELECT min(id) FROM users WHERE user_type = 'client'), date '2025-01-01' + :b % 365, 'confirmed'
FROM service_provider_profiles p WHERE p.user_id = :p;
UPDATE services SET status = (ARRAY['approved', 'pending', 'rejected'])[1 + :s % 3], price = price + 1 WHERE id = :s;
UPDATE services
SET service_category_id = (SELECT c.id FROM service_categories c ORDER BY c.id
                           OFFSET :r % (SELECT count(*) FROM service_categories) LIMIT 1)
WHERE id = :r;
UPDATE reviews SET rating = 1 + :b % 5 WHERE id = :r;
UPDATE reviews SET artist_id = p.user_id FROM service_provider_profiles p WHERE reviews.id = :b AND p.user_id = :q;
UPDATE service_provider_profiles SET location = CASE WHEN :b % 2 = 0 THEN 'Durban, KwaZulu-Natal' ELSE 'Paarl, Western Cape' END
WHERE user_id = :q;
END;
