// The stackbench API on Bun.serve and its `routes` option: Bun's router
// matches the paths and methods, `fetch` answers what it does not match
// (paths that only match once decoded, 405 and 404), and shop-ts does the
// rest.

import type { BunRequest, Server } from "bun";
import {
  allowedMethods,
  ApiError,
  decodeSegment,
  IDLE_TIMEOUT_SECONDS,
  JSON_CONTENT_TYPE,
  matchRoute,
  routingPath,
  run,
  SERVER_BODY_LIMIT,
  splitUrl,
  toApiError,
  type Api,
  type Reply,
} from "../shop-ts/index.ts";

type Method = "GET" | "POST" | "PATCH" | "DELETE";
/** An operation: the request and its `{id}`, decoded. */
type Handler = (request: Request, id: string) => Reply | Promise<Reply>;

const query = (request: Request) => splitUrl(request.url).query;

/** The routing table, by the paths of shop-ts's ROUTES. */
function operations(api: Api): Record<string, Partial<Record<Method, Handler>>> {
  return {
    "/health": { GET: () => api.health() },
    "/health/db": { GET: () => api.healthDb() },
    "/users": { GET: (r) => api.listUsers(query(r)), POST: (r) => api.createUser(r) },
    "/users/{id}": {
      GET: (_, id) => api.getUser(id),
      PATCH: (r, id) => api.updateUser(id, r),
      DELETE: (_, id) => api.deleteUser(id),
    },
    "/users/{id}/orders": { GET: (r, id) => api.listUserOrders(id, query(r)) },
    "/products": { GET: (r) => api.listProducts(query(r)), POST: (r) => api.createProduct(r) },
    "/products/{id}": {
      GET: (_, id) => api.getProduct(id),
      PATCH: (r, id) => api.updateProduct(id, r),
      DELETE: (_, id) => api.deleteProduct(id),
    },
    "/orders": { POST: (r) => api.createOrder(r) },
    "/orders/{id}": { GET: (_, id) => api.getOrder(id) },
    "/orders/{id}/cancel": { POST: (_, id) => api.cancelOrder(id) },
  };
}

function errorResponse(error: ApiError): Response {
  const headers: Record<string, string> = { "Content-Type": JSON_CONTENT_TYPE };
  if (error.allow) headers["Allow"] = error.allow;
  return new Response(error.toJson(), { status: error.status, headers });
}

async function respond(handler: Handler, request: Request, id: string): Promise<Response> {
  try {
    const reply = await handler(request, id);
    if (reply.body === null) return new Response(null, { status: reply.status });
    const headers: Record<string, string> = { "Content-Type": JSON_CONTENT_TYPE };
    if (reply.location) headers["Location"] = reply.location;
    return new Response(reply.body, { status: reply.status, headers });
  } catch (error) {
    return errorResponse(toApiError(error));
  }
}

run("stackbench-bun", 3004, (config, api) => {
  const table = operations(api);
  // Bun.serve's routes: `{id}` as `:id`; Bun answers HEAD with GET's handler.
  const routes: Record<string, Partial<Record<Method, (request: BunRequest) => Promise<Response>>>> = {};
  for (const [path, methods] of Object.entries(table)) {
    const handlers: Partial<Record<Method, (request: BunRequest) => Promise<Response>>> = {};
    for (const [method, handler] of Object.entries(methods) as [Method, Handler][]) {
      handlers[method] = (request) => respond(handler, request, (request.params as { id?: string }).id ?? "");
    }
    routes[path.replace("{id}", ":id")] = handlers;
  }

  return Bun.serve({
    hostname: config.host,
    port: config.port,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    maxRequestBodySize: SERVER_BODY_LIMIT,
    routes,
    // What the routes do not match: a path that matches only once its
    // unreserved characters are decoded (shop's routing_path), a method the
    // route does not have (405), or no route at all (404).
    fetch(request: Request, _server: Server<undefined>): Promise<Response> | Response {
      const path = routingPath(splitUrl(request.url).path);
      const matched = matchRoute(path);
      if (!matched) return errorResponse(ApiError.noRoute(request.method, path));
      const method = (request.method === "HEAD" ? "GET" : request.method) as Method;
      const handler = table[matched.route]![method];
      if (!handler) return errorResponse(ApiError.methodNotAllowed(request.method, allowedMethods(matched.route)));
      return respond(handler, request, decodeSegment(matched.id ?? ""));
    },
    error(error: Error): Response {
      return errorResponse(toApiError(error));
    },
  });
});
