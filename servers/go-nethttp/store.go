package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// The SQL of the API, the same text the Rust servers run (shop::store::sql).
const (
	userColumns    = "id, username, email, created_at, updated_at"
	productColumns = "id, name, description, price, stock_quantity, category, created_at, updated_at"
	orderColumns   = "id, user_id, status, total_amount, created_at"

	sqlPing       = "SELECT 1"
	sqlInsertUser = "INSERT INTO users (username, email) VALUES ($1, $2) RETURNING " + userColumns
	sqlGetUser    = "SELECT " + userColumns + " FROM users WHERE id = $1"
	sqlListUsers  = "SELECT " + userColumns + " FROM users ORDER BY id LIMIT $1 OFFSET $2"
	sqlUpdateUser = "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email), " +
		"updated_at = now() WHERE id = $1 RETURNING " + userColumns
	sqlDeleteUser = "DELETE FROM users WHERE id = $1"
	sqlUserExists = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)"
	// The user of an order, locked against deletion until the order commits,
	// so a concurrent delete makes the order 422 (unknown user), never 409.
	sqlLockUser = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE)"

	sqlInsertProduct = "INSERT INTO products (name, description, price, stock_quantity, category) " +
		"VALUES ($1, $2, $3, $4, $5) RETURNING " + productColumns
	sqlGetProduct             = "SELECT " + productColumns + " FROM products WHERE id = $1"
	sqlListProducts           = "SELECT " + productColumns + " FROM products ORDER BY id LIMIT $1 OFFSET $2"
	sqlListProductsInCategory = "SELECT " + productColumns +
		" FROM products WHERE category = $3 ORDER BY id LIMIT $1 OFFSET $2"
	sqlUpdateProduct = "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description), " +
		"price = COALESCE($4, price), stock_quantity = COALESCE($5, stock_quantity), " +
		"category = COALESCE($6, category), updated_at = now() WHERE id = $1 RETURNING " + productColumns
	sqlDeleteProduct = "DELETE FROM products WHERE id = $1"

	// Products are locked in ascending id order by every transaction, so
	// that none can deadlock.
	sqlLockProducts = "SELECT id, price, stock_quantity FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE"
	// Decrements stock and writes the order and its items in one statement.
	sqlPlaceOrder = `WITH decremented AS (
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
SELECT id, created_at FROM placed`
	sqlGetOrder      = "SELECT " + orderColumns + " FROM orders WHERE id = $1"
	sqlOrderItems    = "SELECT order_id, product_id, quantity, unit_price FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, id"
	sqlListUserOrder = "SELECT " + orderColumns + " FROM orders WHERE user_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
	// Only a confirmed order is cancelled; its row lock makes a concurrent
	// second cancel wait, then find the order cancelled.
	sqlCancelOrder       = "UPDATE orders SET status = 'cancelled' WHERE id = $1 AND status = 'confirmed' RETURNING " + orderColumns
	sqlOrderStatus       = "SELECT status FROM orders WHERE id = $1"
	sqlLockOrderProducts = `SELECT id FROM products
WHERE id IN (SELECT product_id FROM order_items WHERE order_id = $1)
ORDER BY id FOR UPDATE`
	sqlRestoreStock = `UPDATE products AS p
SET stock_quantity = p.stock_quantity + oi.quantity, updated_at = now()
FROM order_items AS oi
WHERE oi.order_id = $1 AND p.id = oi.product_id`
)

// How long a request waits for a pooled connection before answering 503
// (shop::store::POOL_TIMEOUT).
const poolTimeout = 5 * time.Second

// Store runs the API's queries on a database/sql pool of lib/pq connections.
type Store struct {
	db       *sql.DB
	poolSize int
	// slots admits at most poolSize operations at once, so that waiting for
	// a connection happens here, bounded by poolTimeout and cut short by an
	// outage, and never inside database/sql, which could only bound it
	// together with the queries that follow.
	slots   chan struct{}
	breaker *breaker
	stmts   map[string]*sql.Stmt
	log     *log.Logger
}

