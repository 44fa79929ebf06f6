// The one error type of the API: its HTTP status, its code and its JSON
// body, as shop::error has them. Adapters turn an ApiError into their
// framework's response with `status`, `toJson()` and `allow`; nothing else
// about errors is left to the framework.

import { log } from "./log.ts";

export type ErrorCode =
  | "bad_request"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "insufficient_stock"
  | "payload_too_large"
  | "unsupported_media_type"
  | "unknown_reference"
  | "unavailable"
  | "internal";

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  insufficient_stock: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unknown_reference: 422,
  unavailable: 503,
  internal: 500,
};

/** Request bodies larger than this are refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;

export class ApiError extends Error {
  readonly code: ErrorCode;
  /** The `Allow` header a 405 must carry. */
  readonly allow: string | undefined;

  constructor(code: ErrorCode, message: string, allow?: string) {
    super(message);
    this.code = code;
    this.allow = allow;
  }

  get status(): number {
    return STATUS[this.code];
  }

  /** `{"error":{"code":...,"message":...}}`, as serde_json writes it. */
  toJson(): string {
    return `{"error":{"code":"${this.code}","message":${JSON.stringify(this.message)}}}`;
  }

  static badRequest(message: string): ApiError {
    return new ApiError("bad_request", message);
  }

  static notFound(message: string): ApiError {
    return new ApiError("not_found", message);
  }

  /** The answer to a path that no route matches. */
  static noRoute(method: string, path: string): ApiError {
    return ApiError.notFound(`no route for ${method} ${path}`);
  }

  /** The answer to a known path asked with another method. */
  static methodNotAllowed(method: string, allow: string): ApiError {
    return new ApiError(
      "method_not_allowed",
      `method ${method} is not allowed here; allowed: ${allow}`,
      allow,
    );
  }

  static payloadTooLarge(): ApiError {
    return new ApiError("payload_too_large", `request body is larger than ${MAX_BODY_BYTES} bytes`);
  }

  static unsupportedMediaType(): ApiError {
    return new ApiError(
      "unsupported_media_type",
      "request body must be JSON: send `Content-Type: application/json`",
    );
  }

  static unavailable(): ApiError {
    return new ApiError("unavailable", "the database is unavailable; try again later");
  }

  static internal(): ApiError {
    return new ApiError("internal", "internal error");
  }
}

/** Any thrown value as an ApiError: unexpected ones are a 500, and logged. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error && typeof error === "object" && "toApiError" in error) {
    return (error as { toApiError(): ApiError }).toApiError();
  }
  log.error(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return ApiError.internal();
}
