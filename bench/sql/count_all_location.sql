-- Total and price buckets of the whole set filtered by location (counted row by row):
-- pgbench -M extended -D location='cape town' -f THIS
SELECT booka_price_bucket(d.min_price) AS bucket, count(*) AS n
FROM service_provider_profiles d
WHERE d.location ILIKE '%' || replace(replace(replace(:location::text, '\', '\\'), '%', '\%'), '_', '\_') || '%'
GROUP BY 1;
