// Reading request bodies exactly as `shop` does: serde_json 1.x (without
// its float_roundtrip and arbitrary_precision features) driving serde's
// derived, `deny_unknown_fields` deserializers. A body that the Rust servers
// refuse is refused here with the same message, down to the line and column
// serde_json reports; a body they accept gives the same values.
//
// Only what the API's request types need is modelled: strings, i64, i32,
// money (a number or a string), options, sequences and structs.

import { Money } from "./money.ts";

/** The shape of a request type, as serde's derive sees it. */
export type Ty =
  | { kind: "string" }
  | { kind: "i64" }
  | { kind: "i32" }
  | { kind: "money" }
  | { kind: "option"; inner: Ty }
  | { kind: "vec"; inner: Ty }
  | { kind: "struct"; name: string; fields: readonly FieldTy[] };

export interface FieldTy {
  name: string;
  ty: Ty;
  /** `#[serde(default)]`: the value when the field is missing. */
  default?: () => unknown;
}

export const T = {
  string: { kind: "string" } as Ty,
  i64: { kind: "i64" } as Ty,
  i32: { kind: "i32" } as Ty,
  money: { kind: "money" } as Ty,
  option: (inner: Ty): Ty => ({ kind: "option", inner }),
  vec: (inner: Ty): Ty => ({ kind: "vec", inner }),
  struct: (name: string, fields: readonly FieldTy[]): Ty => ({ kind: "struct", name, fields }),
};

/** A serde_json error: a message and, once known, where (line 0: not yet). */
export class JsonError extends Error {
  constructor(
    readonly reason: string,
    public line: number,
    public column: number,
  ) {
    super(reason);
  }

  override toString(): string {
    return this.line === 0 ? this.reason : `${this.reason} at line ${this.line} column ${this.column}`;
  }
}

/** serde_json's `Error::custom`: a message that ends like its own errors
 * (" at line N column M") is read back as one. */
function custom(message: string): JsonError {
  const at = message.lastIndexOf(" at line ");
  if (at >= 0) {
    const match = /^ at line (\d*) column (\d*)$/.exec(message.slice(at));
    if (match && match[1] !== "" && match[2] !== "") {
      return new JsonError(message.slice(0, at), Number(match[1]), Number(match[2]));
    }
  }
  return new JsonError(message, 0, 0);
}

// ---- serde's `Unexpected`, as serde_json displays it ----------------------

type Unexpected =
  | { kind: "bool"; value: boolean }
  | { kind: "unsigned"; value: bigint }
  | { kind: "signed"; value: bigint }
  | { kind: "float"; value: number }
  | { kind: "str"; value: string }
  | { kind: "unit" }
  | { kind: "seq" }
  | { kind: "map" };

function showUnexpected(u: Unexpected): string {
  switch (u.kind) {
    case "bool":
      return `boolean \`${u.value}\``;
    case "unsigned":
    case "signed":
      return `integer \`${u.value}\``;
    case "float":
      return `floating point \`${formatFloatShortest(u.value)}\``;
    case "str":
      return `string ${rustDebugStr(u.value)}`;
    case "unit":
      return "null";
    case "seq":
      return "sequence";
    case "map":
      return "map";
  }
}

function invalidType(u: Unexpected, expecting: string): JsonError {
  return custom(`invalid type: ${showUnexpected(u)}, expected ${expecting}`);
}

function invalidValue(u: Unexpected, expecting: string): JsonError {
  return custom(`invalid value: ${showUnexpected(u)}, expected ${expecting}`);
}

/** A float as serde_json writes one in an error (the zmij crate): shortest
 * round-trip digits; plain notation with `.0` for integers when the decimal
 * exponent is within -5..=15, else `1.5e+20` / `1e-7`. */
