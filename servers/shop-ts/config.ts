// Server configuration: the flags and variables of every stackbench server
// (servers/runtime/src/config.rs), read by hand as clap reads them there:
// `--flag value` or `--flag=value`, each with an environment variable.

import type { DbTimeouts } from "./store.ts";

export const VERSION = "0.1.0";
export const DRIVERS = ["bun-sql"] as const;

export interface Config {
  name: string;
  port: number;
  host: string;
  databaseUrl: string;
  poolSize: number;
  driver: (typeof DRIVERS)[number];
  workers: number | null;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
  shutdownTimeoutMs: number;
}

/** A duration as written on the command line: `10s`, `500ms`, `2m`, or a
 * bare number of seconds. Milliseconds, or the message of the refusal. */
export function parseDuration(raw: string): number {
  const text = raw.trim();
  let split = text.search(/[^0-9.]/);
  if (split < 0) split = text.length;
  const number = text.slice(0, split);
  const unit = text.slice(split).trim();
  if (!/^(?:[0-9]+\.?[0-9]*|\.[0-9]+)$/.test(number)) throw `\`${text}\` is not a duration like 10s or 500ms`;
  const value = Number(number);
  let ms: number;
  if (unit === "" || unit === "s") ms = value * 1000;
  else if (unit === "ms") ms = value;
  else if (unit === "m") ms = value * 60_000;
  else throw `unknown unit \`${unit}\` in \`${text}\` (use ms, s or m)`;
  if (!Number.isFinite(ms)) throw `\`${text}\`: cannot convert float seconds to Duration: value is either too big or NaN`;
  return Math.floor(ms);
}

interface Option {
  flag: string;
  env: string;
  value: string;
  help: string;
  defaultValue?: string;
  parse: (text: string) => unknown;
}

function integer(min: number, max: number) {
  return (text: string): number => {
    if (!/^\+?[0-9]+$/.test(text)) throw `invalid digit found in string`;
    const value = Number(text);
    if (value < min || value > max) throw `${value} is not in ${min}..=${max}`;
    return value;
  };
}

function ipAddress(text: string): string {
  const v4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
  if (v4.test(text) || (text.includes(":") && /^[0-9A-Fa-f:.]+$/.test(text))) return text;
  throw "invalid IP address syntax";
}

function options(defaultPort: number): Option[] {
  return [
    { flag: "port", env: "PORT", value: "PORT", help: "Port to listen on", defaultValue: String(defaultPort), parse: integer(0, 65535) },
    {
      flag: "host",
      env: "HOST",
      value: "HOST",
      help: "Address to listen on; 0.0.0.0 to accept connections from other hosts",
      defaultValue: "127.0.0.1",
      parse: ipAddress,
    },
    {
      flag: "database-url",
      env: "DATABASE_URL",
      value: "DATABASE_URL",
      help: "PostgreSQL URL, e.g. postgres://user@127.0.0.1:5432/stackbench. `loadgen db status` prints the URL of the managed cluster",
      parse: (text) => text,
    },
    { flag: "pool-size", env: "POOL_SIZE", value: "POOL_SIZE", help: "Connections in the database pool", defaultValue: "20", parse: integer(1, 1000) },
    {
      flag: "driver",
      env: "DB_DRIVER",
      value: "DRIVER",
      help: "Database driver [possible values: bun-sql]",
      defaultValue: "bun-sql",
      parse: (text) => {
        if (!(DRIVERS as readonly string[]).includes(text)) throw `possible values: ${DRIVERS.join(", ")} (Bun's built-in PostgreSQL client; tokio-postgres and sqlx are the Rust servers' drivers)`;
        return text;
      },
    },
    {
      flag: "workers",
      env: "WORKERS",
      value: "WORKERS",
      help: "Accepted for compatibility with the other servers and ignored: Bun runs the API's JavaScript on one thread",
      parse: integer(1, 1024),
    },
    {
      flag: "statement-timeout",
      env: "STATEMENT_TIMEOUT",
      value: "STATEMENT_TIMEOUT",
      help: "Longest a statement may run before the database cancels it (503); e.g. 5s, 500ms; 0 for no limit",
      defaultValue: "5s",
      parse: parseDuration,
    },
    {
      flag: "lock-timeout",
      env: "LOCK_TIMEOUT",
      value: "LOCK_TIMEOUT",
      help: "Longest a statement may wait for a row or table lock (503); 0 for no limit",
      defaultValue: "2s",
      parse: parseDuration,
    },
    {
      flag: "idle-in-transaction-timeout",
      env: "IDLE_IN_TRANSACTION_TIMEOUT",
      value: "IDLE_IN_TRANSACTION_TIMEOUT",
      help: "Longest a connection may sit idle inside a transaction before the database closes it, releasing its locks; 0 for no limit",
      defaultValue: "10s",
      parse: parseDuration,
    },
    {
      flag: "shutdown-timeout",
      env: "SHUTDOWN_TIMEOUT",
      value: "SHUTDOWN_TIMEOUT",
      help: "After SIGINT/SIGTERM, how long requests in flight get to finish (e.g. 10s, 2s, 500ms); connections still open then are cut",
      defaultValue: "10s",
      parse: parseDuration,
    },
  ];
}

