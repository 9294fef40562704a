-- a client reviews a provider
\set p random(1, :n)
INSERT INTO reviews (artist_id, rating) VALUES (:p, 1 + :p % 5);
