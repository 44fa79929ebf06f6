//! The SQL of the API, written once and run by both drivers, so a difference
//! between them is the driver's and never the query's.

pub const PING: &str = "SELECT 1";

const USER_COLUMNS: &str = "id, username, email, created_at, updated_at";
const PRODUCT_COLUMNS: &str =
    "id, name, description, price, stock_quantity, category, created_at, updated_at";
const ORDER_COLUMNS: &str = "id, user_id, status, total_amount, created_at";

macro_rules! sql {
    ($($part:expr),+ $(,)?) => { const_format::concatcp!($($part),+) };
}

pub const INSERT_USER: &str = sql!(
    "INSERT INTO users (username, email) VALUES ($1, $2) RETURNING ",
    USER_COLUMNS
);
pub const GET_USER: &str = sql!("SELECT ", USER_COLUMNS, " FROM users WHERE id = $1");
pub const LIST_USERS: &str = sql!(
    "SELECT ",
    USER_COLUMNS,
    " FROM users ORDER BY id LIMIT $1 OFFSET $2"
);
pub const UPDATE_USER: &str = sql!(
    "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email), \
     updated_at = now() WHERE id = $1 RETURNING ",
    USER_COLUMNS
);
pub const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";
pub const USER_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)";
/// The user an order is placed for, locked against deletion until the order
/// commits: without the lock a user deleted in between would fail the
/// order's foreign key, read as "user has orders" (409) instead of an
/// unknown user (422). `KEY SHARE` blocks only deletes and key updates.
pub const LOCK_USER: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE)";

pub const INSERT_PRODUCT: &str = sql!(
    "INSERT INTO products (name, description, price, stock_quantity, category) \
     VALUES ($1, $2, $3, $4, $5) RETURNING ",
    PRODUCT_COLUMNS
);
pub const GET_PRODUCT: &str = sql!("SELECT ", PRODUCT_COLUMNS, " FROM products WHERE id = $1");
pub const LIST_PRODUCTS: &str = sql!(
    "SELECT ",
    PRODUCT_COLUMNS,
    " FROM products ORDER BY id LIMIT $1 OFFSET $2"
);
// A separate statement rather than `$3 IS NULL OR category = $3`, which a
// generic plan could not serve from the (category, id) index.
pub const LIST_PRODUCTS_IN_CATEGORY: &str = sql!(
    "SELECT ",
    PRODUCT_COLUMNS,
    " FROM products WHERE category = $3 ORDER BY id LIMIT $1 OFFSET $2"
);
pub const UPDATE_PRODUCT: &str = sql!(
    "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description), \
     price = COALESCE($4, price), stock_quantity = COALESCE($5, stock_quantity), \
     category = COALESCE($6, category), updated_at = now() WHERE id = $1 RETURNING ",
    PRODUCT_COLUMNS
);
pub const DELETE_PRODUCT: &str = "DELETE FROM products WHERE id = $1";

/// Locks the ordered products in ascending id order: every transaction that
/// locks several products does so in the same order, so none can deadlock.
/// The sort runs below the row locks, so rows are locked as sorted.
pub const LOCK_PRODUCTS: &str =
    "SELECT id, price, stock_quantity FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Decrements stock and writes the order and its items in one statement.
/// $1 user, $2 total, $3 product ids, $4 quantities, $5 unit prices, the
/// arrays in the client's item order, which the items keep.
pub const PLACE_ORDER: &str = "\
WITH decremented AS (
    UPDATE products AS p
    SET stock_quantity = p.stock_quantity - v.quantity, updated_at = now()
    FROM unnest($3::bigint[], $4::int[]) AS v(product_id, quantity)
    WHERE p.id = v.product_id
), placed AS (
    INSERT INTO orders (user_id, status, total_amount)
    VALUES ($1, 'confirmed', $2)
    RETURNING id, created_at
), items AS (
    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT placed.id, v.product_id, v.quantity, v.unit_price
    FROM placed, unnest($3::bigint[], $4::int[], $5::numeric[]) WITH ORDINALITY
        AS v(product_id, quantity, unit_price, position)
    ORDER BY v.position
)
SELECT id, created_at FROM placed";

pub const GET_ORDER: &str = sql!("SELECT ", ORDER_COLUMNS, " FROM orders WHERE id = $1");
pub const ORDER_ITEMS: &str = "SELECT order_id, product_id, quantity, unit_price FROM order_items \
     WHERE order_id = ANY($1) ORDER BY order_id, id";
pub const LIST_USER_ORDERS: &str = sql!(
    "SELECT ",
    ORDER_COLUMNS,
    " FROM orders WHERE user_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
);

/// Only a confirmed order is cancelled; the row lock it takes makes a second,
/// concurrent cancel wait and then find the order already cancelled.
pub const CANCEL_ORDER: &str = sql!(
    "UPDATE orders SET status = 'cancelled' WHERE id = $1 AND status = 'confirmed' RETURNING ",
    ORDER_COLUMNS
);
pub const ORDER_STATUS: &str = "SELECT status FROM orders WHERE id = $1";
/// Same ascending order as [`LOCK_PRODUCTS`], for the same reason.
pub const LOCK_ORDER_PRODUCTS: &str = "\
SELECT id FROM products
WHERE id IN (SELECT product_id FROM order_items WHERE order_id = $1)
ORDER BY id FOR UPDATE";
pub const RESTORE_STOCK: &str = "\
UPDATE products AS p
SET stock_quantity = p.stock_quantity + oi.quantity, updated_at = now()
FROM order_items AS oi
WHERE oi.order_id = $1 AND p.id = oi.product_id";
