-- Indexes for the API's queries. Primary keys and UNIQUE constraints already
-- serve lookups by id, username and email.

-- GET /products?category=...: WHERE category = $1 ORDER BY id LIMIT .. OFFSET ..
CREATE INDEX products_category_id_idx ON products (category, id);

-- GET /users/{id}/orders: WHERE user_id = $1 ORDER BY id; also makes the
-- ON DELETE RESTRICT check of DELETE /users/{id} an index probe.
CREATE INDEX orders_user_id_id_idx ON orders (user_id, id);

-- Reading an order's items (GET /orders/{id}, cancel, user order lists) and
-- the ON DELETE CASCADE from orders.
CREATE INDEX order_items_order_id_idx ON order_items (order_id);

-- The ON DELETE RESTRICT check of DELETE /products/{id}: without it every
-- product delete scans all order items.
CREATE INDEX order_items_product_id_idx ON order_items (product_id);
