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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `ceiling` pgbench scripts of every shipped scenario, whitespace
    /// removed.
    fn ceiling_scripts() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        let mut scripts = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for script in text.split("ceiling = '''").skip(1) {
                let script = script.split("'''").next().unwrap();
                scripts.push((path.display().to_string(), squeeze(script)));
            }
        }
        scripts
    }

    fn squeeze(text: &str) -> String {
        text.split_whitespace().collect()
    }

    /// Whether `script` holds `statement` with anything in place of its
    /// parameters (`$1`, `$3::bigint[]`): pgbench passes `:names` and
    /// expressions where the servers bind values.
    fn holds(script: &str, statement: &str) -> bool {
        let statement = squeeze(statement);
        let mut pieces = Vec::new();
        let mut rest = statement.as_str();
        while let Some(at) = rest.find('$') {
            pieces.push(&rest[..at]);
            rest = rest[at + 1..].trim_start_matches(|c: char| c.is_ascii_digit());
            if let Some(cast) = rest.strip_prefix("::") {
                rest = cast.trim_start_matches(|c: char| {
                    c.is_ascii_alphanumeric() || c == '[' || c == ']'
                });
            }
        }
        pieces.push(rest);
        (0..script.len()).any(|start| {
            let mut from = start;
            pieces.iter().enumerate().all(|(i, piece)| {
                let found = if i == 0 {
                    script[from..].starts_with(piece).then_some(0)
                } else {
                    script[from..].find(piece)
                };
                found.is_some_and(|at| {
                    from += at + piece.len();
                    true
                })
            })
        })
    }

    /// `compare`'s ceiling row (PostgreSQL alone) is only a ceiling while its scripts run
    /// what the servers run: every statement the shipped scenarios' requests
    /// reach stands in some scenario's `ceiling`, as written here.
    #[test]
    fn the_ceiling_scripts_run_these_statements() {
        let scripts = ceiling_scripts();
        assert!(scripts.len() >= 10, "{} scripts", scripts.len());
        let statements = [
            ("GET_USER", GET_USER),
            ("INSERT_USER", INSERT_USER),
            ("USER_EXISTS", USER_EXISTS),
            ("LOCK_USER", LOCK_USER),
            ("GET_PRODUCT", GET_PRODUCT),
            ("LIST_PRODUCTS_IN_CATEGORY", LIST_PRODUCTS_IN_CATEGORY),
            ("LOCK_PRODUCTS", LOCK_PRODUCTS),
            ("PLACE_ORDER", PLACE_ORDER),
            ("GET_ORDER", GET_ORDER),
            ("ORDER_ITEMS", ORDER_ITEMS),
            ("LIST_USER_ORDERS", LIST_USER_ORDERS),
            ("CANCEL_ORDER", CANCEL_ORDER),
            ("LOCK_ORDER_PRODUCTS", LOCK_ORDER_PRODUCTS),
            ("RESTORE_STOCK", RESTORE_STOCK),
        ];
        for (name, statement) in statements {
            assert!(
                scripts.iter().any(|(_, script)| holds(script, statement)),
                "no scenario's ceiling script runs shop's {name}: {statement}"
            );
        }
        // And the check can tell: a changed statement is not found.
        let changed = GET_USER.replace("WHERE id", "WHERE id >");
        assert!(!scripts.iter().any(|(_, script)| holds(script, &changed)));
    }
}
