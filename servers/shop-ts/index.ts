// shop-ts: the contract every stackbench server implements, for Bun.
//
// The TypeScript counterpart of servers/shop: everything that is not the
// framework lives here, once, for the Bun.serve adapter (servers/bun) and
// the Hono adapter (servers/bun-hono): configuration, validation, money,
// errors, JSON in and out, the store on Bun's PostgreSQL client, the order
// transaction, outage behaviour and the common main. An adapter only
// routes, extracts and responds with its framework's own tools.

export { Api, type Reply } from "./api.ts";
export { parseConfig, type Config } from "./config.ts";
export { ApiError, toApiError, MAX_BODY_BYTES } from "./error.ts";
export {
  allowedMethods,
  decodeSegment,
  HEALTH_OK,
  JSON_CONTENT_TYPE,
  matchRoute,
  ROUTES,
  routingPath,
  splitUrl,
} from "./http.ts";
export { IDLE_TIMEOUT_SECONDS, run, SERVER_BODY_LIMIT, type Running } from "./launch.ts";
export { log } from "./log.ts";