export function formatFloatShortest(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value < 0 ? "-inf" : "inf";
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  const abs = Math.abs(value);
  if (abs === 0) return `${sign}0.0`;
  const [mantissa, exp] = abs.toExponential().split("e");
  const digits = mantissa!.replace(".", "");
  const e = Number(exp);
  if (e >= -5 && e <= 15) {
    if (digits.length - 1 <= e) return `${sign}${digits}${"0".repeat(e + 1 - digits.length)}.0`;
    if (e >= 0) return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
    return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${head}e${e < 0 ? "-" : "+"}${Math.abs(e)}`;
}

/** A float as Rust's `Display` writes one: shortest round-trip digits,
 * never an exponent. */
export function formatFloatDisplay(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value < 0 ? "-inf" : "inf";
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  const abs = Math.abs(value);
  if (abs === 0) return `${sign}0`;
  const [mantissa, exp] = abs.toExponential().split("e");
  const digits = mantissa!.replace(".", "");
  const e = Number(exp);
  if (digits.length - 1 <= e) return `${sign}${digits}${"0".repeat(e + 1 - digits.length)}`;
  if (e >= 0) return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
  return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
}

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}\p{Zl}\p{Zp}\p{Mn}\p{Me}]|[^\P{Zs} ]/u;

/** A string as Rust's `{:?}` writes one. */
function rustDebugStr(text: string): string {
  let out = '"';
  for (const ch of text) {
    switch (ch) {
      case "\0":
        out += "\\0";
        break;
      case "\t":
        out += "\\t";
        break;
      case "\r":
        out += "\\r";
        break;
      case "\n":
        out += "\\n";
        break;
      case "\\":
        out += "\\\\";
        break;
      case '"':
        out += '\\"';
        break;
      default:
        out += NOT_PRINTABLE.test(ch) ? `\\u{${ch.codePointAt(0)!.toString(16)}}` : ch;
    }
  }
  return out + '"';
}

// ---- numbers ---------------------------------------------------------------

type ParsedNumber =
  | { kind: "u64"; value: bigint }
  | { kind: "i64"; value: bigint }
  | { kind: "f64"; value: number };

const U64_MAX = 18446744073709551615n;
const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const I32_MAX = 2147483647;
const POW10: number[] = Array.from({ length: 309 }, (_, i) => Number(`1e${i}`));

function overflowsU64(significand: bigint, digit: number): boolean {
  const limit = U64_MAX / 10n;
  return significand >= limit && (significand > limit || BigInt(digit) > U64_MAX % 10n);
}

function overflowsI32(value: number, digit: number): boolean {
  const limit = Math.trunc(I32_MAX / 10);
  return value >= limit && (value > limit || digit > I32_MAX % 10);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The length of the longest valid UTF-8 prefix of `bytes`. */
function validUpTo(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return i;
}

function pushUtf8(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else
    out.push(
      0xf0 | (cp >> 18),
      0x80 | ((cp >> 12) & 0x3f),
      0x80 | ((cp >> 6) & 0x3f),
      0x80 | (cp & 0x3f),
    );
}

// ---- the deserializer --------------------------------------------------------

class Deserializer {
  index = 0;

  constructor(readonly bytes: Uint8Array) {}

  private positionOf(i: number): [number, number] {
    const bytes = this.bytes;
    let startOfLine = 0;
    let line = 1;
    for (let k = 0; k < i; k++) {
      if (bytes[k] === 0x0a) {
        startOfLine = k + 1;
        line++;
      }
    }
    return [line, i - startOfLine];
  }

  /** An error caused by the byte last read. */
  error(reason: string): JsonError {
    const [line, column] = this.positionOf(this.index);
    return new JsonError(reason, line, column);
  }

  /** An error caused by the byte peeked at. */
  peekError(reason: string): JsonError {
    const [line, column] = this.positionOf(Math.min(this.bytes.length, this.index + 1));
    return new JsonError(reason, line, column);
  }

  fix(error: unknown): unknown {
    if (error instanceof JsonError && error.line === 0) {
      const [line, column] = this.positionOf(this.index);
      error.line = line;
      error.column = column;
    }
    return error;
  }

  /** The next byte, or -1 at the end. */
  peek(): number {
    return this.index < this.bytes.length ? this.bytes[this.index]! : -1;
  }

  peekOrNull(): number {
    return this.index < this.bytes.length ? this.bytes[this.index]! : 0;
  }

  next(): number {
    return this.index < this.bytes.length ? this.bytes[this.index++]! : -1;
  }

  eat(): void {
    this.index++;
  }

  whitespace(): number {
    for (;;) {
      const c = this.peek();
      if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) this.index++;
      else return c;
    }
  }

  end(): void {
    if (this.whitespace() !== -1) throw this.peekError("trailing characters");
  }

  parseIdent(ident: string): void {
    for (let k = 0; k < ident.length; k++) {
      const c = this.next();
      if (c === -1) throw this.error("EOF while parsing a value");
      if (c !== ident.charCodeAt(k)) throw this.error("expected ident");
    }
  }

  // -- strings --

  /** A string whose opening quote has been read. */
  parseStr(): string {
    const bytes = this.bytes;
    let start = this.index;
    let scratch: number[] | null = null;
    for (;;) {
      while (this.index < bytes.length) {
        const c = bytes[this.index]!;
        if (c === QUOTE || c === BACKSLASH || c < 0x20) break;
        this.index++;
      }
      if (this.index === bytes.length) throw this.error("EOF while parsing a string");
      const c = bytes[this.index]!;
      if (c === QUOTE) {
        let content: Uint8Array;
        if (scratch === null) {
          content = bytes.subarray(start, this.index);
        } else {
          for (let k = start; k < this.index; k++) scratch.push(bytes[k]!);
          content = Uint8Array.from(scratch);
        }
        this.index++;
        try {
          return utf8.decode(content);
        } catch {
          const [line, column] = this.positionOf(this.index);
          const back = content.length - validUpTo(content);
          throw new JsonError("invalid unicode code point", line, Math.max(0, column - back));
        }
      } else if (c === BACKSLASH) {
        scratch ??= [];
        for (let k = start; k < this.index; k++) scratch.push(bytes[k]!);
        this.index++;
        this.parseEscape(scratch);
        start = this.index;
      } else {
        this.index++;
        throw this.error("control character (\\u0000-\\u001F) found while parsing a string");
      }
    }
  }

  private parseEscape(scratch: number[]): void {
    const c = this.next();
    if (c === -1) throw this.error("EOF while parsing a string");
    switch (c) {
      case 0x22:
        scratch.push(0x22);
        return;
      case 0x5c:
        scratch.push(0x5c);
        return;
      case 0x2f:
        scratch.push(0x2f);
        return;
      case 0x62:
        scratch.push(0x08);
        return;
      case 0x66:
        scratch.push(0x0c);
        return;
      case 0x6e:
        scratch.push(0x0a);
        return;
      case 0x72:
        scratch.push(0x0d);
        return;
      case 0x74:
        scratch.push(0x09);
        return;
      case 0x75:
        this.parseUnicodeEscape(scratch);
        return;
      default:
        throw this.error("invalid escape");
    }
  }

  private hexEscape(): number {
    const bytes = this.bytes;
    if (this.index + 4 > bytes.length) {
      this.index = bytes.length;
      throw this.error("EOF while parsing a string");
    }
    let value = 0;
    let bad = false;
    for (let k = 0; k < 4; k++) {
      const c = bytes[this.index + k]!;
      let digit: number;
      if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
      else if (c >= 0x41 && c <= 0x46) digit = c - 0x41 + 10;
      else if (c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
      else {
        bad = true;
        digit = 0;
      }
      value = value * 16 + digit;
    }
    this.index += 4;
    if (bad) throw this.error("invalid escape");
    return value;
  }

  private parseUnicodeEscape(scratch: number[]): void {
    const n = this.hexEscape();
    if (n >= 0xdc00 && n <= 0xdfff) throw this.error("lone leading surrogate in hex escape");
    if (n < 0xd800 || n > 0xdbff) {
      pushUtf8(scratch, n);
      return;
    }
    if (this.peek() === -1) throw this.error("EOF while parsing a string");
    if (this.peek() !== BACKSLASH) {
      this.eat();
      throw this.error("unexpected end of hex escape");
    }
    this.eat();
    if (this.peek() === -1) throw this.error("EOF while parsing a string");
    if (this.peek() !== 0x75) {
      this.eat();
      throw this.error("unexpected end of hex escape");
    }
    this.eat();
    const n2 = this.hexEscape();
    if (n2 < 0xdc00 || n2 > 0xdfff) throw this.error("lone leading surrogate in hex escape");
    pushUtf8(scratch, (((n - 0xd800) << 10) | (n2 - 0xdc00)) + 0x10000);
  }

  // -- numbers --

  parseInteger(positive: boolean): ParsedNumber {
    const c = this.next();
    if (c === -1) throw this.error("EOF while parsing a value");
    if (c === 0x30) {
      if (isDigit(this.peekOrNull())) throw this.peekError("invalid number");
      return this.parseNumber(positive, 0n);
    }
    if (c >= 0x31 && c <= 0x39) {
      let significand = BigInt(c - 0x30);
      for (;;) {
        const d = this.peekOrNull();
        if (!isDigit(d)) return this.parseNumber(positive, significand);
        const digit = d - 0x30;
        if (overflowsU64(significand, digit)) {
          return { kind: "f64", value: this.parseLongInteger(positive, significand) };
        }
        this.eat();
        significand = significand * 10n + BigInt(digit);
      }
    }
    throw this.error("invalid number");
  }

  private parseNumber(positive: boolean, significand: bigint): ParsedNumber {
    const c = this.peekOrNull();
    if (c === 0x2e) return { kind: "f64", value: this.parseDecimal(positive, significand, 0) };
    if (c === 0x65 || c === 0x45) return { kind: "f64", value: this.parseExponent(positive, significand, 0) };
    if (positive) return { kind: "u64", value: significand };
    if (significand === 0n || significand > -I64_MIN) return { kind: "f64", value: -Number(significand) };
    return { kind: "i64", value: -significand };
  }

  private parseDecimal(positive: boolean, significand: bigint, exponentBefore: number): number {
    this.eat();
    let after = 0;
    for (;;) {
      const d = this.peekOrNull();
      if (!isDigit(d)) break;
      const digit = d - 0x30;
      if (overflowsU64(significand, digit)) {
        return this.parseDecimalOverflow(positive, significand, exponentBefore + after);
      }
      this.eat();
      significand = significand * 10n + BigInt(digit);
      after -= 1;
    }
    if (after === 0) {
      throw this.peekError(this.peek() === -1 ? "EOF while parsing a value" : "invalid number");
    }
    const exponent = exponentBefore + after;
    const c = this.peekOrNull();
    if (c === 0x65 || c === 0x45) return this.parseExponent(positive, significand, exponent);
    return this.f64FromParts(positive, significand, exponent);
  }

  private parseDecimalOverflow(positive: boolean, significand: bigint, exponent: number): number {
    while (isDigit(this.peekOrNull())) this.eat();
    const c = this.peekOrNull();
    if (c === 0x65 || c === 0x45) return this.parseExponent(positive, significand, exponent);
    return this.f64FromParts(positive, significand, exponent);
  }

  private parseExponent(positive: boolean, significand: bigint, startingExp: number): number {
    this.eat();
    let positiveExp = true;
    const sign = this.peekOrNull();
    if (sign === 0x2b) this.eat();
    else if (sign === 0x2d) {
      this.eat();
      positiveExp = false;
    }
    const first = this.next();
    if (first === -1) throw this.error("EOF while parsing a value");
    if (!isDigit(first)) throw this.error("invalid number");
    let exp = first - 0x30;
    for (;;) {
      const d = this.peekOrNull();
      if (!isDigit(d)) break;
      this.eat();
      const digit = d - 0x30;
      if (overflowsI32(exp, digit)) {
        return this.parseExponentOverflow(positive, significand === 0n, positiveExp);
      }
      exp = exp * 10 + digit;
    }
    const saturate = (v: number) => Math.max(-2147483648, Math.min(2147483647, v));
    const finalExp = positiveExp ? saturate(startingExp + exp) : saturate(startingExp - exp);
    return this.f64FromParts(positive, significand, finalExp);
  }

  private parseExponentOverflow(positive: boolean, zeroSignificand: boolean, positiveExp: boolean): number {
    if (!zeroSignificand && positiveExp) throw this.error("number out of range");
    while (isDigit(this.peekOrNull())) this.eat();
    return positive ? 0 : -0;
  }

  private parseLongInteger(positive: boolean, significand: bigint): number {
    let exponent = 0;
    for (;;) {
      const c = this.peekOrNull();
      if (isDigit(c)) {
        this.eat();
        exponent++;
      } else if (c === 0x2e) {
        return this.parseDecimal(positive, significand, exponent);
      } else if (c === 0x65 || c === 0x45) {
        return this.parseExponent(positive, significand, exponent);
      } else {
        return this.f64FromParts(positive, significand, exponent);
      }
    }
  }

  private f64FromParts(positive: boolean, significand: bigint, exponent: number): number {
    let f = Number(significand);
    for (;;) {
      const abs = exponent === -2147483648 ? Infinity : Math.abs(exponent);
      const pow = abs <= 308 ? POW10[abs]! : undefined;
      if (pow !== undefined) {
        if (exponent >= 0) {
          f *= pow;
          if (!Number.isFinite(f)) throw this.error("number out of range");
        } else {
          f /= pow;
        }
        break;
      }
      if (f === 0) break;
      if (exponent >= 0) throw this.error("number out of range");
      f /= 1e308;
      exponent += 308;
    }
    return positive ? f : -f;
  }

  // -- serde's Deserializer methods --

  /** `peek_invalid_type`: reads the value that is not of the expected type. */
  peekInvalidType(expecting: string): unknown {
    let error: JsonError;
    const c = this.peekOrNull();
    if (c === 0x6e) {
      this.eat();
      this.parseIdent("ull");
      error = invalidType({ kind: "unit" }, expecting);
    } else if (c === 0x74) {
      this.eat();
      this.parseIdent("rue");
      error = invalidType({ kind: "bool", value: true }, expecting);
    } else if (c === 0x66) {
      this.eat();
      this.parseIdent("alse");
      error = invalidType({ kind: "bool", value: false }, expecting);
    } else if (c === 0x2d) {
      this.eat();
      error = numberInvalidType(this.parseInteger(false), expecting);
    } else if (isDigit(c)) {
      error = numberInvalidType(this.parseInteger(true), expecting);
    } else if (c === QUOTE) {
      this.eat();
      error = invalidType({ kind: "str", value: this.parseStr() }, expecting);
    } else if (c === 0x5b) {
      error = invalidType({ kind: "seq" }, expecting);
    } else if (c === 0x7b) {
      error = invalidType({ kind: "map" }, expecting);
    } else {
      return this.peekError("expected value");
    }
    return this.fix(error);
  }

  endSeq(): JsonError | null {
    const c = this.whitespace();
    if (c === 0x5d) {
      this.eat();
      return null;
    }
    if (c === 0x2c) {
      this.eat();
      return this.peekError(this.whitespace() === 0x5d ? "trailing comma" : "trailing characters");
    }
    return this.peekError(c === -1 ? "EOF while parsing a list" : "trailing characters");
  }

  endMap(): JsonError | null {
    const c = this.whitespace();
    if (c === 0x7d) {
      this.eat();
      return null;
    }
    if (c === 0x2c) return this.peekError("trailing comma");
    return this.peekError(c === -1 ? "EOF while parsing an object" : "trailing characters");
  }

  hasNextElement(state: { first: boolean }): boolean {
    const c = this.whitespace();
    if (c === -1) throw this.peekError("EOF while parsing a list");
    if (c === 0x5d) return false;
    if (state.first) {
      state.first = false;
      return true;
    }
    if (c === 0x2c) {
      this.eat();
      const d = this.whitespace();
      if (d === 0x5d) throw this.peekError("trailing comma");
      if (d === -1) throw this.peekError("EOF while parsing a value");
      return true;
    }
    throw this.peekError("expected `,` or `]`");
  }

  hasNextKey(state: { first: boolean }): boolean {
    const c = this.whitespace();
    if (c === -1) throw this.peekError("EOF while parsing an object");
    if (c === 0x7d) return false;
    if (state.first) {
      state.first = false;
      if (c === QUOTE) return true;
      throw this.peekError("key must be a string");
    }
    if (c === 0x2c) {
      this.eat();
      const d = this.whitespace();
      if (d === QUOTE) return true;
      if (d === 0x7d) throw this.peekError("trailing comma");
      if (d === -1) throw this.peekError("EOF while parsing a value");
      throw this.peekError("key must be a string");
    }
    throw this.peekError("expected `,` or `}`");
  }

  parseObjectColon(): void {
    const c = this.whitespace();
    if (c === 0x3a) this.eat();
    else if (c === -1) throw this.peekError("EOF while parsing an object");
    else throw this.peekError("expected `:`");
  }

  deserialize(ty: Ty): unknown {
    switch (ty.kind) {
      case "string":
        return this.deserializeStr();
      case "i64":
      case "i32":
        return this.deserializeNumber(ty.kind);
      case "money":
        return this.deserializeMoney();
      case "option":
        if (this.whitespace() === 0x6e) {
          this.eat();
          this.parseIdent("ull");
          return null;
        }
        return this.deserialize(ty.inner);
      case "vec":
        return this.deserializeSeq(ty.inner);
      case "struct":
        return this.deserializeStruct(ty.name, ty.fields);
    }
  }

  private deserializeStr(): string {
    const c = this.whitespace();
    if (c === -1) throw this.peekError("EOF while parsing a value");
    if (c === QUOTE) {
      this.eat();
      return this.parseStr();
    }
    throw this.fix(this.peekInvalidType("a string"));
  }

  private deserializeNumber(kind: "i64" | "i32"): bigint | number {
    const c = this.whitespace();
    if (c === -1) throw this.peekError("EOF while parsing a value");
    let n: ParsedNumber;
    if (c === 0x2d) {
      this.eat();
      n = this.parseInteger(false);
    } else if (isDigit(c)) {
      n = this.parseInteger(true);
    } else {
      throw this.fix(this.peekInvalidType(kind));
    }
    try {
      return visitInteger(kind, n);
    } catch (error) {
      throw this.fix(error);
    }
  }

  private deserializeMoney(): Money {
    const expecting = Money.EXPECTING;
    const c = this.whitespace();
    if (c === -1) throw this.peekError("EOF while parsing a value");
    let error: unknown;
    {
      if (c === 0x6e) {
        this.eat();
        this.parseIdent("ull");
        error = invalidType({ kind: "unit" }, expecting);
      } else if (c === 0x74 || c === 0x66) {
        this.eat();
        this.parseIdent(c === 0x74 ? "rue" : "alse");
        error = invalidType({ kind: "bool", value: c === 0x74 }, expecting);
      } else if (c === 0x2d || isDigit(c)) {
        if (c === 0x2d) this.eat();
        const n = this.parseInteger(c !== 0x2d);
        try {
          if (n.kind === "f64") return Money.fromNumber(n.value);
          return Money.fromInteger(n.value);
        } catch (message) {
          error = custom(String(message));
        }
      } else if (c === QUOTE) {
        this.eat();
        const text = this.parseStr();
        try {
          return Money.parse(text);
        } catch (message) {
          error = custom(String(message));
        }
      } else if (c === 0x5b) {
        this.eat();
        error = invalidType({ kind: "seq" }, expecting);
        this.endSeq();
      } else if (c === 0x7b) {
        this.eat();
        error = invalidType({ kind: "map" }, expecting);
        this.endMap();
      } else {
        error = this.peekError("expected value");
      }
    }
    throw this.fix(error);
  }

  private deserializeSeq(inner: Ty): unknown[] {
    const c = this.whitespace();
    if (c === -1) throw this.peekError("EOF while parsing a value");
    if (c !== 0x5b) throw this.fix(this.peekInvalidType("a sequence"));
    this.eat();
    const values: unknown[] = [];
    let failure: unknown = null;
    try {
      const state = { first: true };
      while (this.hasNextElement(state)) values.push(this.deserialize(inner));
    } catch (error) {
      failure = error;
    }
    const end = this.endSeq();
    if (failure !== null) throw this.fix(failure);
    if (end !== null) throw end;
    return values;
  }

  private deserializeStruct(name: string, fields: readonly FieldTy[]): Record<string, unknown> {
    const expecting = `struct ${name}`;
    const c = this.whitespace();
    if (c === -1) throw this.peekError("EOF while parsing a value");
    let failure: unknown = null;
    let value: Record<string, unknown> | null = null;
    let end: JsonError | null;
    if (c === 0x5b) {
      this.eat();
      try {
        value = this.visitStructSeq(expecting, fields);
      } catch (error) {
        failure = error;
      }
      end = this.endSeq();
    } else if (c === 0x7b) {
      this.eat();
      try {
        value = this.visitStructMap(fields);
      } catch (error) {
        failure = error;
      }
      end = this.endMap();
    } else {
      throw this.fix(this.peekInvalidType(expecting));
    }
    if (failure !== null) throw this.fix(failure);
    if (end !== null) throw end;
    return value!;
  }

  private visitStructSeq(expecting: string, fields: readonly FieldTy[]): Record<string, unknown> {
    const state = { first: true };
    const value: Record<string, unknown> = {};
    const count = fields.length;
    const full = `${expecting} with ${count} element${count === 1 ? "" : "s"}`;
    fields.forEach((field, index) => {
      if (this.hasNextElement(state)) {
        value[field.name] = this.deserialize(field.ty);
      } else if (field.default) {
        value[field.name] = field.default();
      } else {
        throw custom(`invalid length ${index}, expected ${full}`);
      }
    });
    return value;
  }

  private visitStructMap(fields: readonly FieldTy[]): Record<string, unknown> {
    const state = { first: true };
    const value: Record<string, unknown> = {};
    const seen = new Set<string>();
    while (this.hasNextKey(state)) {
      this.eat();
      const key = this.parseStr();
      const field = fields.find((f) => f.name === key);
      if (!field) throw custom(`unknown field \`${key}\`, expected ${oneOf(fields.map((f) => f.name))}`);
      if (seen.has(key)) throw custom(`duplicate field \`${key}\``);
      seen.add(key);
      this.parseObjectColon();
      value[key] = this.deserialize(field.ty);
    }
    for (const field of fields) {
      if (seen.has(field.name)) continue;
      if (field.ty.kind === "option") value[field.name] = null;
      else if (field.default) value[field.name] = field.default();
      else throw custom(`missing field \`${field.name}\``);
    }
    return value;
  }
}

