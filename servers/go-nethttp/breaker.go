package main

import (
	"context"
	"log"
	"sync"
	"sync/atomic"
	"time"
)

// A circuit breaker over the database, as shop::store::breaker: a call that
// fails because the database cannot be reached marks it down; while it is
// down every call answers 503 at once, without touching the pool, and one
// probe connects directly every probeEvery until the database answers.
// Pooled connections made before the outage belong to a server that is gone:
// the idle ones are dropped before the database is marked up again.
const (
	probeEvery     = 250 * time.Millisecond
	connectTimeout = time.Second
)

type breaker struct {
	down atomic.Bool
	mu   sync.Mutex
	// wentDown is closed when the database goes down, waking the requests
	// waiting for a pooled connection; a new one is made when it is back.
	wentDown  chan struct{}
	probe     func(context.Context) error
	recovered func()
	log       *log.Logger
}

func newBreaker(probe func(context.Context) error, recovered func(), logger *log.Logger) *breaker {
	return &breaker{wentDown: make(chan struct{}), probe: probe, recovered: recovered, log: logger}
}

func (b *breaker) isDown() bool { return b.down.Load() }

// downSignal is closed when the database goes down next.
func (b *breaker) downSignal() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wentDown
}

// trip marks the database down (if it is not already) and starts the probe.
func (b *breaker) trip(detail string) {
	b.mu.Lock()
	if b.down.Load() {
		b.mu.Unlock()
		return
	}
	b.down.Store(true)
	close(b.wentDown)
	b.mu.Unlock()
	b.log.Printf("database unreachable (%s); answering 503 until it accepts connections", detail)
	go b.probeUntilUp()
}

func (b *breaker) probeUntilUp() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		err := b.probe(ctx)
		cancel()
		if err == nil {
			break
		}
		time.Sleep(probeEvery)
	}
	b.recovered()
	b.mu.Lock()
	b.wentDown = make(chan struct{})
	b.down.Store(false)
	b.mu.Unlock()
	b.log.Printf("database reachable again")
}
