// Money: NUMERIC(12,2) in the database, an integer number of cents here
// (a bigint: never a float), and a JSON string with exactly two decimals on
// the wire, as shop::money has it.

import { formatFloatDisplay } from "./json.ts";

/** The largest integer part a `rust_decimal::Decimal` holds (2^96 - 1). */
const DECIMAL_MAX = (1n << 96n) - 1n;
/** The most decimals a `rust_decimal::Decimal` keeps. */
const DECIMAL_MAX_SCALE = 28;

export class Money {
  static readonly EXPECTING = "an amount as a number or a string with at most two decimals";

  constructor(readonly cents: bigint) {}

  /** An amount as a request writes it in a string: digits, then optionally a
   * point and one or two digits. Throws the message of the refusal. */
  static parse(text: string): Money {
    const point = text.indexOf(".");
    const whole = point < 0 ? text : text.slice(0, point);
    const fraction = point < 0 ? "0" : text.slice(point + 1);
    const digits = (part: string) => /^[0-9]+$/.test(part);
    if (!digits(whole) || !digits(fraction)) {
      throw `\`${text}\` is not an amount: write digits with at most two decimals, like "19.99"`;
    }
    if (fraction.length > 2) throw `\`${text}\` has more than two decimals`;
    const integer = BigInt(whole);
    // rust_decimal rounds off the decimals that do not fit its 96 bits beside
    // the integer part, and rounding the largest integer part up overflows.
    // (Where it rounds decimals off and this keeps them, the amount is far
    // past any price, the only use of an amount.)
    if (integer > DECIMAL_MAX || (integer === DECIMAL_MAX && fraction.charCodeAt(0) >= 0x35)) {
      throw `\`${text}\` is too large an amount`;
    }
    return new Money(integer * 100n + BigInt(fraction.padEnd(2, "0")));
  }

  /** A JSON integer. */
  static fromInteger(value: bigint): Money {
    return new Money(value * 100n);
  }

  /** A JSON number that is not an integer, read by its shortest decimal
   * text (Rust's `Display` of the f64), which is the number the client wrote. */
  static fromNumber(value: number): Money {
    if (!Number.isFinite(value)) throw "amount must be a finite number";
    const text = formatFloatDisplay(value);
    const negative = text.startsWith("-");
    const [whole, rawFraction = ""] = (negative ? text.slice(1) : text).split(".");
    if (BigInt(whole!) > DECIMAL_MAX) throw `\`${text}\` is too large an amount`;
    let fraction = rawFraction;
    let shown = text;
    if (fraction.length > DECIMAL_MAX_SCALE) {
      // rust_decimal rounds what it cannot keep.
      const kept = BigInt(whole! + fraction.slice(0, DECIMAL_MAX_SCALE));
      const rounded = fraction.charCodeAt(DECIMAL_MAX_SCALE) >= 0x35 ? kept + 1n : kept;
      const padded = rounded.toString().padStart(DECIMAL_MAX_SCALE + 1, "0");
      fraction = padded.slice(-DECIMAL_MAX_SCALE);
      shown = `${negative ? "-" : ""}${padded.slice(0, -DECIMAL_MAX_SCALE)}.${fraction}`;
    }
    const significant = fraction.replace(/0+$/, "");
    if (significant.length > 2) throw `\`${shown}\` has more than two decimals`;
    const integerPart = shown.replace(/^-/, "").split(".")[0]!;
    const cents = BigInt(integerPart) * 100n + BigInt(significant.padEnd(2, "0"));
    return new Money(negative ? -cents : cents);
  }

  /** Two decimals, as the API writes amounts. */
  toString(): string {
    const negative = this.cents < 0n;
    const abs = negative ? -this.cents : this.cents;
    const units = abs / 100n;
    const rest = (abs % 100n).toString().padStart(2, "0");
    return `${negative ? "-" : ""}${units}.${rest}`;
  }

  /** An amount the database wrote (`NUMERIC(12,2)` as text). */
  static fromDatabase(text: string): Money {
    const negative = text.startsWith("-");
    const [whole, fraction = ""] = (negative ? text.slice(1) : text).split(".");
    const cents = BigInt(whole!) * 100n + BigInt(fraction.slice(0, 2).padEnd(2, "0"));
    return new Money(negative ? -cents : cents);
  }
}
