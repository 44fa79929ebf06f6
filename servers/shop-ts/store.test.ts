// shop-ts's SQLSTATE classification against shop::store::classify_db_error:
// each SQLSTATE's answer, and which failures mean the database is unreachable
// (the store's breaker trips on those) rather than only unavailable.

import { describe, expect, spyOn, test } from "bun:test";
import { classifyDbError, StoreError } from "./store.ts";
import { answerOf, badRequest, UNAVAILABLE, type Answer } from "./testing.ts";

/** The answer to a store failure. Outages and bugs are logged on stderr, as
 * shop logs them; the tests do not look at the log. */
function answer(failure: StoreError): Answer {
  const stderr = spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    return answerOf(failure.toApiError());
  } finally {
    stderr.mockRestore();
  }
}

const conflict = (message: string): Answer => ({ status: 409, code: "conflict", message });
const INTERNAL: Answer = { status: 500, code: "internal", message: "internal error" };

const DUPLICATE = 'duplicate key value violates unique constraint "products_pkey"';
const REFERENCED = 'update or delete on table "users" violates foreign key constraint "carts_user_id_fkey"';

interface Case {
  name: string;
  sqlstate: string | undefined;
  constraint?: string;
  message: string;
  want: Answer;
  unreachable?: boolean;
}

const cases: Case[] = [
  {
    name: "taken username",
    sqlstate: "23505",
    constraint: "users_username_key",
    message: DUPLICATE,
    want: conflict("username is already taken"),
  },
  {
    name: "email in use",
    sqlstate: "23505",
    constraint: "users_email_key",
    message: DUPLICATE,
    want: conflict("email is already in use"),
  },
  {
    name: "other unique violation",
    sqlstate: "23505",
    constraint: "products_pkey",
    message: DUPLICATE,
    want: conflict(`duplicate value: ${DUPLICATE}`),
  },
  {
    name: "user with orders",
    sqlstate: "23503",
    constraint: "orders_user_id_fkey",
    message: REFERENCED,
    want: conflict("user has orders and cannot be deleted"),
  },
  {
    name: "ordered product",
    sqlstate: "23503",
    constraint: "order_items_product_id_fkey",
    message: REFERENCED,
    want: conflict("product has been ordered and cannot be deleted"),
  },
  {
    name: "other foreign key",
    sqlstate: "23503",
    constraint: "carts_user_id_fkey",
    message: REFERENCED,
    want: conflict(`still referenced: ${REFERENCED}`),
  },
  {
    name: "stock over the maximum",
    sqlstate: "23514",
    constraint: "products_stock_quantity_max",
    message: "new row violates check constraint",
    want: conflict("a product's stock cannot exceed 1000000000; restoring this order's items would"),
  },
  {
    name: "other check constraint",
    sqlstate: "23514",
    constraint: "products_price_check",
    message: "new row violates check constraint",
    want: INTERNAL,
  },

  {
    name: "numeric out of range",
    sqlstate: "22003",
    message: "numeric field overflow",
    want: badRequest("value out of range: numeric field overflow"),
  },
  {
    name: "invalid text",
    sqlstate: "22P02",
    message: 'invalid input syntax for type bigint: "x"',
    want: badRequest('invalid value: invalid input syntax for type bigint: "x"'),
  },
  {
    name: "string too long",
    sqlstate: "22001",
    message: "value too long for type character varying(50)",
    want: badRequest("invalid value: value too long for type character varying(50)"),
  },

  { name: "connection failure", sqlstate: "08006", message: "connection failure", want: UNAVAILABLE, unreachable: true },
  { name: "protocol violation", sqlstate: "08P01", message: "protocol violation", want: UNAVAILABLE, unreachable: true },
  {
    name: "administrator shutdown",
    sqlstate: "57P01",
    message: "terminating connection due to administrator command",
    want: UNAVAILABLE,
    unreachable: true,
  },
  {
    name: "crash shutdown",
    sqlstate: "57P02",
    message: "terminating connection because of crash of another server process",
    want: UNAVAILABLE,
    unreachable: true,
  },
  {
    name: "starting up",
    sqlstate: "57P03",
    message: "the database system is starting up",
    want: UNAVAILABLE,
    unreachable: true,
  },
  // No SQLSTATE: the connection itself failed (shop's `None` arm).
  { name: "no SQLSTATE", sqlstate: undefined, message: "Connection closed", want: UNAVAILABLE, unreachable: true },

  {
    name: "statement timeout",
    sqlstate: "57014",
    message: "canceling statement due to statement timeout",
    want: UNAVAILABLE,
  },
  { name: "too many connections", sqlstate: "53300", message: "sorry, too many clients already", want: UNAVAILABLE },
  { name: "disk full", sqlstate: "53100", message: "could not extend file", want: UNAVAILABLE },
  { name: "serialization failure", sqlstate: "40001", message: "could not serialize access", want: UNAVAILABLE },
  { name: "deadlock", sqlstate: "40P01", message: "deadlock detected", want: UNAVAILABLE },
  { name: "lock timeout", sqlstate: "55P03", message: "canceling statement due to lock timeout", want: UNAVAILABLE },

  { name: "object in use", sqlstate: "55006", message: "database is being accessed by other users", want: INTERNAL },
  { name: "undefined table", sqlstate: "42P01", message: 'relation "users" does not exist', want: INTERNAL },
  { name: "failed transaction", sqlstate: "25P02", message: "current transaction is aborted", want: INTERNAL },
  { name: "server bug", sqlstate: "XX000", message: "internal error", want: INTERNAL },
];

describe("classifyDbError", () => {
  for (const c of cases) {
    test(c.name, () => {
      const failure = classifyDbError(c.sqlstate, c.constraint, c.message);
      expect(answer(failure)).toEqual(c.want);
      expect(failure.kind === "unreachable").toBe(c.unreachable ?? false);
    });
  }
});

describe("StoreError", () => {
  // The failures the store decides itself, as shop words them.
  test("not found", () => {
    expect(answer(new StoreError("not_found", "user 7"))).toEqual({
      status: 404,
      code: "not_found",
      message: "user 7 not found",
    });
  });

  test("insufficient stock", () => {
    const message = "insufficient stock for product 3: requested 5, available 2";
    expect(answer(new StoreError("insufficient_stock", message))).toEqual({
      status: 409,
      code: "insufficient_stock",
      message,
    });
  });

  test("unknown reference", () => {
    expect(answer(new StoreError("unknown_reference", "unknown user id: 9"))).toEqual({
      status: 422,
      code: "unknown_reference",
      message: "unknown user id: 9",
    });
  });
});
