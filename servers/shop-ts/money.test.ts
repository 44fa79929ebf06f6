// shop-ts's money against the contract's: which amounts a request's price
// is read as, and as how many cents. Out of range is model.ts's to refuse.

import { describe, expect, test } from "bun:test";
import { Money } from "./money.ts";

const cents = (amount: Money | null) => amount?.cents ?? null;

describe("Money.parse", () => {
  const cases: [string, bigint | null][] = [
    ["19.99", 1999n],
    ["20", 2000n],
    ["0.5", 50n],
    ["0", 0n],
    ["007.50", 750n],
    [`${"0".repeat(60)}1`, 100n],
    ["999999999.99", 99999999999n],
    ["79228162514264337593543950336", 7922816251426433759354395033600n],
    ["1.100", null],
    ["1.001", null],
    ["", null],
    [" 1", null],
    ["1 ", null],
    ["+1", null],
    ["-1", null],
    ["1e2", null],
    [".5", null],
    ["1.", null],
    ["1_000", null],
    ["1.2.3", null],
    ["١٢", null],
  ];
  for (const [text, want] of cases) {
    test(JSON.stringify(text), () => expect(cents(Money.parse(text))).toBe(want));
  }
});

// A JSON number is read by the shortest decimal text of its float.
describe("Money.fromNumber", () => {
  const cases: [number, bigint | null][] = [
    [19.99, 1999n],
    [1.1, 110n],
    [20.0, 2000n],
    [1e2, 10000n],
    [-1.5, -150n],
    [-0, 0n],
    [1e20, 10000000000000000000000n],
    [19.999, null],
    [0.1 + 0.2, null],
    // Written with an exponent by String: below 1e-6 and from 1e21.
    [1.5e-7, null],
    [1e21, null],
    [Infinity, null],
    [NaN, null],
  ];
  for (const [value, want] of cases) {
    test(String(value), () => expect(cents(Money.fromNumber(value))).toBe(want));
  }
});

// Amounts are written with exactly two decimals, as shop::money's Display.
test("Money.toString", () => {
  const cases: [bigint, string][] = [
    [1999n, "19.99"],
    [2000n, "20.00"],
    [50n, "0.50"],
    [5n, "0.05"],
    [0n, "0.00"],
    [-150n, "-1.50"],
    [-5n, "-0.05"],
    [999_999_999_999n, "9999999999.99"],
  ];
  for (const [cents, text] of cases) expect(new Money(cents).toString()).toBe(text);
});

// NUMERIC(12,2) as PostgreSQL writes it.
test("Money.fromDatabase", () => {
  const cases: [string, bigint][] = [
    ["19.90", 1990n],
    ["0.05", 5n],
    ["20", 2000n],
    ["20.5", 2050n],
    ["-1.50", -150n],
    ["9999999999.99", 999_999_999_999n],
  ];
  for (const [text, cents] of cases) expect(Money.fromDatabase(text).cents).toBe(cents);
});
