-- Total and price buckets of one category, no filter: pgbench -M extended -D slug=dj -f THIS
SELECT bucket, sum(n)::bigint AS n FROM provider_list_counts WHERE category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug) GROUP BY bucket;
