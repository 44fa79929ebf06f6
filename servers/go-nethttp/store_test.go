package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"log"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
)

// discard is a logger for code under test whose logging is not looked at.
var discard = log.New(io.Discard, "", 0)

// newTestStore is a Store without a database, enough to classify failures
// and to run operations that never reach the pool. Its breaker's probe fails
// until the test ends, so a tripped breaker stays down while the test looks
// at it; then the probe succeeds and the breaker's goroutine ends.
func newTestStore(t *testing.T, poolSize int) *Store {
	t.Helper()
	testOver := make(chan struct{})
	probe := func(ctx context.Context) error {
		select {
		case <-testOver:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s := &Store{poolSize: poolSize, slots: make(chan struct{}, poolSize), log: discard}
	s.breaker = newBreaker(probe, func() {}, discard)
	t.Cleanup(func() {
		close(testOver)
		eventually(t, "the breaker to recover", func() bool { return !s.breaker.isDown() })
	})
	return s
}

// eventually waits for cond, failing the test if it does not hold within a
// few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return
		}
	}
}

func pqError(code, constraint, message string) *pq.Error {
	return &pq.Error{Code: pq.ErrorCode(code), Constraint: constraint, Message: message}
}

// TestClassify holds the Go store to shop::store::classify_db_error: each
// SQLSTATE's answer, and which failures mean the database is unreachable
// (StoreError::Unreachable: the breaker trips) rather than only unavailable.
func TestClassify(t *testing.T) {
	const duplicate = `duplicate key value violates unique constraint "products_pkey"`
	const referenced = `update or delete on table "users" violates foreign key constraint "carts_user_id_fkey"`
	tests := []struct {
		name  string
		err   error
		want  answer
		trips bool
	}{
		{"no failure", nil, answer{}, false},

		{"taken username", pqError("23505", "users_username_key", duplicate),
			answer{409, "conflict", "username is already taken"}, false},
		{"email in use", pqError("23505", "users_email_key", duplicate),
			answer{409, "conflict", "email is already in use"}, false},
		{"other unique violation", pqError("23505", "products_pkey", duplicate),
			answer{409, "conflict", "duplicate value: " + duplicate}, false},
		{"user with orders", pqError("23503", "orders_user_id_fkey", referenced),
			answer{409, "conflict", "user has orders and cannot be deleted"}, false},
		{"ordered product", pqError("23503", "order_items_product_id_fkey", referenced),
			answer{409, "conflict", "product has been ordered and cannot be deleted"}, false},
		{"other foreign key", pqError("23503", "carts_user_id_fkey", referenced),
			answer{409, "conflict", "still referenced: " + referenced}, false},
		{"stock over the maximum", pqError("23514", "products_stock_quantity_max", "new row violates check constraint"),
			answer{409, "conflict", "a product's stock cannot exceed 1000000000; restoring this order's items would"}, false},
		{"other check constraint", pqError("23514", "products_price_check", "new row violates check constraint"),
			answer{500, "internal", "internal error"}, false},

		{"numeric out of range", pqError("22003", "", "numeric field overflow"),
			answer{400, "bad_request", "value out of range: numeric field overflow"}, false},
		{"invalid text", pqError("22P02", "", `invalid input syntax for type bigint: "x"`),
			answer{400, "bad_request", `invalid value: invalid input syntax for type bigint: "x"`}, false},
		{"string too long", pqError("22001", "", "value too long for type character varying(50)"),
			answer{400, "bad_request", "invalid value: value too long for type character varying(50)"}, false},

		{"connection failure", pqError("08006", "", "connection failure"), unavailable, true},
		{"protocol violation", pqError("08P01", "", "protocol violation"), unavailable, true},
		{"administrator shutdown", pqError("57P01", "", "terminating connection due to administrator command"), unavailable, true},
		{"crash shutdown", pqError("57P02", "", "terminating connection because of crash of another server process"), unavailable, true},
		{"starting up", pqError("57P03", "", "the database system is starting up"), unavailable, true},

		{"statement timeout", pqError("57014", "", "canceling statement due to statement timeout"), unavailable, false},
		{"too many connections", pqError("53300", "", "sorry, too many clients already"), unavailable, false},
		{"disk full", pqError("53100", "", "could not extend file"), unavailable, false},
		{"serialization failure", pqError("40001", "", "could not serialize access"), unavailable, false},
		{"deadlock", pqError("40P01", "", "deadlock detected"), unavailable, false},
		{"lock timeout", pqError("55P03", "", "canceling statement due to lock timeout"), unavailable, false},

		{"object in use", pqError("55006", "", "database is being accessed by other users"),
			answer{500, "internal", "internal error"}, false},
		{"undefined table", pqError("42P01", "", `relation "users" does not exist`),
			answer{500, "internal", "internal error"}, false},
		{"failed transaction", pqError("25P02", "", "current transaction is aborted"),
			answer{500, "internal", "internal error"}, false},
		{"server bug", pqError("XX000", "", "internal error"), answer{500, "internal", "internal error"}, false},

		{"wrapped SQLSTATE", fmt.Errorf("begin: %w", pqError("40P01", "", "deadlock detected")), unavailable, false},

		// No SQLSTATE: the connection itself failed (shop's `None` arm).
		{"bad connection", driver.ErrBadConn, unavailable, true},
		{"connection closed", io.ErrUnexpectedEOF, unavailable, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, unavailable, true},

		// The store's own bugs, as shop's StoreError::Internal: 500.
		{"transaction misused", sql.ErrTxDone, answer{500, "internal", "internal error"}, false},
		{"unreadable row", fmt.Errorf("%w: unknown order status %q", errScan, "shipped"),
			answer{500, "internal", "internal error"}, false},

		// The answers the store decides itself pass through unchanged.
		{"not found", notFound("user", 7), answer{404, "not_found", "user 7 not found"}, false},
		{"insufficient stock", newError(codeInsufficientStock, "insufficient stock for product 3: requested 5, available 2"),
			answer{409, "insufficient_stock", "insufficient stock for product 3: requested 5, available 2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, 1)
			if got := answerOf(s.classify(tt.err)); got != tt.want {
				t.Errorf("answer %+v, want %+v", got, tt.want)
			}
			if tripped := s.breaker.isDown(); tripped != tt.trips {
				t.Errorf("breaker tripped: %v, want %v", tripped, tt.trips)
			}
		})
	}
}

