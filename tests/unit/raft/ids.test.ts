// Goal: Term, LogIndex and NodeId cannot stand in for one another, and the checked
// constructors refuse what their types' invariants exclude. Method: @ts-expect-error lines
// (tsc fails if a brand stops being distinct) and the constructors on good and bad values;
// decoding gives each field its brand (a negative term is refused by the codec).
import { expect, test } from "bun:test";
import { decodeHardState, encodeCbor, encodeHardState } from "../../../raft/codec.ts";
import { CodecError } from "../../../raft/codec_shapes.ts";
import { InvariantError, type LogIndex, logIndex, type NodeId, nodeId, type Term, term } from "../../../raft/core/mod.ts";

test("a Term, a LogIndex and a NodeId are not interchangeable (checked by tsc)", () => {
  const t: Term = term(3);
  const i: LogIndex = logIndex(7);
  const n: NodeId = nodeId("n1");
  // @ts-expect-error a term is not a log index
  const asIndex: LogIndex = t;
  // @ts-expect-error a log index is not a term
  const asTerm: Term = i;
  // @ts-expect-error a term is not a node id
  const asNode: NodeId = t;
  // Plain literals still convert (tests, arithmetic inside the core, the factory's options).
  const plain: Term = 4;
  expect([asIndex, asTerm, asNode, plain, n]).toEqual([3, 7, 3, 4, "n1"]);
});

test("the checked constructors refuse what the invariants exclude", () => {
  expect(term(0)).toBe(0);
  expect(logIndex(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
    expect(() => term(bad)).toThrow(InvariantError);
    expect(() => logIndex(bad)).toThrow(InvariantError);
  }
  expect(() => nodeId("")).toThrow(InvariantError);
});

test("decoding checks each field before it gets its brand", () => {
  expect(decodeHardState(encodeHardState({ currentTerm: term(5), votedFor: nodeId("n2") }))).toEqual({ currentTerm: 5, votedFor: "n2" });
  expect(() => decodeHardState(encodeCbor([-1, null]))).toThrow(CodecError);
  expect(() => decodeHardState(encodeCbor([1, ""]))).toThrow(CodecError);
});
