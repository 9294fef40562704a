-- LEAN page of the whole set, sort=most_booked: pgbench -M extended -D page=N -f THIS (docs/LIST-SQL.md)
\set limit 20
\set offset (:page - 1) * :limit
SELECT p.user_id, p.business_name, p.profile_picture_version,
       booka_rfc3339(p.created_at) AS created_at,
       booka_rfc3339(p.updated_at) AS updated_at
FROM (SELECT d.user_id, row_number() OVER (ORDER BY d.book_count DESC, d.user_id DESC) AS rn
      FROM service_provider_profiles d
      WHERE :offset < (SELECT coalesce(sum(n), 0) FROM provider_list_counts WHERE category_id = 0)
      ORDER BY d.book_count DESC, d.user_id DESC
      LIMIT :limit OFFSET :offset) AS k
JOIN service_provider_profiles p ON p.user_id = k.user_id
ORDER BY k.rn;
