-- Total and price buckets of one category with every filter (location, when, price): the providers with an approved
-- service in the category and the range, joined to the list rows that pass the other filters.
-- pgbench -M extended -D slug=dj -D location=gauteng -D when=2025-12-13 -D min_price=1000 -D max_price=5000 -f THIS
SELECT booka_price_bucket(f.price) AS bucket, count(*) AS n
FROM (SELECT s.artist_id, min(s.price) AS price
      FROM services s
      WHERE s.status = 'approved' AND s.service_category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
        AND s.price >= :min_price::numeric AND s.price <= :max_price::numeric
      GROUP BY s.artist_id) AS f
JOIN provider_categories d ON d.user_id = f.artist_id
WHERE d.category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
  AND d.location ILIKE '%' || replace(replace(replace(:location::text, '\', '\\'), '%', '\%'), '_', '\_') || '%'
  AND NOT EXISTS (SELECT 1 FROM bookings b
                  WHERE b.artist_id = d.user_id AND b.event_date = :when::date
                    AND b.status IN ('pending', 'confirmed'))
GROUP BY 1;
