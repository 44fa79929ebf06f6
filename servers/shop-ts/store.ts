// The store: every query the API needs, on Bun's built-in PostgreSQL client
// (`import { SQL } from "bun"`), as shop::store has them: the same SQL, the
// same order transaction, the same error classification, and the same
// circuit breaker for database outages (shop::store::breaker).

import { SQL } from "bun";
import { ApiError } from "./error.ts";
import { log } from "./log.ts";
import type { ListQuery } from "./http.ts";
import { Money } from "./money.ts";
import {
  MAX_STOCK,
  timestampFromDatabase,
  type NewOrder,
  type NewProduct,
  type NewUser,
  type Order,
  type OrderItem,
  type Product,
  type ProductPatch,
  type User,
  type UserPatch,
} from "./model.ts";
import * as sql from "./sql.ts";

/** Limits every pooled connection sets in its startup packet, in
 * milliseconds; zero turns one off. */
export interface DbTimeouts {
  statement: number;
  lock: number;
  idleInTransaction: number;
}

/** How often the probe tries to connect while the database is down. */
export const PROBE_EVERY_MS = 250;
/** How long one connection attempt (the probe's, or the pool's) may take. */
export const CONNECT_TIMEOUT_MS = 1000;

type StoreErrorKind =
  | "not_found"
  | "conflict"
  | "insufficient_stock"
  | "unknown_reference"
  | "invalid"
  | "unavailable"
  | "unreachable"
  | "internal";

/** Why a store operation failed; each maps to one API error. */
export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
  ) {
    super(message);
  }

  toApiError(): ApiError {
    switch (this.kind) {
      case "not_found":
        return new ApiError("not_found", `${this.message} not found`);
      case "conflict":
        return new ApiError("conflict", this.message);
      case "insufficient_stock":
        return new ApiError("insufficient_stock", this.message);
      case "unknown_reference":
        return new ApiError("unknown_reference", this.message);
      case "invalid":
        return new ApiError("bad_request", this.message);
      case "unavailable":
        log.warn(`database unavailable: ${this.message}`);
        return ApiError.unavailable();
      case "unreachable":
        // An outage is logged once, by the breaker; not per request.
        return ApiError.unavailable();
      case "internal":
        log.error(`store failed: database error: ${this.message}`);
        return ApiError.internal();
    }
  }
}

/** The SQLSTATE classes the store turns into API errors, as shop's
 * `classify_db_error`: everything else is a bug (500) or, for connection
 * trouble, 503. */
export function classifyDbError(sqlstate: string | undefined, constraint: string | undefined, message: string): StoreError {
  if (sqlstate === undefined) return new StoreError("unreachable", message);
  if (sqlstate === "23505") {
    if (constraint === "users_username_key") return new StoreError("conflict", "username is already taken");
    if (constraint === "users_email_key") return new StoreError("conflict", "email is already in use");
    return new StoreError("conflict", `duplicate value: ${message}`);
  }
  if (sqlstate === "23503") {
    if (constraint === "orders_user_id_fkey") return new StoreError("conflict", "user has orders and cannot be deleted");
    if (constraint === "order_items_product_id_fkey") {
      return new StoreError("conflict", "product has been ordered and cannot be deleted");
    }
    return new StoreError("conflict", `still referenced: ${message}`);
  }
  if (sqlstate === "23514" && constraint === "products_stock_quantity_max") {
    return new StoreError(
      "conflict",
      `a product's stock cannot exceed ${MAX_STOCK}; restoring this order's items would`,
    );
  }
  if (sqlstate === "22003") return new StoreError("invalid", `value out of range: ${message}`);
  if (sqlstate.startsWith("22")) return new StoreError("invalid", `invalid value: ${message}`);
  if (sqlstate.startsWith("08") || ["57P01", "57P02", "57P03"].includes(sqlstate)) {
    return new StoreError("unreachable", message);
  }
  if (
    sqlstate.startsWith("57") ||
    sqlstate.startsWith("53") ||
    sqlstate.startsWith("40") ||
    sqlstate === "55P03"
  ) {
    return new StoreError("unavailable", message);
  }
  return new StoreError("internal", message);
}

/** Bun's client errors as StoreErrors: a PostgreSQL error carries its
 * SQLSTATE in `errno`; one without is the client's or the connection's. */
