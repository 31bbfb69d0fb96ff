// What the driver's refusals mean to a client: a RequestError of raft/node.ts becomes the
// StoreError the HTTP layer answers with.

import { RequestError } from "../raft/node.ts";
import { StoreError } from "./errors.ts";

/** What a request the driver could not complete means to a client. */
export function storeErrorOf(e: RequestError): StoreError {
  switch (e.reason) {
    case "notLeader":
      return new StoreError("noLeader", "no leader is known; retry later", e.leader);
    case "transferring":
      return new StoreError("noLeader", "leadership is being transferred; retry shortly", e.leader);
    case "busy":
      return new StoreError("unavailable", "too many uncommitted writes; retry shortly", e.leader);
    case "confChangeInFlight":
      return new StoreError("unavailable", "another membership change is in progress; retry shortly", e.leader);
    case "invalid":
      return new StoreError("invalid", "the change is not valid for the current membership", e.leader);
    case "overwritten":
      return new StoreError("noLeader", e.message, e.leader);
    case "unknown":
      return new StoreError("outcomeUnknown", e.message, e.leader);
    case "noLeader":
      return new StoreError("noLeader", e.message, e.leader);
    case "timeout":
      return new StoreError("timeout", e.message, e.leader);
    case "full":
      return new StoreError("unavailable", e.message, e.leader);
  }
}

/** Rethrows `e`, as a StoreError if it is the driver's RequestError. */
export function rethrow(e: unknown): never {
  throw e instanceof RequestError ? storeErrorOf(e) : e;
}
