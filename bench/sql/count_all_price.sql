-- Total and price buckets of the whole set filtered by price: a provider counts when it has an approved service
-- priced in [min, max], in the bucket of its lowest such price; counted from the services in the range.
-- pgbench -M extended -D min_price=1000 -D max_price=5000 -f THIS
SELECT booka_price_bucket(f.price) AS bucket, count(*) AS n
FROM (SELECT s.artist_id, min(s.price) AS price
      FROM services s
      WHERE s.status = 'approved' AND s.price >= :min_price::numeric AND s.price <= :max_price::numeric
      GROUP BY s.artist_id) AS f
GROUP BY 1;
