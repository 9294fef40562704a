-- a provider adds a service (approved at once)
\set p random(1, :n)
INSERT INTO services (title, artist_id, service_category_id, price) VALUES ('Extra', :p, 1 + :p % 12, 250 + :p % 4000);
