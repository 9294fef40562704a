-- a provider withdraws its last service but the first (bookings point at the first: spec/support/marketplace/data.sql)
\set p random(1, :n)
DELETE FROM services
WHERE id = (SELECT id FROM services WHERE artist_id = :p AND id <> (:p - 1) * 3 + 1 ORDER BY id DESC LIMIT 1);
