package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The one database driver this stack has; --driver exists so that every
// stack takes the same command line.
const driverName = "lib/pq"

// Config is the command line and environment, the same flags as the Rust
// servers (server_runtime::config).
type Config struct {
	Port                     int
	Host                     string
	DatabaseURL              string
	PoolSize                 int
	Driver                   string
	Workers                  int
	StatementTimeout         time.Duration
	LockTimeout              time.Duration
	IdleInTransactionTimeout time.Duration
	ShutdownTimeout          time.Duration
}

// usageError is a bad command line: reported with exit status 2, as clap does.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseConfig reads args (without the program name); an environment variable
// gives a flag's default, and the flag wins over it.
func parseConfig(args []string, env func(string) string, out io.Writer) (*Config, error) {
	fs := flag.NewFlagSet(serverName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := func(name, fallback string) string {
		if v := env(name); v != "" {
			return v
		}
		return fallback
	}
	port := fs.String("port", def("PORT", "3003"), "Port to listen on.")
	host := fs.String("host", def("HOST", "127.0.0.1"), "Address to listen on; 0.0.0.0 to accept connections from other hosts.")
	dbURL := fs.String("database-url", def("DATABASE_URL", ""), "PostgreSQL URL, e.g. postgres://user@127.0.0.1:5432/stackbench (env DATABASE_URL).")
	pool := fs.String("pool-size", def("POOL_SIZE", "20"), "Connections in the database pool, 1 to 1000.")
	driver := fs.String("driver", def("DB_DRIVER", driverName), "Database driver; only lib/pq.")
	workers := fs.String("workers", def("WORKERS", ""), "Threads running Go code (GOMAXPROCS) [default: all cores].")
	stmt := fs.String("statement-timeout", def("STATEMENT_TIMEOUT", "5s"), "Longest a statement may run before the database cancels it (503); 0 for no limit.")
	lock := fs.String("lock-timeout", def("LOCK_TIMEOUT", "2s"), "Longest a statement may wait for a lock (503); 0 for no limit.")
	idle := fs.String("idle-in-transaction-timeout", def("IDLE_IN_TRANSACTION_TIMEOUT", "10s"), "Longest a connection may sit idle inside a transaction; 0 for no limit.")
	shutdown := fs.String("shutdown-timeout", def("SHUTDOWN_TIMEOUT", "10s"), "After SIGINT/SIGTERM, how long requests in flight get to finish.")
	version := fs.Bool("version", false, "Print the version and exit.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, out)
			return nil, nil
		}
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *version {
		fmt.Fprintln(out, versionLine())
		return nil, nil
	}

	var cfg Config
	var err error
	if cfg.Port, err = intIn("port", *port, 0, 65535); err != nil {
		return nil, err
	}
	if net.ParseIP(*host) == nil {
		return nil, usageError{fmt.Sprintf("invalid value %q for --host: not an IP address", *host)}
	}
	cfg.Host = *host
	if *dbURL == "" {
		return nil, usageError{"the --database-url flag (or DATABASE_URL) is required"}
	}
	cfg.DatabaseURL = *dbURL
	if cfg.PoolSize, err = intIn("pool-size", *pool, 1, 1000); err != nil {
		return nil, err
	}
	if *driver != driverName {
		return nil, usageError{fmt.Sprintf("invalid value %q for --driver: this server runs on %s only", *driver, driverName)}
	}
	cfg.Driver = *driver
	cfg.Workers = runtime.NumCPU()
	if *workers != "" {
		if cfg.Workers, err = intIn("workers", *workers, 1, 1024); err != nil {
			return nil, err
		}
	}
	for _, d := range []struct {
		name string
		text string
		dst  *time.Duration
	}{
		{"statement-timeout", *stmt, &cfg.StatementTimeout},
		{"lock-timeout", *lock, &cfg.LockTimeout},
		{"idle-in-transaction-timeout", *idle, &cfg.IdleInTransactionTimeout},
		{"shutdown-timeout", *shutdown, &cfg.ShutdownTimeout},
	} {
		if *d.dst, err = parseDuration(d.text); err != nil {
			return nil, usageError{fmt.Sprintf("invalid value for --%s: %v", d.name, err)}
		}
	}
	return &cfg, nil
}

func intIn(name, text string, min, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < min || n > max {
		return 0, usageError{fmt.Sprintf("invalid value %q for --%s: expected an integer from %d to %d", text, name, min, max)}
	}
	return n, nil
}

// parseDuration reads 10s, 500ms, 2m or a bare number of seconds, like
// server_runtime::config::parse_duration.
func parseDuration(text string) (time.Duration, error) {
	text = strings.TrimSpace(text)
	split := strings.IndexFunc(text, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if split < 0 {
		split = len(text)
	}
	number, err := strconv.ParseFloat(text[:split], 64)
	if err != nil {
		return 0, fmt.Errorf("`%s` is not a duration like 10s or 500ms", text)
	}
	seconds := number
	switch unit := strings.TrimSpace(text[split:]); unit {
	case "", "s":
	case "ms":
		seconds = number / 1000
	case "m":
		seconds = number * 60
	default:
		return 0, fmt.Errorf("unknown unit `%s` in `%s` (use ms, s or m)", unit, text)
	}
	if seconds > float64(1<<62)/float64(time.Second) {
		return 0, fmt.Errorf("`%s`: too large a duration", text)
	}
	return time.Duration(seconds * float64(time.Second)), nil
}

func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, "A stackbench server: the users / products / orders API on PostgreSQL.\n\n")
	fmt.Fprintf(out, "Usage: %s [OPTIONS] --database-url <URL>\n\nOptions:\n", serverName)
	fs.VisitAll(func(f *flag.Flag) {
		value := " <VALUE>"
		if f.Name == "version" {
			value = ""
		}
		fmt.Fprintf(out, "  --%s%s\n        %s", f.Name, value, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" && f.Name != "database-url" {
			fmt.Fprintf(out, " [default: %s]", f.DefValue)
		}
		fmt.Fprintln(out)
	})
	fmt.Fprintf(out, "  --help\n        Print this help.\n")
}

// defaultEnv is os.Getenv; a variable for the flag parser's sake.
var defaultEnv = os.Getenv
