// Command stackbench-go-nethttp serves the stackbench API (schema/openapi.yaml)
// with Go's standard net/http and database/sql on lib/pq, answering every
// request as the Rust reference servers (servers/shop) do.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	serverName    = "stackbench-go-nethttp"
	serverVersion = "0.1.0"
	// How long a client may take to send a request head, and how long a
	// keep-alive connection may sit idle: server_runtime::serve::HEADER_READ_TIMEOUT.
	headerReadTimeout = 5 * time.Second
	// How long start-up may wait for the database, as server_runtime::launch does.
	startupTimeout = 10 * time.Second
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := parseConfig(os.Args[1:], defaultEnv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n\nFor more information, try '--help'.\n", serverName, err)
		return 2
	}
	if cfg == nil { // --help or --version
		return 0
	}
	runtime.GOMAXPROCS(cfg.Workers)
	raiseOpenFileLimit()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	// Start-up and shutdown news, silenced like the Rust servers' info lines
	// by RUST_LOG=warn or error (as loadgen and the tests start them).
	info := logger
	if level := strings.ToLower(strings.TrimSpace(os.Getenv("RUST_LOG"))); level == "warn" || level == "error" {
		info = log.New(io.Discard, "", 0)
	}

	store, err := openStore(cfg, logger)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
		err = store.Start(ctx)
		cancel()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot use the database at %s: %v\n"+
			"Is PostgreSQL running? `loadgen db start` starts the managed cluster and "+
			"`loadgen db status` prints its URL.\n", serverName, redact(cfg.DatabaseURL), err)
		return 1
	}
	defer store.Close()

	address := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	listener, err := net.Listen("tcp", address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot listen on %s: %v\n", serverName, address, err)
		return 1
	}
	server := &http.Server{
		Handler:           &api{store: store},
		ReadHeaderTimeout: headerReadTimeout,
		IdleTimeout:       headerReadTimeout,
		ErrorLog:          logger,
	}
	info.Printf("%s listening on %s (driver %s, pool size %d, workers %d, shutdown timeout %s)",
		serverName, listener.Addr(), cfg.Driver, cfg.PoolSize, cfg.Workers, cfg.ShutdownTimeout)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		fmt.Fprintf(os.Stderr, "%s: server error: %v\n", serverName, err)
		return 1
	case <-signals:
	}
	info.Printf("shutdown signal received; finishing requests in flight")
	// Shutdown closes the listener (new connections are refused) and idle
	// connections, and waits for the requests in flight; whatever is still
	// open when the timeout ends is cut.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		logger.Printf("shutdown timeout of %s reached: cutting the connections still open", cfg.ShutdownTimeout)
		server.Close()
	}
	info.Printf("%s stopped", serverName)
	return 0
}

// versionLine is what --version prints.
func versionLine() string {
	pq := "1.10.7"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/lib/pq" {
				pq = strings.TrimPrefix(dep.Version, "v")
			}
		}
	}
	return fmt.Sprintf("%s %s (%s, lib/pq %s)", serverName, serverVersion, runtime.Version(), pq)
}

// raiseOpenFileLimit lifts the soft limit on open files to the hard one, so
// that many client connections plus the pool do not run out of descriptors.
func raiseOpenFileLimit() {
	var limit syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit) == nil && limit.Cur < limit.Max {
		limit.Cur = limit.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit)
	}
}

// redact hides the password of a URL, for error messages.
func redact(url string) string {
	schemeEnd := strings.Index(url, "://")
	at := strings.LastIndex(url, "@")
	if schemeEnd < 0 || at <= schemeEnd {
		return url
	}
	credentials := url[schemeEnd+3 : at]
	user, _, found := strings.Cut(credentials, ":")
	if !found {
		return url
	}
	return url[:schemeEnd+3] + user + ":***" + url[at:]
}
