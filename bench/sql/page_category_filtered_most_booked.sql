-- LEAN page of one category with every filter (location, when, min_price/max_price), sort=most_booked:
-- pgbench -M extended -D page=N -D slug=dj -D location=gauteng -D when=2025-12-13 -D min_price=1000 -D max_price=5000 -f THIS
\set limit 20
\set offset (:page - 1) * :limit
SELECT p.user_id, p.business_name, p.profile_picture_version,
       booka_rfc3339(p.created_at) AS created_at,
       booka_rfc3339(p.updated_at) AS updated_at
FROM (SELECT d.user_id, row_number() OVER (ORDER BY d.book_count DESC, d.user_id DESC) AS rn
      FROM provider_categories d
      WHERE d.category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug)
        AND :offset < (SELECT coalesce(sum(n), 0) FROM provider_list_counts
                       WHERE category_id = (SELECT c.id FROM service_categories c WHERE c.slug = :slug))
        AND d.location ILIKE '%' || replace(replace(replace(:location::text, '\', '\\'), '%', '\%'), '_', '\_') || '%'
        AND NOT EXISTS (SELECT 1 FROM bookings b
                        WHERE b.artist_id = d.user_id AND b.event_date = :when::date
                          AND b.status IN ('pending', 'confirmed'))
        AND EXISTS (SELECT 1 FROM services s
                    WHERE s.artist_id = d.user_id AND s.status = 'approved' AND s.service_category_id = d.category_id
                      AND s.price >= :min_price::numeric AND s.price <= :max_price::numeric)
      ORDER BY d.book_count DESC, d.user_id DESC
      LIMIT :limit OFFSET :offset) AS k
JOIN service_provider_profiles p ON p.user_id = k.user_id
ORDER BY k.rn;
