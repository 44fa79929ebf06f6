// Request bodies, step one of the contract: the shape. The platform's
// `JSON.parse` reads the text; a walk over its value then checks it against
// the request type's table of members. What either refuses is a ShapeError,
// answered `400 invalid JSON body: ` with its words; the value rules are
// checked afterwards, in model.ts.

/** A body that is not JSON of the request's shape. */
export class ShapeError extends Error {}

/** What a member holds: a JSON string, an integer of that range, a price (a
 * JSON string or number), or an array of objects of a shape. */
export type Type = "string" | "int64" | "int32" | "price" | { arrayOf: Shape };

/** A member and what its absence means: required (the default); `default`,
 * the value it takes when absent (null is still the wrong type); or
 * `optional`, a patch member that reads as null when absent or null. */
export interface Member {
  type: Type;
  default?: unknown;
  optional?: true;
}

export type Shape = Readonly<Record<string, Member>>;

/** A number as the body wrote it, so that integers are read from their text
 * exactly rather than through a float. */
class JsonNumber {
  constructor(
    readonly source: string,
    readonly value: number,
  ) {}
}

/** JSON.parse's reviver with the source text access proposal's third
 * argument, the text of each primitive value. */
function keepSource(_key: string, value: unknown, context?: { source?: string }): unknown {
  return typeof value === "number" ? new JsonNumber(context!.source!, value) : value;
}

// Integers would silently go through a float without the source text.
if (JSON.parse("[1]", keepSource)[0]?.source !== "1") {
  throw new Error("this runtime's JSON.parse gives revivers no source text");
}

// Invalid UTF-8 is malformed (a lossy decoder would replace it), and so is a
// byte order mark, which RFC 8259 does not allow senders to add.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The body read as JSON and checked against `shape`: the members it has,
 * integers as bigint (int64) or number (int32), a price as the string or the
 * number it wrote. Throws a ShapeError. */
export function decodeBody(bytes: Uint8Array, shape: Shape): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes), keepSource);
  } catch (error) {
    throw new ShapeError(error instanceof Error ? error.message : String(error));
  }
  return readObject(value, shape, "");
}

const INT_RANGES = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
} as const;

function readObject(value: unknown, shape: Shape, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof JsonNumber) {
    throw new ShapeError(`${path === "" ? "the body" : `\`${path}\``} must be an object, got ${shown(value)}`);
  }
  const members = value as Record<string, unknown>;
  // Own keys only, so `__proto__` or `toString` is an unknown member like any other.
  for (const name of Object.keys(members)) {
    if (!Object.hasOwn(shape, name)) {
      throw new ShapeError(`unknown member \`${name}\`${path === "" ? "" : ` in \`${path}\``}`);
    }
  }
  const read: Record<string, unknown> = {};
  for (const name of Object.keys(shape)) {
    const member = shape[name]!;
    const where = path === "" ? name : `${path}.${name}`;
    const present = Object.hasOwn(members, name);
    const given = members[name];
    if (member.optional && (!present || given === null)) read[name] = null;
    else if (!present && member.default !== undefined) read[name] = member.default;
    else if (!present) throw new ShapeError(`missing member \`${where}\``);
    else read[name] = readValue(given, member.type, where);
  }
  return read;
}

function readValue(value: unknown, type: Type, where: string): unknown {
  const wrong = (expected: string) => new ShapeError(`\`${where}\` must be ${expected}, got ${shown(value)}`);
  switch (type) {
    case "string":
      if (typeof value !== "string") throw wrong("a string");
      // A lone surrogate (an escape like "\ud800") has no UTF-8 form to store.
      if (!value.isWellFormed()) throw new ShapeError(`\`${where}\` has an escaped lone surrogate`);
      return value;
    case "int64":
    case "int32": {
      const [min, max] = INT_RANGES[type];
      // `-0` is no integer in the contract (openapi.yaml, request bodies), so no stack takes it for 0.
      const integer =
        value instanceof JsonNumber && /^-?[0-9]+$/.test(value.source) && value.source !== "-0" ? BigInt(value.source) : null;
      if (integer === null || integer < min || integer > max) {
        throw wrong(`an integer from ${min} to ${max}, without fraction or exponent`);
      }
      return type === "int64" ? integer : Number(integer);
    }
    case "price":
      if (typeof value === "string") return value;
      if (!(value instanceof JsonNumber)) throw wrong("a number or a string");
      if (!Number.isFinite(value.value)) throw wrong("a number within a 64-bit float's range");
      return value.value;
    default: {
      if (!Array.isArray(value)) throw wrong("an array");
      const shape = type.arrayOf;
      return value.map((element, index) => readObject(element, shape, `${where}[${index}]`));
    }
  }
}

/** A value as an error names it. */
function shown(value: unknown): string {
  if (value instanceof JsonNumber) return value.source;
  if (typeof value === "string") return "a string";
  if (Array.isArray(value)) return "an array";
  if (value !== null && typeof value === "object") return "an object";
  return String(value);
}
