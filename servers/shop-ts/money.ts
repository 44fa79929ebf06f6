// Money: NUMERIC(12,2) in the database, an integer number of cents here
// (a bigint: never a float), and a JSON string with exactly two decimals on
// the wire, as shop::money has it.

/** Digits, then optionally a point and one or two digits. */
const AMOUNT = /^([0-9]+)(?:\.([0-9]{1,2}))?$/;

export class Money {
  constructor(readonly cents: bigint) {}

  /** An amount a request wrote as a JSON string: digits, then optionally a
   * point and one or two digits (`"007.50"` is 7.50). Null if it is not one. */
  static parse(text: string): Money | null {
    const match = AMOUNT.exec(text);
    if (!match) return null;
    return new Money(BigInt(match[1]!) * 100n + BigInt((match[2] ?? "").padEnd(2, "0")));
  }

  /** An amount a request wrote as a JSON number, given as the float
   * JSON.parse read and judged by its shortest round-trip text, `String(x)`
   * (`1.100` is 1.1, `1e2` is 100): at most two decimals. That text has an
   * exponent only below 1e-6 or from 1e21, no price either way, so such a
   * number is simply not an amount here. Null if it is not one. */
  static fromNumber(value: number): Money | null {
    const text = String(value);
    const negative = text.startsWith("-");
    const amount = Money.parse(negative ? text.slice(1) : text);
    return amount === null || !negative ? amount : new Money(-amount.cents);
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