function usage(name: string): string {
  return `Usage: ${name} [OPTIONS] --database-url <DATABASE_URL>`;
}

function help(name: string, defaultPort: number): string {
  const lines = [
    "A stackbench server: the users / products / orders API on PostgreSQL, on Bun.",
    "Bun runs the API's JavaScript on one thread; --workers is accepted and ignored.",
    "",
    usage(name),
    "",
    "Options:",
  ];
  for (const option of options(defaultPort)) {
    const extra = [`env: ${option.env}=`, option.defaultValue !== undefined ? `default: ${option.defaultValue}` : null]
      .filter(Boolean)
      .join("] [");
    lines.push(`      --${option.flag} <${option.value}>`, `          ${option.help} [${extra}]`, "");
  }
  lines.push("  -h, --help", "          Print help", "", "  -V, --version", "          Print version");
  return lines.join("\n");
}

/** Exits 2 with a clap-like error. */
function fail(name: string, message: string): never {
  process.stderr.write(`error: ${message}\n\n${usage(name)}\n\nFor more information, try '--help'.\n`);
  process.exit(2);
}

/** Parses the command line and environment of the server `name`, whose port
 * defaults to `defaultPort`; prints help or the version and exits when asked. */
export function parseConfig(name: string, defaultPort: number, argv: string[] = process.argv.slice(2)): Config {
  const known = options(defaultPort);
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(help(name, defaultPort) + "\n");
      process.exit(0);
    }
    if (arg === "-V" || arg === "--version") {
      process.stdout.write(`${name} ${VERSION} (bun ${Bun.version})\n`);
      process.exit(0);
    }
    if (!arg.startsWith("--")) fail(name, `unexpected argument '${arg}' found`);
    const eq = arg.indexOf("=");
    const flag = arg.slice(2, eq < 0 ? undefined : eq);
    const option = known.find((o) => o.flag === flag);
    if (!option) fail(name, `unexpected argument '${eq < 0 ? arg : arg.slice(0, eq)}' found`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) fail(name, `a value is required for '--${flag} <${option.value}>' but none was supplied`);
      value = argv[++i]!;
    }
    if (given.has(flag)) fail(name, `the argument '--${flag} <${option.value}>' cannot be used multiple times`);
    given.set(flag, value);
  }
  const values = new Map<string, unknown>();
  for (const option of known) {
    const text = given.get(option.flag) ?? process.env[option.env] ?? option.defaultValue;
    if (text === undefined) {
      if (option.flag === "database-url" || option.flag === "port") {
        fail(name, `the following required arguments were not provided:\n  --${option.flag} <${option.value}>`);
      }
      values.set(option.flag, null);
      continue;
    }
    try {
      values.set(option.flag, option.parse(text));
    } catch (message) {
      fail(name, `invalid value '${text}' for '--${option.flag} <${option.value}>': ${String(message)}`);
    }
  }
  return {
    name,
    port: values.get("port") as number,
    host: values.get("host") as string,
    databaseUrl: values.get("database-url") as string,
    poolSize: values.get("pool-size") as number,
    driver: values.get("driver") as Config["driver"],
    workers: values.get("workers") as number | null,
    statementTimeoutMs: values.get("statement-timeout") as number,
    lockTimeoutMs: values.get("lock-timeout") as number,
    idleInTransactionTimeoutMs: values.get("idle-in-transaction-timeout") as number,
    shutdownTimeoutMs: values.get("shutdown-timeout") as number,
  };
}

export function dbTimeouts(config: Config): DbTimeouts {
  return {
    statement: config.statementTimeoutMs,
    lock: config.lockTimeoutMs,
    idleInTransaction: config.idleInTransactionTimeoutMs,
  };
}
