// Helpers of shop-ts's unit tests (the *.test.ts files run by `bun test`);
// no server imports this file.

import { ApiError } from "./error.ts";

/** What a client sees of an error: its status, code and message. Tests
 * compare it with the answer the Rust servers give (servers/shop), so that a
 * difference shows all three at once. */
export interface Answer {
  status: number;
  code: string;
  message: string;
}

export function answerOf(error: ApiError): Answer {
  return { status: error.status, code: error.code, message: error.message };
}

export function badRequest(message: string): Answer {
  return { status: 400, code: "bad_request", message };
}

/** The answer to every outage, whatever its cause (shop's
 * `From<StoreError> for ApiError`). */
export const UNAVAILABLE: Answer = {
  status: 503,
  code: "unavailable",
  message: "the database is unavailable; try again later",
};

/** The answer `check` throws, or null if it passes. */
export function refusal(check: () => void): Answer | null {
  try {
    check();
    return null;
  } catch (error) {
    if (error instanceof ApiError) return answerOf(error);
    throw error;
  }
}
