-- reference: the cheapest round trip
SELECT 1;
