package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// probeCall is one connection attempt of the breaker's probe, held until the
// test gives its result.
type probeCall struct {
	started time.Time
	// timeout is how long the attempt was given (0 for no deadline).
	timeout time.Duration
	result  chan error
}

// recordingProbe is a probe that hands each attempt to the test.
func recordingProbe(calls chan<- probeCall) func(context.Context) error {
	return func(ctx context.Context) error {
		call := probeCall{started: time.Now(), result: make(chan error)}
		if deadline, ok := ctx.Deadline(); ok {
			call.timeout = deadline.Sub(call.started)
		}
		calls <- call
		return <-call.result
	}
}

func nextProbe(t *testing.T, calls <-chan probeCall) probeCall {
	t.Helper()
	select {
	case call := <-calls:
		return call
	case <-time.After(5 * time.Second):
		t.Fatal("the breaker did not probe the database")
		return probeCall{}
	}
}

func isClosed(signal <-chan struct{}) bool {
	select {
	case <-signal:
		return true
	default:
		return false
	}
}

// TestBreaker follows shop::store::breaker through two outages: a trip marks
// the database down and wakes the requests waiting for a connection; one
// probe connects every 250 ms, each attempt given at most 1 s; idle pooled
// connections are dropped before the database is marked up again.
func TestBreaker(t *testing.T) {
	calls := make(chan probeCall)
	var recoveries atomic.Int32
	downWhenRecovering := make(chan bool, 2)
	var b *breaker
	b = newBreaker(recordingProbe(calls), func() {
		recoveries.Add(1)
		downWhenRecovering <- b.isDown()
	}, discard)

	if b.isDown() {
		t.Fatal("down before any failure")
	}
	waiting := b.downSignal()
	if isClosed(waiting) {
		t.Fatal("the outage signal is closed before any outage")
	}

	b.trip("connection refused")
	if !b.isDown() {
		t.Fatal("not down after a trip")
	}
	if !isClosed(waiting) {
		t.Error("the requests waiting for a connection were not woken")
	}

	first := nextProbe(t, calls)
	if first.timeout <= 500*time.Millisecond || first.timeout > time.Second {
		t.Errorf("a probe attempt may take %v, want 1s", first.timeout)
	}
	failedAt := time.Now()
	first.result <- errors.New("connection refused")

	second := nextProbe(t, calls)
	if gap := second.started.Sub(failedAt); gap < 250*time.Millisecond {
		t.Errorf("probed again %v after a failed attempt, want 250ms", gap)
	}
	// Another failure while the database is down starts no second probe.
	b.trip("connection refused")
	select {
	case <-calls:
		t.Fatal("a second trip started a second probe")
	case <-time.After(100 * time.Millisecond):
	}
	if !b.isDown() {
		t.Fatal("up again before a probe succeeded")
	}

	second.result <- nil
	eventually(t, "the database to be marked up", func() bool { return !b.isDown() })
	if n := recoveries.Load(); n != 1 {
		t.Errorf("idle connections dropped %d times, want once", n)
	}
	if !<-downWhenRecovering {
		t.Error("idle connections were dropped after the database was marked up")
	}

	// The next outage trips the breaker again, with a fresh signal.
	waiting = b.downSignal()
	if isClosed(waiting) {
		t.Fatal("the next outage's signal is closed before it")
	}
	b.trip("server closed the connection unexpectedly")
	if !b.isDown() || !isClosed(waiting) {
		t.Error("a second outage did not trip the breaker")
	}
	nextProbe(t, calls).result <- nil
	eventually(t, "the database to be marked up again", func() bool { return !b.isDown() })
	if n := recoveries.Load(); n != 2 {
		t.Errorf("idle connections dropped %d times over two outages, want twice", n)
	}
}
