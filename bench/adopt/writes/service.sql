-- a service changes price and is (re)approved
\set s random(1, 3 * :n)
UPDATE services SET price = price + 50, status = 'approved' WHERE id = :s;
