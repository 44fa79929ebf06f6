package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// The store's operations on orders; placing and cancelling are transactions.

type lockedProduct struct {
	id    int64
	price int64 // cents
	stock int32
}

// CreateOrder places an order in one transaction: locks the user against
// deletion and the products in id order, checks the user, every product and
// its stock, then decrements the stock and writes the order with the prices
// read under the lock. Any failure rolls back and changes nothing.
func (s *Store) CreateOrder(in *newOrder) (o *order, e *apiError) {
	e = s.do(func(ctx context.Context) error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		var exists bool
		if err := tx.StmtContext(ctx, s.stmt(sqlLockUser)).QueryRowContext(ctx, in.userID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return newError(codeUnknownReference, fmt.Sprintf("unknown user id: %d", in.userID))
		}
		ids := make([]int64, len(in.items))
		for i, item := range in.items {
			ids[i] = item.productID
		}
		locked, err := lockProducts(ctx, tx.StmtContext(ctx, s.stmt(sqlLockProducts)), ids)
		if err != nil {
			return err
		}
		plan, err := planOrder(in, locked)
		if err != nil {
			return err
		}
		var id int64
		var createdAt time.Time
		err = tx.StmtContext(ctx, s.stmt(sqlPlaceOrder)).QueryRowContext(ctx,
			in.userID, formatCents(plan.total), pq.Array(ids), pq.Array(plan.quantities), pq.Array(plan.unitPrices),
		).Scan(&id, &createdAt)
		if err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		o = &order{id: id, userID: in.userID, status: "confirmed", total: plan.total, createdAt: createdAt, items: plan.items}
		return nil
	})
	return o, e
}

func lockProducts(ctx context.Context, stmt *sql.Stmt, ids []int64) ([]lockedProduct, error) {
	rows, err := stmt.QueryContext(ctx, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var locked []lockedProduct
	for rows.Next() {
		var p lockedProduct
		var price string
		if err := rows.Scan(&p.id, &price, &p.stock); err != nil {
			return nil, err
		}
		if p.price, err = parseCents(price); err != nil {
			return nil, fmt.Errorf("%w: %v", errScan, err)
		}
		locked = append(locked, p)
	}
	return locked, rows.Err()
}

// orderPlan is what placing an order writes, decided from the locked rows.
type orderPlan struct {
	total      int64
	items      []orderItem
	quantities []int32
	unitPrices []string
}

// planOrder checks every item against the locked rows and prices the order
// (shop::store::plan_order): unknown products first, then stock, then the
// total's size.
func planOrder(in *newOrder, locked []lockedProduct) (*orderPlan, error) {
	byID := make(map[int64]lockedProduct, len(locked))
	for _, p := range locked {
		byID[p.id] = p
	}
	var missing []string
	for _, item := range in.items {
		if _, ok := byID[item.productID]; !ok {
			missing = append(missing, strconv.FormatInt(item.productID, 10))
		}
	}
	if len(missing) > 0 {
		return nil, newError(codeUnknownReference, "unknown product id(s): "+strings.Join(missing, ", "))
	}
	plan := &orderPlan{items: []orderItem{}}
	for _, item := range in.items {
		p := byID[item.productID]
		if p.stock < item.quantity {
			return nil, newError(codeInsufficientStock, fmt.Sprintf(
				"insufficient stock for product %d: requested %d, available %d", p.id, item.quantity, p.stock))
		}
		// At most 50 items of 1,000 under 1e11 cents: no overflow.
		plan.total += p.price * int64(item.quantity)
		plan.items = append(plan.items, orderItem{productID: p.id, quantity: item.quantity, unitPrice: p.price})
		plan.quantities = append(plan.quantities, item.quantity)
		plan.unitPrices = append(plan.unitPrices, formatCents(p.price))
	}
	if plan.total > maxOrderTotalCents {
		return nil, badRequest("order total %s exceeds the largest amount an order can hold (%s)",
			formatCents(plan.total), formatCents(maxOrderTotalCents))
	}
	return plan, nil
}

func (s *Store) GetOrder(id int64) (o *order, e *apiError) {
	e = s.do(func(ctx context.Context) (err error) {
		o, err = scanOrder(s.stmt(sqlGetOrder).QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("order", id)
		}
		if err != nil {
			return err
		}
		return s.loadItems(ctx, s.stmt(sqlOrderItems), []*order{o})
	})
	return o, e
}

// ListUserOrders lists a user's orders, oldest first; 404 for an unknown user.
func (s *Store) ListUserOrders(userID int64, p page) (orders []*order, e *apiError) {
	e = s.do(func(ctx context.Context) error {
		var exists bool
		if err := s.stmt(sqlUserExists).QueryRowContext(ctx, userID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return notFound("user", userID)
		}
		rows, err := s.stmt(sqlListUserOrder).QueryContext(ctx, userID, p.limit, p.offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scanOrder(rows)
			if err != nil {
				return err
			}
			orders = append(orders, o)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return s.loadItems(ctx, s.stmt(sqlOrderItems), orders)
	})
	return orders, e
}

// CancelOrder cancels a confirmed order and restores its stock in one
// transaction; cancelling an order twice is a conflict.
func (s *Store) CancelOrder(id int64) (o *order, e *apiError) {
	e = s.do(func(ctx context.Context) error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		o, err = scanOrder(tx.StmtContext(ctx, s.stmt(sqlCancelOrder)).QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			var status string
			err = tx.StmtContext(ctx, s.stmt(sqlOrderStatus)).QueryRowContext(ctx, id).Scan(&status)
			switch {
			case err == nil:
				return newError(codeConflict, fmt.Sprintf("order %d is already cancelled", id))
			case errors.Is(err, sql.ErrNoRows):
				return notFound("order", id)
			}
			return err
		}
		if err != nil {
			return err
		}
		rows, err := tx.StmtContext(ctx, s.stmt(sqlLockOrderProducts)).QueryContext(ctx, id)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if _, err := tx.StmtContext(ctx, s.stmt(sqlRestoreStock)).ExecContext(ctx, id); err != nil {
			return err
		}
		if err := s.loadItems(ctx, tx.StmtContext(ctx, s.stmt(sqlOrderItems)), []*order{o}); err != nil {
			return err
		}
		return tx.Commit()
	})
	return o, e
}
