// The SQL of the API: shop's statements (servers/shop/src/store/sql.rs),
// with the columns Bun's client would read lossily cast to text: bigint ids
// (beyond 2^53), NUMERIC money, and timestamps, which a JavaScript Date
// holds only to the millisecond. ORDER BY names the table's column, not the
// text alias of the same name.

export const PING = "SELECT 1";

const TS = (column: string) => `${column}::text AS ${column}`;
const USER_COLUMNS = `id::text AS id, username, email, ${TS("created_at")}, ${TS("updated_at")}`;
const PRODUCT_COLUMNS = `id::text AS id, name, description, price::text AS price, stock_quantity, category, ${TS("created_at")}, ${TS("updated_at")}`;
const ORDER_COLUMNS = `id::text AS id, user_id::text AS user_id, status, total_amount::text AS total_amount, ${TS("created_at")}`;

export const INSERT_USER = `INSERT INTO users (username, email) VALUES ($1, $2) RETURNING ${USER_COLUMNS}`;
export const GET_USER = `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`;
export const LIST_USERS = `SELECT ${USER_COLUMNS} FROM users ORDER BY users.id LIMIT $1 OFFSET $2`;
export const UPDATE_USER =
  "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email), " +
  `updated_at = now() WHERE id = $1 RETURNING ${USER_COLUMNS}`;
export const DELETE_USER = "DELETE FROM users WHERE id = $1";
export const USER_EXISTS = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS found";
/** The user an order is placed for, locked against deletion until the order
 * commits (a user deleted in between is then an unknown user, 422). */
export const LOCK_USER = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE) AS found";

export const INSERT_PRODUCT =
  "INSERT INTO products (name, description, price, stock_quantity, category) " +
  `VALUES ($1, $2, $3, $4, $5) RETURNING ${PRODUCT_COLUMNS}`;
export const GET_PRODUCT = `SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = $1`;
export const LIST_PRODUCTS = `SELECT ${PRODUCT_COLUMNS} FROM products ORDER BY products.id LIMIT $1 OFFSET $2`;
export const LIST_PRODUCTS_IN_CATEGORY = `SELECT ${PRODUCT_COLUMNS} FROM products WHERE category = $3 ORDER BY products.id LIMIT $1 OFFSET $2`;
export const UPDATE_PRODUCT =
  "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description), " +
  "price = COALESCE($4, price), stock_quantity = COALESCE($5, stock_quantity), " +
  `category = COALESCE($6, category), updated_at = now() WHERE id = $1 RETURNING ${PRODUCT_COLUMNS}`;
export const DELETE_PRODUCT = "DELETE FROM products WHERE id = $1";

/** Locks the ordered products in ascending id order, so that no two orders
 * can deadlock. */
export const LOCK_PRODUCTS =
  "SELECT id::text AS id, price::text AS price, stock_quantity FROM products WHERE id = ANY($1::bigint[]) ORDER BY products.id FOR UPDATE";

/** Decrements stock and writes the order and its items in one statement.
 * $1 user, $2 total, $3 product ids, $4 quantities, $5 unit prices, the
 * arrays in the client's item order, which the items keep. */
export const PLACE_ORDER = `WITH decremented AS (
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
SELECT id::text AS id, ${TS("created_at")} FROM placed`;

export const GET_ORDER = `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`;
export const ORDER_ITEMS =
  "SELECT order_id::text AS order_id, product_id::text AS product_id, quantity, unit_price::text AS unit_price " +
  "FROM order_items WHERE order_id = ANY($1::bigint[]) ORDER BY order_items.order_id, order_items.id";
export const LIST_USER_ORDERS = `SELECT ${ORDER_COLUMNS} FROM orders WHERE user_id = $1 ORDER BY orders.id LIMIT $2 OFFSET $3`;

/** Only a confirmed order is cancelled; the row lock makes a concurrent
 * second cancel wait and then find the order already cancelled. */
export const CANCEL_ORDER = `UPDATE orders SET status = 'cancelled' WHERE id = $1 AND status = 'confirmed' RETURNING ${ORDER_COLUMNS}`;
export const ORDER_STATUS = "SELECT status FROM orders WHERE id = $1";
/** Same ascending order as LOCK_PRODUCTS, for the same reason. */
export const LOCK_ORDER_PRODUCTS = `SELECT id FROM products
WHERE id IN (SELECT product_id FROM order_items WHERE order_id = $1)
ORDER BY id FOR UPDATE`;
export const RESTORE_STOCK = `UPDATE products AS p
SET stock_quantity = p.stock_quantity + oi.quantity, updated_at = now()
FROM order_items AS oi
WHERE oi.order_id = $1 AND p.id = oi.product_id`;
