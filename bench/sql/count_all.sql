-- Total and price buckets of the whole set, no filter: rows (bucket, n); total = sum(n), buckets 0..5 = price_distribution.
SELECT bucket, sum(n)::bigint AS n FROM provider_list_counts WHERE category_id = 0 GROUP BY bucket;
