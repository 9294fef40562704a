-- a new provider signs up with one service
\set k random(1, 4611686018427387903)
WITH u AS (INSERT INTO users (email, user_type) VALUES ('bench-' || :k || '@marketplace.test', 'service_provider') RETURNING id),
     p AS (INSERT INTO service_provider_profiles (user_id, business_name) SELECT id, 'New act' FROM u RETURNING user_id)
INSERT INTO services (title, artist_id, service_category_id, price) SELECT 'Starter', user_id, 1 + :k % 12, 500 FROM p;