// connectionString is the pool's lib/pq connection string: the URL's
// settings, then the per-connection timeouts, sent in the startup packet so
// that they hold from the first statement on.
func connectionString(cfg *Config) (string, error) {
	dsn := cfg.DatabaseURL
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		var err error
		if dsn, err = pq.ParseURL(dsn); err != nil {
			return "", fmt.Errorf("invalid database URL: %w", err)
		}
	}
	has := func(key string) bool {
		return strings.HasPrefix(dsn, key+"=") || strings.Contains(dsn, " "+key+"=")
	}
	// lib/pq would otherwise require TLS, which no other stack asks for.
	if !has("sslmode") {
		dsn += " sslmode=disable"
	}
	if !has("connect_timeout") {
		dsn += " connect_timeout=" + strconv.Itoa(int(connectTimeout/time.Second))
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	dsn += " statement_timeout=" + ms(cfg.StatementTimeout) +
		" lock_timeout=" + ms(cfg.LockTimeout) +
		" idle_in_transaction_session_timeout=" + ms(cfg.IdleInTransactionTimeout)
	return strings.TrimSpace(dsn), nil
}

func openStore(cfg *Config, logger *log.Logger) (*Store, error) {
	dsn, err := connectionString(cfg)
	if err != nil {
		return nil, err
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(cfg.PoolSize)
	db.SetMaxIdleConns(cfg.PoolSize)
	s := &Store{db: db, poolSize: cfg.PoolSize, slots: make(chan struct{}, cfg.PoolSize), log: logger}
	probe := func(ctx context.Context) error {
		conn, err := connector.Connect(ctx)
		if err == nil {
			conn.Close()
		}
		return err
	}
	s.breaker = newBreaker(probe, s.dropIdleConnections, logger)
	return s, nil
}

// dropIdleConnections closes the pooled connections not in use.
func (s *Store) dropIdleConnections() {
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(s.poolSize)
}

// Start checks that the database answers and prepares the statements, so
// that a server fails at start rather than on its first request.
func (s *Store) Start(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return describe(err)
	}
	s.stmts = make(map[string]*sql.Stmt)
	for _, query := range []string{
		sqlPing, sqlInsertUser, sqlGetUser, sqlListUsers, sqlUpdateUser, sqlDeleteUser, sqlUserExists,
		sqlLockUser, sqlInsertProduct, sqlGetProduct, sqlListProducts, sqlListProductsInCategory,
		sqlUpdateProduct, sqlDeleteProduct, sqlLockProducts, sqlPlaceOrder, sqlGetOrder, sqlOrderItems,
		sqlListUserOrder, sqlCancelOrder, sqlOrderStatus, sqlLockOrderProducts, sqlRestoreStock,
	} {
		stmt, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return describe(err)
		}
		s.stmts[query] = stmt
	}
	return nil
}

// describe words a start-up failure as shop's StoreError does.
func describe(err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return fmt.Errorf("database error: %s (SQLSTATE %s)", pqErr.Message, pqErr.Code)
	}
	return fmt.Errorf("database unreachable: %w", err)
}

func (s *Store) Close() { s.db.Close() }

func (s *Store) stmt(query string) *sql.Stmt { return s.stmts[query] }

// do runs one operation: at once 503 while the database is down, else with
// a pool slot (503 if none frees up in time), its failure classified.
// Operations run on a background context: a client that hangs up does not
// cut a write short, which ends in its own commit or rollback.
func (s *Store) do(op func(ctx context.Context) error) *apiError {
	wentDown := s.breaker.downSignal()
	if s.breaker.isDown() {
		return errUnavailable
	}
	select {
	case s.slots <- struct{}{}:
	default:
		timer := time.NewTimer(poolTimeout)
		select {
		case s.slots <- struct{}{}:
			timer.Stop()
		case <-timer.C:
			s.log.Printf("database unavailable: no pooled connection within %s", poolTimeout)
			return errUnavailable
		case <-wentDown:
			timer.Stop()
			return errUnavailable
		}
	}
	defer func() { <-s.slots }()
	return s.classify(op(context.Background()))
}

