-- Total and price buckets of one category less the providers busy on a date:
-- pgbench -M extended -D slug=dj -D when=2025-12-13 -f THIS
SELECT bucket, sum(n)::bigint AS n
FROM (SELECT bucket, n FROM provider_list_counts WHERE category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
      UNION ALL
      SELECT booka_price_bucket(d.min_price), -count(*)
      FROM provider_categories d
      WHERE d.category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
        AND d.user_id IN (SELECT b.artist_id FROM bookings b
                        WHERE b.event_date = :when::date AND b.status IN ('pending', 'confirmed'))
      GROUP BY 1) AS x
GROUP BY bucket;
