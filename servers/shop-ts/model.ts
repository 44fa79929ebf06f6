// Domain types: what the API reads and writes, and the rules its input
// obeys, as shop::model has them. A request body's shape is checked by
// `body.ts` against the tables here, then its values by the rules here, so a
// handler only ever sees valid input. Responses are written here, byte for
// byte as serde_json writes shop's types.

import type { Shape } from "./body.ts";
import { ApiError } from "./error.ts";
import { Money } from "./money.ts";

export interface NewUser {
  username: string;
  email: string;
}

export interface UserPatch {
  username: string | null;
  email: string | null;
}

/** A price as a request body wrote it: a JSON string, or the float a JSON
 * number reads as. Validation reads it as Money. */
export type PriceInput = string | number;

export interface NewProduct<Price = Money> {
  name: string;
  description: string;
  price: Price;
  stock_quantity: bigint;
  category: string;
}

export interface ProductPatch<Price = Money> {
  name: string | null;
  description: string | null;
  price: Price | null;
  stock_quantity: bigint | null;
  category: string | null;
}

export interface NewOrderItem {
  product_id: bigint;
  quantity: number;
}

export interface NewOrder {
  user_id: bigint;
  items: NewOrderItem[];
}

/** A request type: the shape of its body, and the rules its values must
 * then obey. */
export interface RequestType<V, Body = V> {
  shape: Shape;
  /** Checks the values in the schema's order of members, the first rule
   * broken throwing its ApiError, and gives the request. */
  validate(body: Body): V;
}

export const USERNAME_MIN = 3;
export const USERNAME_MAX = 50;
export const EMAIL_MAX_LEN = 254;
export const NAME_LEN = [1, 200] as const;
export const DESCRIPTION_MAX_LEN = 2000;
export const CATEGORY_LEN = [1, 50] as const;
export const MAX_STOCK = 1_000_000_000n;
export const MAX_ORDER_ITEMS = 50;
export const QUANTITY = [1, 1000] as const;
const MAX_PRICE_CENTS = 1_000_000_000n * 100n;

function check(ok: boolean, message: () => string): void {
  if (!ok) throw ApiError.badRequest(message());
}

/** Characters (Unicode scalar values), as Rust's `chars().count()`. */
function charCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

const USERNAME = /^[A-Za-z0-9_.-]*$/;

function checkUsername(username: string): void {
  // Byte length, as shop counts it; only ASCII passes the pattern anyway.
  const bytes = Buffer.byteLength(username, "utf8");
  check(
    bytes >= USERNAME_MIN && bytes <= USERNAME_MAX && USERNAME.test(username),
    () => "username must be 3 to 50 characters of A-Z, a-z, 0-9, '_', '.' or '-'",
  );
}

/** Rust's `char::is_whitespace` (the Unicode White_Space property) or
 * `char::is_control` (general category Cc). */
const SPACE_OR_CONTROL = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\p{Cc}/u;

function checkEmail(email: string): void {
  let valid = charCount(email) <= EMAIL_MAX_LEN && !SPACE_OR_CONTROL.test(email);
  if (valid) {
    const at = email.indexOf("@");
    if (at < 0) valid = false;
    else {
      const local = email.slice(0, at);
      const domain = email.slice(at + 1);
      const labels = domain.split(".");
      valid = local !== "" && !domain.includes("@") && labels.length >= 2 && labels.every((l) => l !== "");
    }
  }
  check(
    valid,
    () => "email must be at most 254 characters with one '@' and a dotted domain, like name@example.com",
  );
}

/** PostgreSQL's text cannot hold the NUL character: refused here, as bad
 * input, before the database would refuse it as an error. */
export function checkNoNul(field: string, value: string): void {
  check(!value.includes("\0"), () => `${field} must not contain the NUL character (\\u0000)`);
}

function checkChars(field: string, value: string, [min, max]: readonly [number, number]): void {
  const count = charCount(value);
  check(count >= min && count <= max, () => `${field} must be ${min} to ${max} characters`);
  checkNoNul(field, value);
}

function checkDescription(description: string): void {
  check(
    charCount(description) <= DESCRIPTION_MAX_LEN,
    () => `description must be at most ${DESCRIPTION_MAX_LEN} characters`,
  );
  checkNoNul("description", description);
}

/** A price read as an amount and checked, with one message for every way it
 * can be wrong: not an amount, too many decimals, out of range. */
function checkPrice(price: PriceInput): Money {
  const amount = typeof price === "string" ? Money.parse(price) : Money.fromNumber(price);
  if (amount === null || amount.cents <= 0n || amount.cents >= MAX_PRICE_CENTS) {
    throw ApiError.badRequest(
      'price must be greater than 0 and less than 1000000000 with at most two decimals, like 19.99 or "19.99"',
    );
  }
  return amount;
}

function checkStock(stock: bigint): void {
  check(stock >= 0n && stock <= MAX_STOCK, () => `stock_quantity must be between 0 and ${MAX_STOCK}`);
}

export const NEW_USER: RequestType<NewUser> = {
  shape: { username: { type: "string" }, email: { type: "string" } },
  validate(user) {
    checkUsername(user.username);
    checkEmail(user.email);
    return user;
  },
};

export const USER_PATCH: RequestType<UserPatch> = {
  shape: {
    username: { type: "string", optional: true },
    email: { type: "string", optional: true },
  },
  validate(patch) {
    check(
      patch.username !== null || patch.email !== null,
      () => "a user patch must set at least one of username, email",
    );
    if (patch.username !== null) checkUsername(patch.username);
    if (patch.email !== null) checkEmail(patch.email);
    return patch;
  },
};

