// shop-ts's validation against shop::model's: each request type's rules, in
// shop's order (the first rule broken is the one reported), and its messages.

import { describe, expect, test } from "bun:test";
import {
  NEW_ORDER,
  NEW_PRODUCT,
  NEW_USER,
  PRODUCT_PATCH,
  USER_PATCH,
  type NewOrder,
  type NewOrderItem,
  type NewProduct,
  type NewUser,
  type PriceInput,
  type ProductPatch,
  type UserPatch,
} from "./model.ts";
import { badRequest, refusal, type Answer } from "./testing.ts";

const BAD_USERNAME = badRequest("username must be 3 to 50 characters of A-Z, a-z, 0-9, '_', '.' or '-'");
const BAD_EMAIL = badRequest(
  "email must be at most 254 characters with one '@' and a dotted domain, like name@example.com",
);
const BAD_NAME = badRequest("name must be 1 to 200 characters");
const BAD_CATEGORY = badRequest("category must be 1 to 50 characters");
const LONG_DESCRIPTION = badRequest("description must be at most 2000 characters");
const BAD_PRICE = badRequest(
  'price must be greater than 0 and less than 1000000000 with at most two decimals, like 19.99 or "19.99"',
);
const BAD_STOCK = badRequest("stock_quantity must be between 0 and 1000000000");
const BAD_USER_ID = badRequest("user_id must be a positive integer");
const BAD_ITEM_COUNT = badRequest("an order must have 1 to 50 items");

/** shop::model::check_no_nul's refusal: the message spells the escape
 * `\u0000` out, backslash included. */
const nul = (field: string) => badRequest(`${field} must not contain the NUL character (\\u0000)`);

const user = (username: string, email = "alice@example.com"): NewUser => ({ username, email });

describe("usernames", () => {
  const cases: [string, Answer | null][] = [
    ["abc", null],
    ["a.b-c_9", null],
    ["ABC_xyz-09.", null],
    ["x".repeat(50), null],
    ["ab", BAD_USERNAME],
    ["x".repeat(51), BAD_USERNAME],
    ["", BAD_USERNAME],
    ["has space", BAD_USERNAME],
    ["abc!", BAD_USERNAME],
    ["ünï", BAD_USERNAME],
    ["abc\0", BAD_USERNAME],
  ];
  for (const [username, want] of cases) {
    test(JSON.stringify(username), () => {
      expect(refusal(() => NEW_USER.validate(user(username)))).toEqual(want);
    });
  }
});

describe("emails", () => {
  const cases: [string, Answer | null][] = [
    ["a@b.co", null],
    ["first.last@mail.example.com", null],
    // 254 characters, counted as Rust counts them: not bytes, nor UTF-16 units.
    [`${"x".repeat(242)}@example.com`, null],
    [`${"é".repeat(242)}@example.com`, null],
    [`${"😀".repeat(242)}@example.com`, null],
    [`${"x".repeat(243)}@example.com`, BAD_EMAIL],
    // A zero-width space is neither White_Space nor a control character.
    ["a\u200b@b.co", null],

    ["", BAD_EMAIL],
    ["a", BAD_EMAIL],
    ["a@b", BAD_EMAIL],
    ["@b.co", BAD_EMAIL],
    ["a@@b.co", BAD_EMAIL],
    ["a@b@c.co", BAD_EMAIL],
    ["a@.co", BAD_EMAIL],
    ["a@b.", BAD_EMAIL],
    ["a@b..co", BAD_EMAIL],
    ["a b@c.co", BAD_EMAIL],
    ["a\tb@c.co", BAD_EMAIL],
    ["a@b.co\n", BAD_EMAIL],
    ["a\u0085b@c.co", BAD_EMAIL],
    ["a\u00a0b@c.co", BAD_EMAIL],
    ["a\u2028b@c.co", BAD_EMAIL],
    ["a\u3000b@c.co", BAD_EMAIL],
    ["a\u007fb@c.co", BAD_EMAIL],
    ["a\u0080b@c.co", BAD_EMAIL],
  ];
  for (const [email, want] of cases) {
    test(JSON.stringify(email), () => {
      expect(refusal(() => NEW_USER.validate(user("alice", email)))).toEqual(want);
    });
  }
});

describe("user requests", () => {
  const patch = (fields: Partial<UserPatch>): UserPatch => ({ username: null, email: null, ...fields });
  const cases: [string, () => void, Answer | null][] = [
    ["new user", () => NEW_USER.validate(user("alice")), null],
    ["new user, both wrong", () => NEW_USER.validate(user("a", "nope")), BAD_USERNAME],
    ["new user, bad email", () => NEW_USER.validate(user("alice", "nope")), BAD_EMAIL],
    [
      "empty user patch",
      () => USER_PATCH.validate(patch({})),
      badRequest("a user patch must set at least one of username, email"),
    ],
    ["user patch of email", () => USER_PATCH.validate(patch({ email: "bob@example.com" })), null],
    ["user patch, bad username", () => USER_PATCH.validate(patch({ username: "b", email: "nope" })), BAD_USERNAME],
    ["user patch, bad email", () => USER_PATCH.validate(patch({ email: "nope" })), BAD_EMAIL],
  ];
  for (const [name, check, want] of cases) test(name, () => expect(refusal(check)).toEqual(want));
});

