-- LEAN page of one category, sort=top_rated: pgbench -M extended -D page=N -D slug=dj -f THIS (docs/LIST-SQL.md)
\set limit 20
\set offset (:page - 1) * :limit
SELECT p.user_id, p.business_name, p.profile_picture_version,
       booka_rfc3339(p.created_at) AS created_at,
       booka_rfc3339(p.updated_at) AS updated_at
FROM (SELECT d.user_id, row_number() OVER (ORDER BY d.rating_avg DESC NULLS LAST, d.rating_count DESC, d.user_id DESC) AS rn
      FROM provider_categories d
      WHERE d.category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
        AND :offset < (SELECT coalesce(sum(n), 0) FROM provider_list_counts
                       WHERE category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug))
      ORDER BY d.rating_avg DESC NULLS LAST, d.rating_count DESC, d.user_id DESC
      LIMIT :limit OFFSET :offset) AS k
JOIN service_provider_profiles p ON p.user_id = k.user_id
ORDER BY k.rn;
