// Request bodies read in the contract's two steps (schema/openapi.yaml, "JSON
// everywhere"): a body of the wrong shape is refused with `invalid JSON body: `
// and the parser's words, which only the prefix of is compared; a body of the
// right shape has its values checked, with the contract's exact messages.

import { describe, expect, test } from "bun:test";
import { ApiError } from "./error.ts";
import { parseJson } from "./http.ts";
import { NEW_ORDER, NEW_PRODUCT, NEW_USER, PRODUCT_PATCH, USER_PATCH, type RequestType } from "./model.ts";
import { Money } from "./money.ts";
import { answerOf, badRequest, type Answer } from "./testing.ts";

/** A shape error: 400 bad_request, its message the prefix and some words. */
const SHAPE = "shape";
/** What a body gives: its request, a shape error, or a value error. */
type Outcome = { value: unknown } | typeof SHAPE | Answer;

const PREFIX = "invalid JSON body: ";

function outcome(body: string | Uint8Array, type: RequestType<unknown, never>): Outcome {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  try {
    return { value: parseJson(bytes, type) };
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const answer = answerOf(error);
    if (answer.status === 400 && answer.code === "bad_request" && answer.message.startsWith(PREFIX)) {
      expect(answer.message.length).toBeGreaterThan(PREFIX.length);
      return SHAPE;
    }
    return answer;
  }
}

function table(type: RequestType<unknown, never>, cases: [string | Uint8Array, Outcome][]): void {
  for (const [body, want] of cases) {
    let name = typeof body === "string" ? body : `bytes ${Array.from(body).join(" ")}`;
    if (/[\x00-\x1f\ufeff]/.test(name)) name = JSON.stringify(name);
    test(name.length > 120 ? `${name.slice(0, 120)}...` : name, () => expect(outcome(body, type)).toEqual(want));
  }
}

const BAD_PRICE = badRequest(
  'price must be greater than 0 and less than 1000000000 with at most two decimals, like 19.99 or "19.99"',
);

describe("new users", () => {
  const alice = { value: { username: "abc", email: "a@b.co" } };
  table(NEW_USER, [
    ['{"username":"abc","email":"a@b.co"}', alice],
    [' \n\t{ "email" : "a@b.co" , "username" : "abc" }\r\n ', alice],
    // Malformed JSON.
    ["", SHAPE],
    ["{", SHAPE],
    ['{"username":"abc","email":"a@b.co"}x', SHAPE],
    ['{"username":"abc","email":"a@b.co"}{}', SHAPE],
    ['{"username":"abc","email":"a@b.co",}', SHAPE],
    ["{'username':'abc','email':'a@b.co'}", SHAPE],
    ['{"username":"abc","email":"a@b.co"} // comment', SHAPE],
    // Invalid UTF-8 anywhere, even where a lossy decoder would make it valid.
    [new Uint8Array([...new TextEncoder().encode('{"username":"ab'), 0xff, ...new TextEncoder().encode('","email":"a@b.co"}')]), SHAPE],
    [new Uint8Array([...new TextEncoder().encode('{"username":"abc","email":"a@b.co"}'), 0xc3]), SHAPE],
    // A byte order mark.
    ['\ufeff{"username":"abc","email":"a@b.co"}', SHAPE],
    // Not an object.
    ['["abc","a@b.co"]', SHAPE],
    ["null", SHAPE],
    ['"abc"', SHAPE],
    ["1", SHAPE],
    // Unknown members, names matched exactly.
    ['{"username":"abc","email":"a@b.co","age":3}', SHAPE],
    ['{"Username":"abc","email":"a@b.co"}', SHAPE],
    ['{"username":"abc","email":"a@b.co","__proto__":{}}', SHAPE],
    ['{"username":"abc","email":"a@b.co","toString":"x"}', SHAPE],
    // Missing members, and null where a value is required.
    ['{"username":"abc"}', SHAPE],
    ["{}", SHAPE],
    ['{"username":null,"email":"a@b.co"}', SHAPE],
    // Wrong types.
    ['{"username":123,"email":"a@b.co"}', SHAPE],
    ['{"username":"abc","email":["a@b.co"]}', SHAPE],
    ['{"username":"abc","email":true}', SHAPE],
    // Left open by the contract: a lone surrogate is refused here, and a
    // member named twice takes its last value.
    ['{"username":"ab\\ud800","email":"a@b.co"}', SHAPE],
    ['{"username":"x","username":"abc","email":"a@b.co"}', alice],
    // Nesting deeper than the parser goes is refused like malformed JSON.
    [`{"username":${"[".repeat(30000)}${"]".repeat(30000)},"email":"a@b.co"}`, SHAPE],
    // Escapes and non-ASCII are read as JSON has them.
    ['{"username":"\\u0061bc","email":"\u00e9@b.co"}', { value: { username: "abc", email: "é@b.co" } }],
    // The right shape: value rules, in the schema's order.
    ['{"username":"ab","email":"nope"}', badRequest("username must be 3 to 50 characters of A-Z, a-z, 0-9, '_', '.' or '-'")],
    [
      '{"username":"abc","email":"nope"}',
      badRequest("email must be at most 254 characters with one '@' and a dotted domain, like name@example.com"),
    ],
  ]);
});

