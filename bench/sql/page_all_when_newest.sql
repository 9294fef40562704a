-- LEAN page of the whole set without providers busy on a date, sort=newest:
-- pgbench -M extended -D page=N -D when=2025-12-13 -f THIS
\set limit 20
\set offset (:page - 1) * :limit
SELECT p.user_id, p.business_name, p.profile_picture_version,
       booka_rfc3339(p.created_at) AS created_at,
       booka_rfc3339(p.updated_at) AS updated_at
FROM (SELECT d.user_id, row_number() OVER (ORDER BY d.created_at DESC, d.user_id DESC) AS rn
      FROM service_provider_profiles d
      WHERE :offset < (SELECT coalesce(sum(n), 0) FROM provider_list_counts WHERE category_id = 0)
        AND NOT EXISTS (SELECT 1 FROM bookings b
                        WHERE b.artist_id = d.user_id AND b.event_date = :when::date
                          AND b.status IN ('pending', 'confirmed'))
      ORDER BY d.created_at DESC, d.user_id DESC
      LIMIT :limit OFFSET :offset) AS k
JOIN service_provider_profiles p ON p.user_id = k.user_id
ORDER BY k.rn;
