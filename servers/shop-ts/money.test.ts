// shop-ts's money against shop::money (rust_decimal 1.x underneath): which
// amounts are read, as how many cents, and the messages of the refusals.

import { describe, expect, test } from "bun:test";
import { Money } from "./money.ts";

/** An amount's cents, or the message of its refusal (Money throws the
 * message itself). */
function read(parse: () => Money): { cents: bigint } | { refusal: string } {
  try {
    return { cents: parse().cents };
  } catch (message) {
    return { refusal: String(message) };
  }
}

const notAnAmount = (text: string) => ({
  refusal: `\`${text}\` is not an amount: write digits with at most two decimals, like "19.99"`,
});

describe("Money.parse", () => {
  const cases: [string, { cents: bigint } | { refusal: string }][] = [
    ["19.99", { cents: 1999n }],
    ["20", { cents: 2000n }],
    ["0.5", { cents: 50n }],
    ["0", { cents: 0n }],
    ["007.50", { cents: 750n }],
    [`${"0".repeat(60)}1`, { cents: 100n }],
    ["999999999.99", { cents: 99999999999n }],
    ["79228162514264337593543950335", { cents: 7922816251426433759354395033500n }],
    // rust_decimal's limit, a 96-bit mantissa: beside the largest integer
    // part a decimal is rounded off, and rounding it up overflows
    // (rust_decimal's from_str_mantissa_overflow_2 test).
    ["79228162514264337593543950335.5", { refusal: "`79228162514264337593543950335.5` is too large an amount" }],
    ["79228162514264337593543950336", { refusal: "`79228162514264337593543950336` is too large an amount" }],
    ["1.100", { refusal: "`1.100` has more than two decimals" }],
    ["1.001", { refusal: "`1.001` has more than two decimals" }],
    ["", notAnAmount("")],
    [" 1", notAnAmount(" 1")],
    ["1 ", notAnAmount("1 ")],
    ["+1", notAnAmount("+1")],
    ["-1", notAnAmount("-1")],
    ["1e2", notAnAmount("1e2")],
    [".5", notAnAmount(".5")],
    ["5.", notAnAmount("5.")],
    ["1_000", notAnAmount("1_000")],
    ["1.2.3", notAnAmount("1.2.3")],
    ["١٢", notAnAmount("١٢")],
  ];
  for (const [text, want] of cases) {
    test(JSON.stringify(text), () => {
      expect(read(() => Money.parse(text))).toEqual(want);
    });
  }

  // Where rust_decimal rounds the decimals of an amount this large off,
  // shop-ts keeps them: only that it is read matters, since the price check
  // refuses it either way.
  test("a decimal beside the largest integer part, rounded down", () => {
    expect(() => Money.parse("79228162514264337593543950335.4")).not.toThrow();
  });
});

// JSON numbers with a fraction or an exponent are read by their shortest
// decimal text (Rust's Display of the f64), as shop::money::Money::from_number.
describe("Money.fromNumber", () => {
  const cases: [number, { cents: bigint } | { refusal: string }][] = [
    [19.99, { cents: 1999n }],
    [1.1, { cents: 110n }],
    [20.0, { cents: 2000n }],
    [-1.5, { cents: -150n }],
    [1e20, { cents: 10000000000000000000000n }],
    [19.999, { refusal: "`19.999` has more than two decimals" }],
    [0.1 + 0.2, { refusal: "`0.30000000000000004` has more than two decimals" }],
    [1.5e-7, { refusal: "`0.00000015` has more than two decimals" }],
    // rust_decimal keeps 28 decimals and rounds the 29th: 1e-30 is zero,
    // and 5e-29 rounds up to the 28th decimal.
    [1e-30, { cents: 0n }],
    [5e-29, { refusal: "`0.0000000000000000000000000001` has more than two decimals" }],
    [7.922816251426434e28, { refusal: "`79228162514264340000000000000` is too large an amount" }],
    [1e300, { refusal: `\`1${"0".repeat(300)}\` is too large an amount` }],
    [Infinity, { refusal: "amount must be a finite number" }],
  ];
  for (const [value, want] of cases) {
    test(String(value), () => {
      expect(read(() => Money.fromNumber(value))).toEqual(want);
    });
  }
});

test("Money.fromInteger", () => {
  expect(Money.fromInteger(7n).cents).toBe(700n);
  expect(Money.fromInteger(-3n).cents).toBe(-300n);
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