describe("user patches", () => {
  table(USER_PATCH, [
    ['{"email":"a@b.co"}', { value: { username: null, email: "a@b.co" } }],
    // null is absent in a patch.
    ['{"username":null,"email":"a@b.co"}', { value: { username: null, email: "a@b.co" } }],
    ["{}", badRequest("a user patch must set at least one of username, email")],
    ['{"username":null}', badRequest("a user patch must set at least one of username, email")],
    ['{"password":"x"}', SHAPE],
    ['{"username":1}', SHAPE],
    ["[]", SHAPE],
  ]);
});

describe("new products", () => {
  const body = (price: string, rest = '"stock_quantity":5,"category":"tools"') =>
    `{"name":"Widget","price":${price},${rest}}`;
  const widget = (cents: bigint, description = "") => ({
    value: { name: "Widget", description, price: new Money(cents), stock_quantity: 5n, category: "tools" },
  });
  table(NEW_PRODUCT, [
    // Prices: a number by the shortest text of its float, a string exactly.
    [body("19.99"), widget(1999n)],
    [body('"19.99"'), widget(1999n)],
    [body('"007.50"'), widget(750n)],
    [body("1e2"), widget(10000n)],
    [body("1.100"), widget(110n)],
    [body("20"), widget(2000n)],
    [body('"20"'), widget(2000n)],
    [body("999999999.99"), widget(99999999999n)],
    [body("0.01"), widget(1n)],
    // Every price problem, one message.
    [body("19.999"), BAD_PRICE],
    [body('"1.001"'), BAD_PRICE],
    [body('"1.100"'), BAD_PRICE],
    [body("0"), BAD_PRICE],
    [body("-0"), BAD_PRICE],
    [body("-1.5"), BAD_PRICE],
    [body("1000000000"), BAD_PRICE],
    [body('"1000000000"'), BAD_PRICE],
    [body("1e21"), BAD_PRICE],
    [body("1e-7"), BAD_PRICE],
    [body("1e300"), BAD_PRICE],
    [body(`"${"9".repeat(1000)}"`), BAD_PRICE],
    ...["", "1.", ".5", "+1", "-1", "1e2", " 1", "1.2.3", "١٢"].map(
      (text): [string, Outcome] => [body(JSON.stringify(text)), BAD_PRICE],
    ),
    // A number beyond a float's range is malformed; a price is a number or a string.
    [body("1e400"), SHAPE],
    [body("-1e400"), SHAPE],
    [body("true"), SHAPE],
    [body("null"), SHAPE],
    [body("[19.99]"), SHAPE],
    [body('{"amount":19.99}'), SHAPE],
    // The description: absent is "", null is the wrong type.
    [`{"name":"Widget","description":"A widget","price":19.99,"stock_quantity":5,"category":"tools"}`, widget(1999n, "A widget")],
    [`{"name":"Widget","description":null,"price":19.99,"stock_quantity":5,"category":"tools"}`, SHAPE],
    // Integers: no fraction or exponent, within int64.
    [body("19.99", '"stock_quantity":5.0,"category":"tools"'), SHAPE],
    [body("19.99", '"stock_quantity":5e0,"category":"tools"'), SHAPE],
    [body("19.99", '"stock_quantity":"5","category":"tools"'), SHAPE],
    [body("19.99", '"stock_quantity":9223372036854775808,"category":"tools"'), SHAPE],
    [body("19.99", '"stock_quantity":9223372036854775807,"category":"tools"'), badRequest("stock_quantity must be between 0 and 1000000000")],
    [body("19.99", '"stock_quantity":-0,"category":"tools"'), SHAPE],
    [body("19.99", '"stock_quantity":5'), SHAPE],
    [body("19.99", '"stock_quantity":5,"category":"tools","tags":[]'), SHAPE],
    // Value rules in the schema's order: name, description, price, stock, category.
    ['{"name":"","price":0,"stock_quantity":-1,"category":""}', badRequest("name must be 1 to 200 characters")],
    [`{"name":"W","description":"${"d".repeat(2001)}","price":0,"stock_quantity":-1,"category":""}`, badRequest("description must be at most 2000 characters")],
    ['{"name":"W","price":0,"stock_quantity":-1,"category":""}', BAD_PRICE],
    ['{"name":"W","price":"x","stock_quantity":-1,"category":""}', BAD_PRICE],
    ['{"name":"W","price":1,"stock_quantity":-1,"category":""}', badRequest("stock_quantity must be between 0 and 1000000000")],
    ['{"name":"W","price":1,"stock_quantity":1,"category":""}', badRequest("category must be 1 to 50 characters")],
    ['{"name":"W\\u0000","price":1,"stock_quantity":1,"category":"c"}', badRequest("name must not contain the NUL character (\\u0000)")],
  ]);
});