export const NEW_PRODUCT: RequestType<NewProduct, NewProduct<PriceInput>> = {
  shape: {
    name: { type: "string" },
    description: { type: "string", default: "" },
    price: { type: "price" },
    stock_quantity: { type: "int64" },
    category: { type: "string" },
  },
  validate(product) {
    checkChars("name", product.name, NAME_LEN);
    checkDescription(product.description);
    const price = checkPrice(product.price);
    checkStock(product.stock_quantity);
    checkChars("category", product.category, CATEGORY_LEN);
    return { ...product, price };
  },
};

export const PRODUCT_PATCH: RequestType<ProductPatch, ProductPatch<PriceInput>> = {
  shape: {
    name: { type: "string", optional: true },
    description: { type: "string", optional: true },
    price: { type: "price", optional: true },
    stock_quantity: { type: "int64", optional: true },
    category: { type: "string", optional: true },
  },
  validate(patch) {
    check(
      patch.name !== null ||
        patch.description !== null ||
        patch.price !== null ||
        patch.stock_quantity !== null ||
        patch.category !== null,
      () => "a product patch must set at least one of name, description, price, stock_quantity, category",
    );
    if (patch.name !== null) checkChars("name", patch.name, NAME_LEN);
    if (patch.description !== null) checkDescription(patch.description);
    const price = patch.price === null ? null : checkPrice(patch.price);
    if (patch.stock_quantity !== null) checkStock(patch.stock_quantity);
    if (patch.category !== null) checkChars("category", patch.category, CATEGORY_LEN);
    return { ...patch, price };
  },
};

export const NEW_ORDER: RequestType<NewOrder> = {
  shape: {
    user_id: { type: "int64" },
    items: { type: { arrayOf: { product_id: { type: "int64" }, quantity: { type: "int32" } } } },
  },
  validate(order) {
    check(order.user_id > 0n, () => "user_id must be a positive integer");
    check(
      order.items.length >= 1 && order.items.length <= MAX_ORDER_ITEMS,
      () => `an order must have 1 to ${MAX_ORDER_ITEMS} items`,
    );
    const seen = new Set<bigint>();
    order.items.forEach((item, index) => {
      check(item.product_id > 0n, () => `items[${index}].product_id must be a positive integer`);
      check(
        item.quantity >= QUANTITY[0] && item.quantity <= QUANTITY[1],
        () => `items[${index}].quantity must be between ${QUANTITY[0]} and ${QUANTITY[1]}`,
      );
      check(
        !seen.has(item.product_id),
        () => `product ${item.product_id} appears more than once; list each product once`,
      );
      seen.add(item.product_id);
    });
    return order;
  },
};

// ---- responses ---------------------------------------------------------------

/** Rows as the store reads them: ids as decimal text (bigint columns), money
 * as two-decimal text, timestamps already in the API's format. */
export interface User {
  id: string;
  username: string;
  email: string;
  created_at: string;
  updated_at: string;
}

export interface Product {
  id: string;
  name: string;
  description: string;
  price: string;
  stock_quantity: number;
  category: string;
  created_at: string;
  updated_at: string;
}

export interface OrderItem {
  product_id: string;
  quantity: number;
  unit_price: string;
}

export interface Order {
  id: string;
  user_id: string;
  status: "confirmed" | "cancelled";
  total_amount: string;
  created_at: string;
  items: OrderItem[];
}

const str = JSON.stringify;

export function userJson(u: User): string {
  return `{"id":${u.id},"username":${str(u.username)},"email":${str(u.email)},"created_at":"${u.created_at}","updated_at":"${u.updated_at}"}`;
}

export function productJson(p: Product): string {
  return `{"id":${p.id},"name":${str(p.name)},"description":${str(p.description)},"price":"${p.price}","stock_quantity":${p.stock_quantity},"category":${str(p.category)},"created_at":"${p.created_at}","updated_at":"${p.updated_at}"}`;
}

function itemJson(i: OrderItem): string {
  return `{"product_id":${i.product_id},"quantity":${i.quantity},"unit_price":"${i.unit_price}"}`;
}

export function orderJson(o: Order): string {
  return `{"id":${o.id},"user_id":${o.user_id},"status":"${o.status}","total_amount":"${o.total_amount}","created_at":"${o.created_at}","items":[${o.items.map(itemJson).join(",")}]}`;
}

export function listJson<V>(values: V[], one: (value: V) => string): string {
  return `[${values.map(one).join(",")}]`;
}

/** A PostgreSQL `timestamptz` as text (TimeZone UTC, DateStyle ISO), e.g.
 * `2024-01-01 00:00:01.5+00`, as chrono writes a `DateTime<Utc>`: RFC 3339
 * with `Z`, and 0, 3 or 6 decimals of the second, as few as it needs. */
export function timestampFromDatabase(text: string): string {
  const match = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00$/.exec(text);
  if (!match) throw new Error(`unexpected timestamp from the database: ${text}`);
  const micros = (match[3] ?? "").padEnd(6, "0");
  let fraction = "";
  if (micros !== "000000") fraction = micros.endsWith("000") ? `.${micros.slice(0, 3)}` : `.${micros}`;
  return `${match[1]}T${match[2]}${fraction}Z`;
}
