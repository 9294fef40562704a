-- Total and price buckets of one category filtered by location: pgbench -M extended -D slug=dj -D location='cape town' -f THIS
SELECT booka_price_bucket(d.min_price) AS bucket, count(*) AS n
FROM provider_categories d
WHERE d.category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
  AND d.location ILIKE '%' || replace(replace(replace(:location::text, '\', '\\'), '%', '\%'), '_', '\_') || '%'
GROUP BY 1;