// classify turns a failure into the API's answer (shop::store::classify_db_error).
func (s *Store) classify(err error) *apiError {
	if err == nil {
		return nil
	}
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		if errors.Is(err, sql.ErrTxDone) || errors.Is(err, errScan) {
			s.log.Printf("store failed: %v", err)
			return errInternal
		}
		// No SQLSTATE: the connection itself failed.
		s.breaker.trip(err.Error())
		return errUnavailable
	}
	code, constraint, message := string(pqErr.Code), pqErr.Constraint, pqErr.Message
	switch {
	case code == "23505":
		switch constraint {
		case "users_username_key":
			return newError(codeConflict, "username is already taken")
		case "users_email_key":
			return newError(codeConflict, "email is already in use")
		}
		return newError(codeConflict, "duplicate value: "+message)
	case code == "23503":
		switch constraint {
		case "orders_user_id_fkey":
			return newError(codeConflict, "user has orders and cannot be deleted")
		case "order_items_product_id_fkey":
			return newError(codeConflict, "product has been ordered and cannot be deleted")
		}
		return newError(codeConflict, "still referenced: "+message)
	case code == "23514" && constraint == "products_stock_quantity_max":
		return newError(codeConflict, fmt.Sprintf(
			"a product's stock cannot exceed %d; restoring this order's items would", maxStock))
	case code == "22003":
		return badRequest("value out of range: %s", message)
	case strings.HasPrefix(code, "22"):
		return badRequest("invalid value: %s", message)
	case strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03":
		s.breaker.trip(message)
		return errUnavailable
	case strings.HasPrefix(code, "57") || strings.HasPrefix(code, "53") ||
		strings.HasPrefix(code, "40") || code == "55P03":
		s.log.Printf("database unavailable: %s", message)
		return errUnavailable
	}
	s.log.Printf("store failed: %s (SQLSTATE %s)", message, code)
	return errInternal
}

// errScan marks a row the store cannot read: a bug, answered 500.
var errScan = errors.New("unreadable row")

func notFound(kind string, id int64) *apiError {
	return newError(codeNotFound, fmt.Sprintf("%s %d not found", kind, id))
}

// ---- rows ----

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (*user, error) {
	var u user
	if err := row.Scan(&u.id, &u.username, &u.email, &u.createdAt, &u.updatedAt); err != nil {
		return nil, err
	}
	return &u, nil
}

func scanProduct(row scanner) (*product, error) {
	var p product
	var price string
	if err := row.Scan(&p.id, &p.name, &p.description, &price, &p.stock, &p.category, &p.createdAt, &p.updatedAt); err != nil {
		return nil, err
	}
	var err error
	if p.price, err = parseCents(price); err != nil {
		return nil, fmt.Errorf("%w: %v", errScan, err)
	}
	return &p, nil
}

func scanOrder(row scanner) (*order, error) {
	var o order
	var total string
	if err := row.Scan(&o.id, &o.userID, &o.status, &total, &o.createdAt); err != nil {
		return nil, err
	}
	if o.status != "confirmed" && o.status != "cancelled" {
		return nil, fmt.Errorf("%w: unknown order status %q", errScan, o.status)
	}
	var err error
	if o.total, err = parseCents(total); err != nil {
		return nil, fmt.Errorf("%w: %v", errScan, err)
	}
	o.items = []orderItem{}
	return &o, nil
}

// querier is what both the pool and a transaction run statements with.
type querier interface {
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
}

// loadItems reads the items of orders and attaches them to their orders.
func (s *Store) loadItems(ctx context.Context, stmt querier, orders []*order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]int64, len(orders))
	byID := make(map[int64]*order, len(orders))
	for i, o := range orders {
		ids[i] = o.id
		byID[o.id] = o
	}
	rows, err := stmt.QueryContext(ctx, pq.Array(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var orderID int64
		var item orderItem
		var price string
		if err := rows.Scan(&orderID, &item.productID, &item.quantity, &price); err != nil {
			return err
		}
		if item.unitPrice, err = parseCents(price); err != nil {
			return fmt.Errorf("%w: %v", errScan, err)
		}
		if o := byID[orderID]; o != nil {
			o.items = append(o.items, item)
		}
	}
	return rows.Err()
}