function fromDriver(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const e = error as { code?: unknown; errno?: unknown; constraint?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(error);
  const sqlstate = typeof e?.errno === "string" && /^[0-9A-Z]{5}$/.test(e.errno) ? e.errno : undefined;
  if (sqlstate !== undefined) {
    return classifyDbError(sqlstate, typeof e.constraint === "string" ? e.constraint : undefined, message);
  }
  const code = typeof e?.code === "string" ? e.code : "";
  // Refused, closed, reset or timed-out connections: the database is unreachable.
  if (/CONNECTION|CLOSED|REFUSED|TIMEOUT|SOCKET|ECONN|EPIPE|ENOTCONN|EHOSTUNREACH|TLS/.test(code)) {
    return new StoreError("unreachable", `${code}: ${message}`);
  }
  return new StoreError("internal", code ? `${code}: ${message}` : message);
}

const notFound = (what: string, id: string) => new StoreError("not_found", `${what} ${id}`);

interface UserRow {
  id: string;
  username: string;
  email: string;
  created_at: string;
  updated_at: string;
}

function user(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    created_at: timestampFromDatabase(row.created_at),
    updated_at: timestampFromDatabase(row.updated_at),
  };
}

function product(row: Product): Product {
  return {
    ...row,
    created_at: timestampFromDatabase(row.created_at),
    updated_at: timestampFromDatabase(row.updated_at),
  };
}

interface OrderRow {
  id: string;
  user_id: string;
  status: string;
  total_amount: string;
  created_at: string;
}

function order(row: OrderRow): Order {
  if (row.status !== "confirmed" && row.status !== "cancelled") {
    throw new StoreError("internal", `unknown order status ${JSON.stringify(row.status)}`);
  }
  return {
    id: row.id,
    user_id: row.user_id,
    status: row.status,
    total_amount: row.total_amount,
    created_at: timestampFromDatabase(row.created_at),
    items: [],
  };
}

/** The largest amount a NUMERIC(12,2) column holds, in cents. */
export const MAX_ORDER_TOTAL_CENTS = 999_999_999_999n;

interface LockedProduct {
  id: string;
  price: string;
  stock_quantity: number;
}

interface OrderPlan {
  total: Money;
  productIds: string[];
  quantities: number[];
  unitPrices: string[];
}

/** Checks every item against the locked rows and prices the order (shop's
 * `plan_order`): unknown products are reported before stock. */
export function planOrder(newOrder: NewOrder, locked: LockedProduct[]): OrderPlan {
  const byId = new Map(locked.map((p) => [p.id, p]));
  const missing = newOrder.items.filter((item) => !byId.has(item.product_id.toString()));
  if (missing.length > 0) {
    throw new StoreError("unknown_reference", `unknown product id(s): ${missing.map((i) => i.product_id).join(", ")}`);
  }
  const plan: OrderPlan = { total: new Money(0n), productIds: [], quantities: [], unitPrices: [] };
  let total = 0n;
  for (const item of newOrder.items) {
    const product = byId.get(item.product_id.toString())!;
    if (product.stock_quantity < item.quantity) {
      throw new StoreError(
        "insufficient_stock",
        `insufficient stock for product ${product.id}: requested ${item.quantity}, available ${product.stock_quantity}`,
      );
    }
    total += Money.fromDatabase(product.price).cents * BigInt(item.quantity);
    plan.productIds.push(product.id);
    plan.quantities.push(item.quantity);
    plan.unitPrices.push(product.price);
  }
  plan.total = new Money(total);
  if (total > MAX_ORDER_TOTAL_CENTS) {
    throw new StoreError(
      "invalid",
      `order total ${plan.total} exceeds the largest amount an order can hold (${new Money(MAX_ORDER_TOTAL_CENTS)})`,
    );
  }
  return plan;
}

type Queryable = { unsafe(query: string, params?: unknown[]): Promise<unknown[] & { count: number }> };

/** The rows of a query, as the shape its SELECT list gives them: Bun's client
 * cannot know it, so it is asserted here, once. */
async function query<R>(db: Queryable, text: string, params: unknown[] = []): Promise<R[]> {
  return (await db.unsafe(text, params)) as R[];
}

async function attachItems(db: Queryable, orders: Order[]): Promise<void> {
  if (orders.length === 0) return;
  const rows = await query<OrderItem & { order_id: string }>(db, sql.ORDER_ITEMS, [orders.map((o) => o.id)]);
  const byOrder = new Map(orders.map((o) => [o.id, o]));
  for (const row of rows) {
    byOrder.get(row.order_id)?.items.push({
      product_id: row.product_id,
      quantity: row.quantity,
      unit_price: row.unit_price,
    });
  }
}

/** The store: a pool of `poolSize` connections behind a circuit breaker.
 *
 * A call that fails because the database cannot be reached marks it down.
 * While it is down every call answers `unreachable` (503) at once, and a
 * probe opens a direct connection every PROBE_EVERY_MS (each attempt at most
 * CONNECT_TIMEOUT_MS); the first that succeeds marks the database up again,
 * with a new pool: connections made before the outage are never reused. */
export class Store {
  private pool: SQL;
  private down = false;
  private closed = false;

  private constructor(
    private readonly url: string,
    private readonly poolSize: number,
    private readonly timeouts: DbTimeouts,
  ) {
    this.pool = this.newPool(poolSize);
  }