function oneOf(names: string[]): string {
  if (names.length === 0) return "there are no fields";
  if (names.length === 1) return `\`${names[0]}\``;
  if (names.length === 2) return `\`${names[0]}\` or \`${names[1]}\``;
  return `one of ${names.map((n) => `\`${n}\``).join(", ")}`;
}

function numberInvalidType(n: ParsedNumber, expecting: string): JsonError {
  switch (n.kind) {
    case "f64":
      return invalidType({ kind: "float", value: n.value }, expecting);
    case "u64":
      return invalidType({ kind: "unsigned", value: n.value }, expecting);
    case "i64":
      return invalidType({ kind: "signed", value: n.value }, expecting);
  }
}

/** serde's visitors of i64 (a bigint here) and i32 (a number). */
function visitInteger(kind: "i64" | "i32", n: ParsedNumber): bigint | number {
  if (n.kind === "f64") throw invalidType({ kind: "float", value: n.value }, kind);
  if (kind === "i64") {
    if (n.kind === "u64" && n.value > I64_MAX) throw invalidValue({ kind: "unsigned", value: n.value }, kind);
    return n.value;
  }
  if (n.value > BigInt(I32_MAX) || n.value < -2147483648n) {
    throw invalidValue({ kind: n.kind === "u64" ? "unsigned" : "signed", value: n.value }, kind);
  }
  return Number(n.value);
}

/** `serde_json::from_slice::<T>` for the type `ty`: the value, or the error
 * message serde_json would give. */
export function fromSlice(bytes: Uint8Array, ty: Ty): unknown {
  const de = new Deserializer(bytes);
  const value = de.deserialize(ty);
  de.end();
  return value;
}
