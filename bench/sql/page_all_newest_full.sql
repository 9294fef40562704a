-- FULL page of the whole set (every field), sort=newest: pgbench -M extended -D page=N -f THIS
\set limit 20
\set offset (:page - 1) * :limit
SELECT p.user_id, p.business_name, p.custom_subtitle, p.profile_picture_version,
       p.hourly_rate::text AS hourly_rate, p.price_visible, p.rating_avg::text AS rating, p.rating_count,
       p.book_count, p.location, coalesce(sc.names, '[]') AS service_categories,
       booka_rfc3339(p.created_at) AS created_at,
       booka_rfc3339(p.updated_at) AS updated_at,
       u.first_name, u.last_name
FROM (SELECT d.user_id, row_number() OVER (ORDER BY d.created_at DESC, d.user_id DESC) AS rn
      FROM service_provider_profiles d
      WHERE :offset < (SELECT coalesce(sum(n), 0) FROM provider_list_counts WHERE category_id = 0)
      ORDER BY d.created_at DESC, d.user_id DESC
      LIMIT :limit OFFSET :offset) AS k
JOIN service_provider_profiles p ON p.user_id = k.user_id
JOIN users u ON u.id = k.user_id
CROSS JOIN LATERAL (SELECT json_agg(c.name ORDER BY c.name COLLATE "C")::text AS names
                    FROM provider_categories m JOIN service_categories c ON c.id = m.category_id
                    WHERE m.user_id = k.user_id) AS sc
ORDER BY k.rn;
