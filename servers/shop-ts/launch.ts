// What every Bun server's main does (servers/runtime/src/launch.rs): read the
// config, connect to the database, serve, and stop cleanly on SIGINT or
// SIGTERM. A server's main.ts is one call to `run`.

import { Api } from "./api.ts";
import { dbTimeouts, parseConfig, type Config } from "./config.ts";
import { log } from "./log.ts";
import { describeStoreError, Store } from "./store.ts";

/** server_runtime::serve::HEADER_READ_TIMEOUT, as Bun.serve's `idleTimeout` (seconds).
 * Bun's timers tick every 4 s, so a keep-alive connection is closed after
 * about 8 s idle; and a request head that never ends is cut by Bun's own
 * fixed header timeout (about 10-12 s), which no option changes. */
export const IDLE_TIMEOUT_SECONDS = 5;

/** Bun.serve's own body limit, set well above the API's 64 KiB so that the
 * API, not Bun, answers an oversized body (with its JSON 413). */
export const SERVER_BODY_LIMIT = 16 * 1024 * 1024;

/** What an adapter's `serve` returns: Bun's server, or anything that stops
 * like it. */
export interface Running {
  readonly port: number | undefined;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

/** The URL without its password, for error messages. */
export function redact(url: string): string {
  const schemeEnd = url.indexOf("://");
  const at = url.lastIndexOf("@");
  if (schemeEnd >= 0 && at > schemeEnd) {
    const credentials = url.slice(schemeEnd + 3, at);
    const colon = credentials.indexOf(":");
    if (colon >= 0) return `${url.slice(0, schemeEnd + 3)}${credentials.slice(0, colon)}:***${url.slice(at)}`;
  }
  return url;
}

/** Runs a server: `serve` is the adapter's, given the config and the API. */
export async function run(
  name: string,
  defaultPort: number,
  serve: (config: Config, api: Api) => Running,
): Promise<never> {
  const config = parseConfig(name, defaultPort);
  let store: Store;
  try {
    const connecting = Store.connect(config.databaseUrl, config.poolSize, dbTimeouts(config));
    const timeout = new Promise<"timeout">((resolve) => setTimeout(resolve, 10_000, "timeout").unref());
    const result = await Promise.race([connecting, timeout]);
    if (result === "timeout") {
      process.stderr.write(`${name}: the database at ${redact(config.databaseUrl)} did not answer within 10 s\n`);
      process.exit(1);
    }
    store = result;
  } catch (error) {
    process.stderr.write(
      `${name}: cannot use the database at ${redact(config.databaseUrl)}: ${describeStoreError(error)}\n` +
        "Is PostgreSQL running? `loadgen db start` starts the managed cluster and " +
        "`loadgen db status` prints its URL.\n",
    );
    process.exit(1);
  }

  let server: Running;
  try {
    server = serve(config, new Api(store));
  } catch (error) {
    process.stderr.write(
      `${name}: cannot listen on ${config.host}:${config.port}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  log.info(
    `listening server=${name} address=${config.host}:${server.port} driver=${config.driver} ` +
      `pool_size=${config.poolSize} workers=1 (Bun runs JavaScript on one thread) ` +
      `shutdown_timeout=${config.shutdownTimeoutMs}ms`,
  );

  // SIGINT/SIGTERM: stop accepting, let the requests in flight finish, and
  // cut what is still open after the shutdown timeout.
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      log.info("shutdown signal received; finishing requests in flight");
      const graceful = Promise.resolve(server.stop(false)).then(() => true);
      const deadline = new Promise<boolean>((done) => setTimeout(done, config.shutdownTimeoutMs, false));
      void Promise.race([graceful, deadline]).then(async (finished) => {
        if (!finished) {
          log.warn(`shutdown timeout of ${config.shutdownTimeoutMs}ms reached: cutting the connections still open`);
          await Promise.resolve(server.stop(true)).catch(() => {});
        }
        resolve();
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  await stopped;
  await store.close();
  log.info(`stopped server=${name}`);
  process.exit(0);
}
