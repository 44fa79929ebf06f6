// The framework-neutral half of HTTP, as shop::http has it: adapters take
// raw pieces (a path segment, the query string, the Content-Type header,
// the body) with their framework's tools and hand them here, so ids,
// pagination, JSON bodies and their errors are parsed by one piece of code,
// the same on every server.

import { decodeBody, ShapeError } from "./body.ts";
import { ApiError, MAX_BODY_BYTES } from "./error.ts";
import { checkNoNul, type RequestType } from "./model.ts";

export { MAX_BODY_BYTES };

export const JSON_CONTENT_TYPE = "application/json";

/** Every route of the API and the methods it allows, as the `Allow` header
 * of a 405 lists them (shop::http::ROUTES). HEAD is answered wherever GET is. */
export const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ["/health", "GET, HEAD"],
  ["/health/db", "GET, HEAD"],
  ["/users", "GET, HEAD, POST"],
  ["/users/{id}", "GET, HEAD, PATCH, DELETE"],
  ["/users/{id}/orders", "GET, HEAD"],
  ["/products", "GET, HEAD, POST"],
  ["/products/{id}", "GET, HEAD, PATCH, DELETE"],
  ["/orders", "POST"],
  ["/orders/{id}", "GET, HEAD"],
  ["/orders/{id}/cancel", "POST"],
];

/** The `Allow` header of a route in ROUTES. */
export function allowedMethods(route: string): string {
  const found = ROUTES.find(([path]) => path === route);
  if (!found) throw new Error(`${route} is not in ROUTES`);
  return found[1];
}

/** The ROUTES entry a routing path matches, whatever the method, and the
 * raw `{id}` segment if it has one; null for no route (an empty segment
 * matches nothing). */
export function matchRoute(path: string): { route: string; id?: string } | null {
  if (!path.startsWith("/")) return null;
  const segments = path.slice(1).split("/");
  if (segments.some((segment) => segment === "")) return null;
  const [first, id, third] = segments;
  switch (segments.length) {
    case 1:
      return ["users", "products", "orders", "health"].includes(first!) ? { route: `/${first}` } : null;
    case 2:
      if (first === "health") return id === "db" ? { route: "/health/db" } : null;
      return ["users", "products", "orders"].includes(first!) ? { route: `/${first}/{id}`, id } : null;
    case 3:
      if (first === "users" && third === "orders") return { route: "/users/{id}/orders", id };
      if (first === "orders" && third === "cancel") return { route: "/orders/{id}/cancel", id };
      return null;
    default:
      return null;
  }
}

/** A resource id from a path segment: a positive 64-bit integer, as decimal
 * text (ids are bigint columns). */
export function parseId(segment: string): string {
  if (/^[0-9]+$/.test(segment)) {
    const value = BigInt(segment);
    if (value > 0n && value <= 9223372036854775807n) return value.toString();
  }
  throw ApiError.badRequest(`\`${segment}\` is not a valid id: ids are positive 64-bit integers`);
}

/** A resource id from a path segment still percent-encoded. */
export function parseRawId(segment: string): string {
  return parseId(percentDecodeLossy(segment, false));
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** The path a request is routed by: percent-encoded unreserved characters
 * (letters, digits, `-`, `.`, `_`, `~`) decoded, everything else as sent
 * (RFC 3986 6.2.2.2; shop::http::routing_path). */
export function routingPath(path: string): string {
  if (!path.includes("%")) return path;
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const decoded = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(decoded) ? decoded : escape;
  });
}

/** The path and the query of a request's URL, as sent (no decoding). */
export function splitUrl(url: string): { path: string; query: string | null } {
  const scheme = url.indexOf("://");
  const start = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  if (start < 0) return { path: "/", query: null };
  const question = url.indexOf("?", start);
  if (question < 0) return { path: url.slice(start), query: null };
  return { path: url.slice(start, question), query: url.slice(question + 1) };
}

const lossy = new TextDecoder("utf-8");
const encoder = new TextEncoder();

/** Percent-decodes `text` (and `+` as a space in forms), then reads the
 * bytes as UTF-8, invalid sequences replaced by U+FFFD. */
function percentDecodeLossy(text: string, plusIsSpace: boolean): string {
  if (!text.includes("%") && !(plusIsSpace && text.includes("+"))) return text;
  const bytes = encoder.encode(text);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  const hex = (b: number | undefined) =>
    b === undefined ? -1 : b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x41 && b <= 0x46 ? b - 0x37 : b >= 0x61 && b <= 0x66 ? b - 0x57 : -1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25) {
      const high = hex(bytes[i + 1]);
      const low = hex(bytes[i + 2]);
      if (high >= 0 && low >= 0) {
        out[n++] = high * 16 + low;
        i += 2;
        continue;
      }
    }
    out[n++] = plusIsSpace && b === 0x2b ? 0x20 : b;
  }
  return lossy.decode(out.subarray(0, n));
}

