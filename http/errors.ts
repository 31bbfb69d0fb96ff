// Error responses: every failure leaves as JSON `{"error": "..."}` with a status. HttpError
// is what request validation throws; StoreError codes map to statuses here, in one place.

import { StoreError, type StoreErrorCode } from "../store/errors.ts";
import { unreachable } from "../unreachable.ts";

/** A request rejected before it reached the store (bad input, bad method, too large). */
export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly status: number;
  readonly headers: Readonly<Record<string, string>> | null;

  constructor(status: number, message: string, headers: Readonly<Record<string, string>> | null = null) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** A JSON error response: `{"error": message}` plus `leader` when a hint is known. */
export function jsonError(
  status: number,
  message: string,
  options: { headers?: Readonly<Record<string, string>> | null; leader?: string | null } = {},
): Response {
  const body: { error: string; leader?: string } = { error: message };
  if (options.leader) body.leader = options.leader;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.headers) Object.assign(headers, options.headers);
  return new Response(JSON.stringify(body), { status, headers });
}

/** The HTTP status for a StoreError code. */
export function storeErrorStatus(code: StoreErrorCode): number {
  switch (code) {
    case "notFound":
    case "notMember":
      return 404;
    case "invalid":
      return 400;
    case "forbidden":
      return 403;
    case "noLeader":
    case "outcomeUnknown":
    case "timeout":
    case "unavailable":
      return 503;
    default:
      return unreachable(code);
  }
}

/** Codes after which trying again soon is reasonable; they get `Retry-After: 1`. */
function isRetryable(code: StoreErrorCode): boolean {
  return code === "noLeader" || code === "unavailable" || code === "timeout";
}

const retryAfterHeaders: Readonly<Record<string, string>> = { "retry-after": "1" };

/** The response for anything a handler threw: HttpError, StoreError, or an internal error (500). */
export function errorResponse(error: unknown): Response {
  if (error instanceof HttpError) return jsonError(error.status, error.message, { headers: error.headers });
  if (error instanceof StoreError) {
    let message = error.message;
    // A client must be able to tell "maybe applied" from "not applied": say it in words.
    if (error.code === "outcomeUnknown" && !/outcome/i.test(message)) {
      message = `the outcome is unknown (the write may or may not be applied): ${message}`;
    }
    return jsonError(storeErrorStatus(error.code), message, {
      headers: isRetryable(error.code) ? retryAfterHeaders : null,
      leader: error.leader,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return jsonError(500, `internal error: ${message}`);
}

/**
 * The app's error handler: errorResponse, and every 500 (a bug, not bad input) reported to
 * `internalErrorDone`. One function, so the Hono app and the fast path report alike.
 */
export function errorHandler(internalErrorDone?: (error: unknown) => void): (error: unknown) => Response {
  return (error) => {
    const response = errorResponse(error);
    if (response.status === 500) internalErrorDone?.(error);
    return response;
  };
}