func TestDoAnswersAtOnceWhileTheDatabaseIsDown(t *testing.T) {
	s := newTestStore(t, 1)
	s.breaker.trip("connection refused")
	called := false
	got := s.do(func(context.Context) error { called = true; return nil })
	if answerOf(got) != unavailable {
		t.Errorf("answer %+v, want %+v", answerOf(got), unavailable)
	}
	if called {
		t.Error("the operation ran while the database was down")
	}
}

func TestDoClassifiesAFailureAndFreesItsConnection(t *testing.T) {
	s := newTestStore(t, 1)
	failing := func(context.Context) error { return pqError("40P01", "", "deadlock detected") }
	if got := answerOf(s.do(failing)); got != unavailable {
		t.Errorf("answer %+v, want %+v", got, unavailable)
	}
	// With a pool of one, a slot the failure kept would make this wait for
	// the pool timeout, then fail.
	if got := s.do(func(context.Context) error { return nil }); got != nil {
		t.Errorf("second operation: %v, want success", got)
	}
}

// A request waiting for a pooled connection is answered 503 as soon as the
// database goes down, not after the pool timeout (shop's Breaker::unless_down).
func TestDoStopsWaitingForAConnectionWhenTheDatabaseGoesDown(t *testing.T) {
	s := newTestStore(t, 1)
	s.slots <- struct{}{} // the pool's one connection is in use
	defer func() { <-s.slots }()
	done := make(chan *apiError, 1)
	start := time.Now()
	go func() { done <- s.do(func(context.Context) error { return nil }) }()
	time.Sleep(50 * time.Millisecond)
	s.breaker.trip("connection refused")
	select {
	case got := <-done:
		if answerOf(got) != unavailable {
			t.Errorf("answer %+v, want %+v", answerOf(got), unavailable)
		}
		if waited := time.Since(start); waited >= poolTimeout {
			t.Errorf("answered after %v, the pool timeout", waited)
		}
	case <-time.After(poolTimeout):
		t.Fatal("still waiting for a connection after the pool timeout")
	}
}