/** Rust's `str::parse::<i64>()`: an optional sign and decimal digits. */
function parseI64(text: string): bigint | null {
  if (!/^[+-]?[0-9]+$/.test(text)) return null;
  const value = BigInt(text);
  return value >= -9223372036854775808n && value <= 9223372036854775807n ? value : null;
}

/** `limit` and `offset` of a list request, and for products a category. */
export interface ListQuery {
  limit: number;
  offset: bigint;
  category: string | null;
}

export const MAX_LIMIT = 100;

/** Parses a raw (still percent-encoded) query string. Unknown parameters
 * are ignored; bad values of known ones are 400. */
export function parseListQuery(query: string | null): ListQuery {
  const parsed: ListQuery = { limit: 20, offset: 0n, category: null };
  if (!query) return parsed;
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = percentDecodeLossy(eq < 0 ? pair : pair.slice(0, eq), true);
    const value = eq < 0 ? "" : percentDecodeLossy(pair.slice(eq + 1), true);
    if (key === "limit") {
      const limit = parseI64(value);
      if (limit === null || limit < 1n || limit > BigInt(MAX_LIMIT)) {
        throw ApiError.badRequest(`limit must be an integer from 1 to ${MAX_LIMIT}, got \`${value}\``);
      }
      parsed.limit = Number(limit);
    } else if (key === "offset") {
      const offset = parseI64(value);
      if (offset === null || offset < 0n) {
        throw ApiError.badRequest(`offset must be a non-negative integer, got \`${value}\``);
      }
      parsed.offset = offset;
    } else if (key === "category") {
      checkNoNul("category", value);
      parsed.category = value;
    }
  }
  return parsed;
}

/** Whether a Content-Type names JSON, with or without parameters. */
export function isJsonContentType(contentType: string | null | undefined): boolean {
  if (contentType == null) return false;
  const essence = contentType.split(";")[0]!.trim();
  return essence.toLowerCase() === JSON_CONTENT_TYPE;
}

/** The checks made before a JSON body is read, from its headers alone:
 * declared as JSON (else 415), not declared larger than the limit (else 413). */
export function checkJsonHeaders(contentType: string | null | undefined, contentLength: string | null | undefined): void {
  if (!isJsonContentType(contentType)) throw ApiError.unsupportedMediaType();
  if (contentLength != null) {
    const trimmed = contentLength.trim();
    if (/^\+?[0-9]+$/.test(trimmed) && BigInt(trimmed) > BigInt(MAX_BODY_BYTES)) {
      throw ApiError.payloadTooLarge();
    }
  }
}

const EMPTY = new Uint8Array(0);

/** Reads a request body, refusing (413) one larger than the limit as soon
 * as it is: a chunked body is not read past it. */
export async function readBody(request: Request): Promise<Uint8Array> {
  const body = request.body;
  if (body === null) return EMPTY;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    // The DOM's ReadableStreamReadResult, by the name Bun's types give it.
    let next: Bun.ReadableStreamDefaultReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      // A body cut short (the client left, or the server is stopping): as
      // shop's adapters, answered as a body that could not be read whole.
      throw ApiError.payloadTooLarge();
    }
    const { done, value } = next;
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      reader.cancel().catch(() => {});
      throw ApiError.payloadTooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/** Reads a JSON request body in the contract's two steps: its shape (a
 * refusal says `invalid JSON body: ` and why), then its values. */
export function parseJson<V, Body>(body: Uint8Array, type: RequestType<V, Body>): V {
  if (body.byteLength > MAX_BODY_BYTES) throw ApiError.payloadTooLarge();
  let decoded: Body;
  try {
    // The shape table is the request type's own: the decoded members are those of Body.
    decoded = decodeBody(body, type.shape) as Body;
  } catch (error) {
    if (error instanceof ShapeError) throw ApiError.badRequest(`invalid JSON body: ${error.message}`);
    throw error;
  }
  return type.validate(decoded);
}

/** Headers, checked; body, read under the limit; JSON, parsed and validated. */
export async function jsonBody<V, Body>(request: Request, type: RequestType<V, Body>): Promise<V> {
  checkJsonHeaders(request.headers.get("content-type"), request.headers.get("content-length"));
  return parseJson(await readBody(request), type);
}

/** The body of `GET /health` and of a healthy `GET /health/db`. */
export const HEALTH_OK = '{"status":"ok"}';

/** A path segment as sent, percent-decoded (invalid UTF-8 replaced), as
 * routers that decode their parameters give it. */
export function decodeSegment(segment: string): string {
  return percentDecodeLossy(segment, false);
}
