// What every operation of the API does, once, for both Bun adapters: from
// the raw pieces an adapter extracts (path id as its router gives it, raw
// query string, the Fetch `Request` for a JSON body) to a Reply, or an
// ApiError thrown. Adapters route, extract and respond with their
// framework's own tools; the handlers of shop's Rust adapters do this part.

import { ApiError, toApiError } from "./error.ts";
import { HEALTH_OK, jsonBody, parseId, parseListQuery } from "./http.ts";
import {
  listJson,
  NEW_ORDER,
  NEW_PRODUCT,
  NEW_USER,
  orderJson,
  PRODUCT_PATCH,
  productJson,
  USER_PATCH,
  userJson,
} from "./model.ts";
import type { Store } from "./store.ts";

/** A response: status, JSON body (none for 204) and, for 201, Location. */
export interface Reply {
  status: number;
  body: string | null;
  location?: string;
}

const ok = (body: string): Reply => ({ status: 200, body });
const created = (location: string, body: string): Reply => ({ status: 201, body, location });
const NO_CONTENT: Reply = { status: 204, body: null };

/** Runs a store call, its failure as an ApiError. */
async function store<R>(call: Promise<R>): Promise<R> {
  try {
    return await call;
  } catch (error) {
    throw toApiError(error);
  }
}

export class Api {
  constructor(readonly store: Store) {}

  health(): Reply {
    return ok(HEALTH_OK);
  }

  async healthDb(): Promise<Reply> {
    await store(this.store.ping());
    return ok(HEALTH_OK);
  }

  async listUsers(query: string | null): Promise<Reply> {
    const page = parseListQuery(query);
    return ok(listJson(await store(this.store.listUsers(page)), userJson));
  }

  async createUser(request: Request): Promise<Reply> {
    const user = await store(this.store.createUser(await jsonBody(request, NEW_USER)));
    return created(`/users/${user.id}`, userJson(user));
  }

  async getUser(id: string): Promise<Reply> {
    return ok(userJson(await store(this.store.getUser(parseId(id)))));
  }

  async updateUser(id: string, request: Request): Promise<Reply> {
    const userId = parseId(id);
    return ok(userJson(await store(this.store.updateUser(userId, await jsonBody(request, USER_PATCH)))));
  }

  async deleteUser(id: string): Promise<Reply> {
    await store(this.store.deleteUser(parseId(id)));
    return NO_CONTENT;
  }

  async listUserOrders(id: string, query: string | null): Promise<Reply> {
    const userId = parseId(id);
    const page = parseListQuery(query);
    return ok(listJson(await store(this.store.listUserOrders(userId, page)), orderJson));
  }

  async listProducts(query: string | null): Promise<Reply> {
    const page = parseListQuery(query);
    return ok(listJson(await store(this.store.listProducts(page)), productJson));
  }

  async createProduct(request: Request): Promise<Reply> {
    const product = await store(this.store.createProduct(await jsonBody(request, NEW_PRODUCT)));
    return created(`/products/${product.id}`, productJson(product));
  }

  async getProduct(id: string): Promise<Reply> {
    return ok(productJson(await store(this.store.getProduct(parseId(id)))));
  }

  async updateProduct(id: string, request: Request): Promise<Reply> {
    const productId = parseId(id);
    return ok(productJson(await store(this.store.updateProduct(productId, await jsonBody(request, PRODUCT_PATCH)))));
  }

  async deleteProduct(id: string): Promise<Reply> {
    await store(this.store.deleteProduct(parseId(id)));
    return NO_CONTENT;
  }

  async createOrder(request: Request): Promise<Reply> {
    const order = await store(this.store.createOrder(await jsonBody(request, NEW_ORDER)));
    return created(`/orders/${order.id}`, orderJson(order));
  }

  async getOrder(id: string): Promise<Reply> {
    return ok(orderJson(await store(this.store.getOrder(parseId(id)))));
  }

  async cancelOrder(id: string): Promise<Reply> {
    return ok(orderJson(await store(this.store.cancelOrder(parseId(id)))));
  }
}

export { ApiError };
