-- a booking changes status
\set b random(1, 4 * :n)
UPDATE bookings SET status = CASE status WHEN 'confirmed' THEN 'completed' WHEN 'pending' THEN 'confirmed' ELSE 'pending' END
WHERE id = :b;
