// Logging to stderr, one line per event, filtered like the Rust servers'
// RUST_LOG (error, warn, info, debug; info unless it says otherwise).

const LEVELS = ["error", "warn", "info", "debug"] as const;
type Level = (typeof LEVELS)[number];

function threshold(): number {
  const wanted = (process.env.RUST_LOG ?? "").trim().toLowerCase();
  const index = LEVELS.indexOf(wanted as Level);
  return index >= 0 ? index : LEVELS.indexOf("info");
}

const max = threshold();

function write(level: Level, message: string): void {
  if (LEVELS.indexOf(level) > max) return;
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padStart(5)} ${message}\n`);
}

export const log = {
  error: (message: string) => write("error", message),
  warn: (message: string) => write("warn", message),
  info: (message: string) => write("info", message),
  debug: (message: string) => write("debug", message),
};
