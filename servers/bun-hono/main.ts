// The stackbench API on Hono, served by Bun.serve: a Hono app with one route
// per operation, an `all` route per path for 405, `notFound` for 404 and
// `onError` for shop-ts's errors. Hono routes by the path shop routes by
// (`getPath`: percent-encoded unreserved characters decoded).

import { Hono, type Context } from "hono";
import {
  allowedMethods,
  ApiError,
  decodeSegment,
  IDLE_TIMEOUT_SECONDS,
  JSON_CONTENT_TYPE,
  ROUTES,
  routingPath,
  run,
  SERVER_BODY_LIMIT,
  splitUrl,
  toApiError,
  type Api,
  type Reply,
} from "../shop-ts/index.ts";

/** A reply as Hono's response. Content-Length is set here because Hono
 * answers HEAD with GET's headers and no body. */
function send(c: Context, reply: Reply): Response {
  if (reply.body === null) return c.body(null, reply.status as 204);
  const headers: Record<string, string> = {
    "Content-Type": JSON_CONTENT_TYPE,
    "Content-Length": String(Buffer.byteLength(reply.body)),
  };
  if (reply.location) headers["Location"] = reply.location;
  return c.body(reply.body, reply.status as 200, headers);
}

function fail(c: Context, error: ApiError): Response {
  const headers: Record<string, string> = {
    "Content-Type": JSON_CONTENT_TYPE,
    "Content-Length": String(Buffer.byteLength(error.toJson())),
  };
  if (error.allow) headers["Allow"] = error.allow;
  return c.body(error.toJson(), error.status as 400, headers);
}

const query = (c: Context) => splitUrl(c.req.url).query;
/** The `:id` of a route, percent-decoded as shop decodes it. Hono's own
 * `c.req.param("id")` leaves an escape that is not UTF-8 (`%FF`) encoded,
 * where shop reads it as U+FFFD, so it is read here from the routed path:
 * the second segment of every route that has an id. */
const id = (c: Context) => decodeSegment(c.req.path.split("/")[2] ?? "");

export function app(api: Api): Hono {
  const app = new Hono({ getPath: (request) => routingPath(splitUrl(request.url).path) });

  app.get("/health", (c) => send(c, api.health()));
  app.get("/health/db", async (c) => send(c, await api.healthDb()));

  app.get("/users", async (c) => send(c, await api.listUsers(query(c))));
  app.post("/users", async (c) => send(c, await api.createUser(c.req.raw)));
  app.get("/users/:id", async (c) => send(c, await api.getUser(id(c))));
  app.patch("/users/:id", async (c) => send(c, await api.updateUser(id(c), c.req.raw)));
  app.delete("/users/:id", async (c) => send(c, await api.deleteUser(id(c))));
  app.get("/users/:id/orders", async (c) => send(c, await api.listUserOrders(id(c), query(c))));

  app.get("/products", async (c) => send(c, await api.listProducts(query(c))));
  app.post("/products", async (c) => send(c, await api.createProduct(c.req.raw)));
  app.get("/products/:id", async (c) => send(c, await api.getProduct(id(c))));
  app.patch("/products/:id", async (c) => send(c, await api.updateProduct(id(c), c.req.raw)));
  app.delete("/products/:id", async (c) => send(c, await api.deleteProduct(id(c))));

  app.post("/orders", async (c) => send(c, await api.createOrder(c.req.raw)));
  app.get("/orders/:id", async (c) => send(c, await api.getOrder(id(c))));
  app.post("/orders/:id/cancel", async (c) => send(c, await api.cancelOrder(id(c))));

  // Every other method on a known path: 405 with the path's Allow header.
  for (const [route] of ROUTES) {
    const allow = allowedMethods(route);
    app.all(route.replace("{id}", ":id"), (c) => fail(c, ApiError.methodNotAllowed(c.req.method, allow)));
  }
  app.notFound((c) => fail(c, ApiError.noRoute(c.req.method, c.req.path)));
  app.onError((error, c) => fail(c, toApiError(error)));
  return app;
}

run("stackbench-bun-hono", 3005, (config, api) =>
  Bun.serve({
    hostname: config.host,
    port: config.port,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    maxRequestBodySize: SERVER_BODY_LIMIT,
    fetch: app(api).fetch,
  }),
);
