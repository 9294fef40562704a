-- a provider edits its profile
\set p random(1, :n)
UPDATE service_provider_profiles
SET location = CASE WHEN :p % 2 = 0 THEN 'Paarl, Western Cape' ELSE 'Durban, KwaZulu-Natal' END, business_name = 'Act ' || :p
WHERE user_id = :p;
