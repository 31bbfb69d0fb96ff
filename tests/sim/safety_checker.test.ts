// Goal: the outside safety checkers flag the violations they exist for. Method: feed the
// SafetyChecker hand-made entries (conflicting logs, divergent applies, lost acknowledged
// writes) and expect a SafetyViolation naming the property; consistent input must pass.

import { expect, test } from "bun:test";
import type { Entry } from "../../raft/core/mod.ts";
import { SafetyChecker, SafetyViolation } from "./checkers/safety.ts";

function entry(index: number, term: number, byte: number): Entry {
  return { index, term, kind: "normal", data: new Uint8Array([byte]) };
}

test("log matching: same (index, term) with different content is flagged", () => {
  const c = new SafetyChecker();
  const prevTerm = (i: number): number => (i === 0 ? 0 : 1);
  c.persisted([entry(1, 1, 1), entry(2, 1, 2)], prevTerm);
  c.persisted([entry(1, 1, 1)], prevTerm); // the same entry elsewhere is fine
  expect(() => c.persisted([entry(2, 1, 9)], prevTerm)).toThrow(SafetyViolation);
});

test("log matching: same (index, term) after different predecessor terms is flagged", () => {
  const c = new SafetyChecker();
  c.persisted([entry(3, 2, 3)], () => 1);
  expect(() => c.persisted([entry(3, 2, 3)], () => 2)).toThrow(/log matching/);
});

test("state machine safety: different entries applied at one index are flagged", () => {
  const c = new SafetyChecker();
  c.applied("n1", entry(1, 1, 1));
  c.applied("n2", entry(1, 1, 1));
  expect(() => c.applied("n3", entry(1, 2, 7))).toThrow(/state machine safety/);
});

test("state machine safety: snapshots at one index must hold the same bytes", () => {
  const c = new SafetyChecker();
  c.snapshotAt("n1", 10, new Uint8Array([1, 2]));
  c.snapshotAt("n2", 10, new Uint8Array([1, 2]));
  expect(() => c.snapshotAt("n3", 10, new Uint8Array([1, 3]))).toThrow(SafetyViolation);
});

test("acknowledged writes: a write acknowledged at (index, term) must be the committed entry there", () => {
  const c = new SafetyChecker();
  c.applied("n1", entry(1, 1, 1));
  expect(() => c.acknowledged(1, 1)).not.toThrow();
  expect(() => c.acknowledged(1, 2)).toThrow(/acknowledged write lost/);
  expect(() => c.acknowledged(2, 1)).toThrow(/never seen committed/);
});
