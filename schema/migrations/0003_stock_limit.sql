-- The API accepts stock up to 1,000,000,000 (shop::model::MAX_STOCK); the
-- database holds every path to that limit, cancellations restoring stock
-- included, so no row can hold a value the API would refuse to write back.
ALTER TABLE products
    ADD CONSTRAINT products_stock_quantity_max CHECK (stock_quantity <= 1000000000);