describe("product patches", () => {
  const patch = (fields: object) => ({
    value: { name: null, description: null, price: null, stock_quantity: null, category: null, ...fields },
  });
  table(PRODUCT_PATCH, [
    ['{"price":"19.99"}', patch({ price: new Money(1999n) })],
    ['{"price":19.9}', patch({ price: new Money(1990n) })],
    ['{"description":""}', patch({ description: "" })],
    ['{"name":null,"description":null,"price":null,"stock_quantity":null,"category":"c"}', patch({ category: "c" })],
    [
      '{"name":null,"price":null}',
      badRequest("a product patch must set at least one of name, description, price, stock_quantity, category"),
    ],
    ['{"price":19.999}', BAD_PRICE],
    ['{"price":1e400}', SHAPE],
    ['{"price":false}', SHAPE],
    ['{"stock_quantity":1.5}', SHAPE],
    ['{"Price":1}', SHAPE],
  ]);
});

describe("new orders", () => {
  const order = (userId: bigint, ...items: [bigint, number][]) => ({
    value: { user_id: userId, items: items.map(([product_id, quantity]) => ({ product_id, quantity })) },
  });
  table(NEW_ORDER, [
    ['{"user_id":1,"items":[{"product_id":3,"quantity":2}]}', order(1n, [3n, 2])],
    ['{"items":[{"quantity":2,"product_id":3},{"product_id":4,"quantity":1000}],"user_id":1}', order(1n, [3n, 2], [4n, 1000])],
    // int64 exactly, through no float.
    ['{"user_id":9223372036854775807,"items":[{"product_id":9007199254740993,"quantity":1}]}', order(9223372036854775807n, [9007199254740993n, 1])],
    ['{"user_id":9223372036854775808,"items":[{"product_id":3,"quantity":2}]}', SHAPE],
    ['{"user_id":-9223372036854775809,"items":[{"product_id":3,"quantity":2}]}', SHAPE],
    ['{"user_id":-9223372036854775808,"items":[{"product_id":3,"quantity":2}]}', badRequest("user_id must be a positive integer")],
    ['{"user_id":-0,"items":[{"product_id":3,"quantity":2}]}', SHAPE],
    ['{"user_id":0,"items":[]}', badRequest("user_id must be a positive integer")],
    ['{"user_id":1.0,"items":[{"product_id":3,"quantity":2}]}', SHAPE],
    ['{"user_id":1e0,"items":[{"product_id":3,"quantity":2}]}', SHAPE],
    ['{"user_id":"1","items":[{"product_id":3,"quantity":2}]}', SHAPE],
    // int32 for quantity.
    ['{"user_id":1,"items":[{"product_id":3,"quantity":2147483647}]}', badRequest("items[0].quantity must be between 1 and 1000")],
    ['{"user_id":1,"items":[{"product_id":3,"quantity":2147483648}]}', SHAPE],
    ['{"user_id":1,"items":[{"product_id":3,"quantity":-2147483649}]}', SHAPE],
    ['{"user_id":1,"items":[{"product_id":3,"quantity":2.5}]}', SHAPE],
    // items: an array of objects of the item's shape.
    ['{"user_id":1,"items":[[3,2]]}', SHAPE],
    ['{"user_id":1,"items":[null]}', SHAPE],
    ['{"user_id":1,"items":{"product_id":3,"quantity":2}}', SHAPE],
    ['{"user_id":1,"items":null}', SHAPE],
    ['{"user_id":1}', SHAPE],
    ['{"user_id":1,"items":[{"product_id":3}]}', SHAPE],
    ['{"user_id":1,"items":[{"product_id":3,"quantity":2,"note":"x"}]}', SHAPE],
    ['{"user_id":1,"items":[{"product_id":3,"quantity":null}]}', SHAPE],
    ["[1,[[3,2]]]", SHAPE],
    // Value rules.
    ['{"user_id":1,"items":[]}', badRequest("an order must have 1 to 50 items")],
    ['{"user_id":1,"items":[{"product_id":0,"quantity":2}]}', badRequest("items[0].product_id must be a positive integer")],
    [
      '{"user_id":1,"items":[{"product_id":3,"quantity":2},{"product_id":3,"quantity":1}]}',
      badRequest("product 3 appears more than once; list each product once"),
    ],
  ]);
});

test("a shape error says where", () => {
  const message = (body: string) => {
    try {
      parseJson(new TextEncoder().encode(body), NEW_ORDER);
    } catch (error) {
      if (error instanceof ApiError) return error.message;
    }
    return null;
  };
  expect(message('{"user_id":1,"items":[{"product_id":3,"quantity":2.5}]}')).toBe(
    "invalid JSON body: `items[0].quantity` must be an integer from -2147483648 to 2147483647, without fraction or exponent, got 2.5",
  );
  expect(message('{"user_id":1,"items":[],"x":1}')).toBe("invalid JSON body: unknown member `x`");
  expect(message('{"items":[]}')).toBe("invalid JSON body: missing member `user_id`");
  expect(message("[]")).toBe("invalid JSON body: the body must be an object, got an array");
});