describe("new products", () => {
  const product = (fields: Partial<NewProduct<PriceInput>>): NewProduct<PriceInput> => ({
    name: "Widget",
    description: "",
    price: 19.99,
    stock_quantity: 5n,
    category: "tools",
    ...fields,
  });
  const cases: [string, Partial<NewProduct<PriceInput>>, Answer | null][] = [
    ["new product", {}, null],
    ["one-character name", { name: "n" }, null],
    ["200-character name", { name: "😀".repeat(200) }, null],
    ["empty name", { name: "" }, BAD_NAME],
    ["201-character name", { name: "n".repeat(201) }, BAD_NAME],
    ["name with NUL", { name: "a\0b" }, nul("name")],
    ["name and price wrong", { name: "", price: 0 }, BAD_NAME],
    ["2000-character description", { description: "é".repeat(2000) }, null],
    ["2001-character description", { description: "d".repeat(2001) }, LONG_DESCRIPTION],
    ["description with NUL", { description: "a\0" }, nul("description")],
    // Every way a price can be wrong has the one message, checked after the
    // description and before the stock.
    ["one cent", { price: 0.01 }, null],
    ["one cent as text", { price: "0.01" }, null],
    ["999999999.99", { price: 999_999_999.99 }, null],
    ["999999999.99 as text", { price: "999999999.99" }, null],
    ["free", { price: 0 }, BAD_PRICE],
    ["free as text", { price: "0.00" }, BAD_PRICE],
    ["negative price", { price: -1.5 }, BAD_PRICE],
    ["1000000000", { price: 1_000_000_000 }, BAD_PRICE],
    ["1000000000 as text", { price: "1000000000" }, BAD_PRICE],
    ["three decimals", { price: 19.999 }, BAD_PRICE],
    ["three decimals as text", { price: "1.001" }, BAD_PRICE],
    ["not an amount", { price: "1e2" }, BAD_PRICE],
    ["a number from 1e21", { price: 1e21 }, BAD_PRICE],
    ["a number below 1e-6", { price: 1.5e-7 }, BAD_PRICE],
    ["a hundred digits", { price: "9".repeat(100) }, BAD_PRICE],
    ["description and price wrong", { description: "d".repeat(2001), price: 0 }, LONG_DESCRIPTION],
    ["price and stock wrong", { price: 0, stock_quantity: -1n }, BAD_PRICE],
    ["no stock", { stock_quantity: 0n }, null],
    ["most stock", { stock_quantity: 1_000_000_000n }, null],
    ["negative stock", { stock_quantity: -1n }, BAD_STOCK],
    ["too much stock", { stock_quantity: 1_000_000_001n }, BAD_STOCK],
    ["50-character category", { category: "c".repeat(50) }, null],
    ["no category", { category: "" }, BAD_CATEGORY],
    ["51-character category", { category: "c".repeat(51) }, BAD_CATEGORY],
    ["category with NUL", { category: "\0" }, nul("category")],
  ];
  for (const [name, fields, want] of cases) {
    test(name, () => expect(refusal(() => NEW_PRODUCT.validate(product(fields)))).toEqual(want));
  }
});

describe("product patches", () => {
  const patch = (fields: Partial<ProductPatch<PriceInput>>): ProductPatch<PriceInput> => ({
    name: null,
    description: null,
    price: null,
    stock_quantity: null,
    category: null,
    ...fields,
  });
  const cases: [string, Partial<ProductPatch<PriceInput>>, Answer | null][] = [
    [
      "empty patch",
      {},
      badRequest("a product patch must set at least one of name, description, price, stock_quantity, category"),
    ],
    ["emptying the description", { description: "" }, null],
    ["free", { price: 0 }, BAD_PRICE],
    ["price as text", { price: "19.99" }, null],
    ["price and stock wrong", { price: "19.999", stock_quantity: -1n }, BAD_PRICE],
    ["name and stock wrong", { name: "", stock_quantity: -1n }, BAD_NAME],
    ["too much stock", { stock_quantity: 1_000_000_001n }, BAD_STOCK],
    ["long category", { category: "c".repeat(51) }, BAD_CATEGORY],
  ];
  for (const [name, fields, want] of cases) {
    test(name, () => expect(refusal(() => PRODUCT_PATCH.validate(patch(fields)))).toEqual(want));
  }
});

describe("order requests", () => {
  const order = (userId: bigint, items: [number, number][]): NewOrder => ({
    user_id: userId,
    items: items.map(([productId, quantity]): NewOrderItem => ({ product_id: BigInt(productId), quantity })),
  });
  /** n different products, one of each. */
  const distinct = (n: number): [number, number][] => Array.from({ length: n }, (_, i) => [i + 1, 1]);
  const cases: [string, NewOrder, Answer | null][] = [
    ["order", order(1n, [[1, 1], [2, 1000]]), null],
    ["order of 50 items", order(1n, distinct(50)), null],
    ["no user", order(0n, [[1, 1]]), BAD_USER_ID],
    ["negative user", order(-5n, []), BAD_USER_ID],
    ["no items", order(1n, []), BAD_ITEM_COUNT],
    ["51 items", order(1n, distinct(51)), BAD_ITEM_COUNT],
    ["no product", order(1n, [[1, 1], [0, 1]]), badRequest("items[1].product_id must be a positive integer")],
    ["none of a product", order(1n, [[1, 0]]), badRequest("items[0].quantity must be between 1 and 1000")],
    ["too many of a product", order(1n, [[1, 1001]]), badRequest("items[0].quantity must be between 1 and 1000")],
    [
      "product twice",
      order(1n, [[1, 1], [1, 2]]),
      badRequest("product 1 appears more than once; list each product once"),
    ],
    [
      "product twice, the second of none",
      order(1n, [[1, 1], [1, 0]]),
      badRequest("items[1].quantity must be between 1 and 1000"),
    ],
  ];
  for (const [name, request, want] of cases) {
    test(name, () => expect(refusal(() => NEW_ORDER.validate(request))).toEqual(want));
  }
});