  /** Builds the pool and checks that the database answers, so a server
   * fails at start rather than on its first request. */
  static async connect(url: string, poolSize: number, timeouts: DbTimeouts): Promise<Store> {
    const store = new Store(url, poolSize, timeouts);
    try {
      await store.ping();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  private newPool(max: number): SQL {
    return new SQL({
      url: this.url,
      max,
      idleTimeout: 0,
      connectionTimeout: CONNECT_TIMEOUT_MS / 1000,
      // Set in the startup packet, so they hold from the first statement on.
      connection: {
        statement_timeout: String(this.timeouts.statement),
        lock_timeout: String(this.timeouts.lock),
        idle_in_transaction_session_timeout: String(this.timeouts.idleInTransaction),
        // Timestamps are read as text in this zone and style.
        TimeZone: "UTC",
        DateStyle: "ISO",
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close({ timeout: 0 }).catch(() => {});
  }

  /** Runs `call` on the pool unless the database is down; trips on an
   * unreachable database. */
  private async run<R>(call: (db: SQL) => Promise<R>): Promise<R> {
    if (this.down) throw Store.unreachable();
    const pool = this.pool;
    try {
      return await call(pool);
    } catch (error) {
      const failure = fromDriver(error);
      if (failure.kind === "unreachable") this.trip(pool, failure.message);
      throw failure;
    }
  }

  private static unreachable(): StoreError {
    return new StoreError("unreachable", "the database is down; waiting for it to accept connections");
  }

  /** Marks the database down (if it is not already), closes the pool it
   * failed on (its waiting calls fail at once) and starts the probe. */
  private trip(pool: SQL, detail: string): void {
    if (this.down || pool !== this.pool || this.closed) return;
    this.down = true;
    log.warn(`database unreachable; answering 503 until it accepts connections: ${detail}`);
    pool.close({ timeout: 0 }).catch(() => {});
    void this.probe();
  }

  private async probe(): Promise<void> {
    while (!this.closed) {
      const probe = this.newPool(1);
      const attempt = probe.unsafe(sql.PING).then(
        () => true,
        () => false,
      );
      const timeout = new Promise<boolean>((resolve) => setTimeout(resolve, CONNECT_TIMEOUT_MS, false));
      const up = await Promise.race([attempt, timeout]);
      probe.close({ timeout: 0 }).catch(() => {});
      if (up) break;
      await Bun.sleep(PROBE_EVERY_MS);
    }
    if (this.closed) return;
    this.pool = this.newPool(this.poolSize);
    this.down = false;
    log.info("database reachable again");
  }

  /** One round trip to the database. */
  ping(): Promise<void> {
    return this.run(async (db) => {
      await db.unsafe(sql.PING);
    });
  }

  createUser(newUser: NewUser): Promise<User> {
    return this.run(async (db) => {
      const [row] = await query<UserRow>(db, sql.INSERT_USER, [newUser.username, newUser.email]);
      if (!row) throw new StoreError("internal", "INSERT returned no row");
      return user(row);
    });
  }

  getUser(id: string): Promise<User> {
    return this.run(async (db) => {
      const [row] = await query<UserRow>(db, sql.GET_USER, [id]);
      if (!row) throw notFound("user", id);
      return user(row);
    });
  }

  listUsers(page: ListQuery): Promise<User[]> {
    return this.run(async (db) => {
      const rows = await query<UserRow>(db, sql.LIST_USERS, [page.limit, page.offset.toString()]);
      return rows.map(user);
    });
  }

  updateUser(id: string, patch: UserPatch): Promise<User> {
    return this.run(async (db) => {
      const [row] = await query<UserRow>(db, sql.UPDATE_USER, [id, patch.username, patch.email]);
      if (!row) throw notFound("user", id);
      return user(row);
    });
  }

  deleteUser(id: string): Promise<void> {
    return this.run(async (db) => {
      const result = await db.unsafe(sql.DELETE_USER, [id]);
      if (result.count === 0) throw notFound("user", id);
    });
  }

  /** A user's orders, oldest first; not found if the user does not exist. */
  listUserOrders(userId: string, page: ListQuery): Promise<Order[]> {
    return this.run(async (db) => {
      const [exists] = await query<{ found: boolean }>(db, sql.USER_EXISTS, [userId]);
      if (!exists?.found) throw notFound("user", userId);
      const rows = await query<OrderRow>(db, sql.LIST_USER_ORDERS, [userId, page.limit, page.offset.toString()]);
      const orders = rows.map(order);
      await attachItems(db, orders);
      return orders;
    });
  }

  createProduct(newProduct: NewProduct): Promise<Product> {
    return this.run(async (db) => {
      const [row] = await query<Product>(db, sql.INSERT_PRODUCT, [
        newProduct.name,
        newProduct.description,
        newProduct.price.toString(),
        Number(newProduct.stock_quantity),
        newProduct.category,
      ]);
      if (!row) throw new StoreError("internal", "INSERT returned no row");
      return product(row);
    });
  }

  getProduct(id: string): Promise<Product> {
    return this.run(async (db) => {
      const [row] = await query<Product>(db, sql.GET_PRODUCT, [id]);
      if (!row) throw notFound("product", id);
      return product(row);
    });
  }

  listProducts(page: ListQuery): Promise<Product[]> {
    return this.run(async (db) => {
      const rows =
        page.category === null
          ? await query<Product>(db, sql.LIST_PRODUCTS, [page.limit, page.offset.toString()])
          : await query<Product>(db, sql.LIST_PRODUCTS_IN_CATEGORY, [page.limit, page.offset.toString(), page.category]);
      return rows.map(product);
    });
  }

  updateProduct(id: string, patch: ProductPatch): Promise<Product> {
    return this.run(async (db) => {
      const [row] = await query<Product>(db, sql.UPDATE_PRODUCT, [
        id,
        patch.name,
        patch.description,
        patch.price === null ? null : patch.price.toString(),
        patch.stock_quantity === null ? null : Number(patch.stock_quantity),
        patch.category,
      ]);
      if (!row) throw notFound("product", id);
      return product(row);
    });
  }

  deleteProduct(id: string): Promise<void> {
    return this.run(async (db) => {
      const result = await db.unsafe(sql.DELETE_PRODUCT, [id]);
      if (result.count === 0) throw notFound("product", id);
    });
  }

  /** Places an order in one transaction: locks the user against deletion
   * and the products in ascending id order, checks the user, every product
   * and its stock, decrements the stock and writes the order with the
   * prices read under the lock. Any failure rolls back and changes nothing. */
  createOrder(newOrder: NewOrder): Promise<Order> {
    return this.run((db) =>
      db.begin(async (tx) => {
        const userId = newOrder.user_id.toString();
        const [exists] = await query<{ found: boolean }>(tx, sql.LOCK_USER, [userId]);
        if (!exists?.found) throw new StoreError("unknown_reference", `unknown user id: ${userId}`);
        const ids = newOrder.items.map((item) => item.product_id.toString());
        const locked = await query<LockedProduct>(tx, sql.LOCK_PRODUCTS, [ids]);
        const plan = planOrder(newOrder, locked);
        const [placed] = await query<{ id: string; created_at: string }>(tx, sql.PLACE_ORDER, [
          userId,
          plan.total.toString(),
          plan.productIds,
          plan.quantities,
          plan.unitPrices,
        ]);
        if (!placed) throw new StoreError("internal", "order INSERT returned no row");
        return {
          id: placed.id,
          user_id: userId,
          status: "confirmed",
          total_amount: plan.total.toString(),
          created_at: timestampFromDatabase(placed.created_at),
          items: plan.productIds.map((productId, i) => ({
            product_id: productId,
            quantity: plan.quantities[i]!,
            unit_price: plan.unitPrices[i]!,
          })),
        } satisfies Order;
      }),
    );
  }

  getOrder(id: string): Promise<Order> {
    return this.run(async (db) => {
      const [row] = await query<OrderRow>(db, sql.GET_ORDER, [id]);
      if (!row) throw notFound("order", id);
      const found = order(row);
      await attachItems(db, [found]);
      return found;
    });
  }

  /** Cancels a confirmed order and restores its stock in one transaction;
   * cancelling an order twice is a conflict. */
  cancelOrder(id: string): Promise<Order> {
    return this.run((db) =>
      db.begin(async (tx) => {
        const [row] = await query<OrderRow>(tx, sql.CANCEL_ORDER, [id]);
        if (!row) {
          const [status] = await query<{ status: string }>(tx, sql.ORDER_STATUS, [id]);
          throw status
            ? new StoreError("conflict", `order ${id} is already cancelled`)
            : notFound("order", id);
        }
        const cancelled = order(row);
        await query(tx, sql.LOCK_ORDER_PRODUCTS, [id]);
        await tx.unsafe(sql.RESTORE_STOCK, [id]);
        await attachItems(tx, [cancelled]);
        return cancelled;
      }),
    );
  }
}

/** A StoreError as shop's Display writes one, for logs and startup errors. */
export function describeStoreError(error: unknown): string {
  if (!(error instanceof StoreError)) return error instanceof Error ? error.message : String(error);
  switch (error.kind) {
    case "not_found":
      return `${error.message} not found`;
    case "unavailable":
      return `database unavailable: ${error.message}`;
    case "unreachable":
      return `database unreachable: ${error.message}`;
    case "internal":
      return `database error: ${error.message}`;
    default:
      return error.message;
  }
}
