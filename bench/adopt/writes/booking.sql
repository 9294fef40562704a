-- the marketplace books a provider (confirmed: it counts towards book_count)
\set p random(1, :n)
\set c random(:n + 1, :n + :clients)
INSERT INTO bookings (client_id, artist_id, status, event_date) VALUES (:c, :p, 'confirmed', date '2025-09-01' + :p % 200);
