-- Total and price buckets of one category filtered by price (one approved service in the category and the range):
-- pgbench -M extended -D slug=dj -D min_price=1000 -D max_price=5000 -f THIS
SELECT booka_price_bucket(f.price) AS bucket, count(*) AS n
FROM (SELECT s.artist_id, min(s.price) AS price
      FROM services s
      WHERE s.status = 'approved' AND s.service_category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
        AND s.price >= :min_price::numeric AND s.price <= :max_price::numeric
      GROUP BY s.artist_id) AS f
GROUP BY 1;
