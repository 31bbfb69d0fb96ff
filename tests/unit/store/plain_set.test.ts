// Goal: plain set commands read directly (store/plain_set.ts) give what cbor-x gives for the
// same bytes, and decodeCommand answers as before: what the direct reader does not take goes
// the general way, errors included. Method: commands from encodeCommand, then seeded
// mutations; cbor-x (the general path's decoder) is the oracle for every command read directly.

import { describe, expect, test } from "bun:test";
import { Decoder, Encoder } from "../../../raft/cbor.ts";
import { decodeCommand, encodeCommand } from "../../../store/commands.ts";
import { decodePlainSet, encodePlainSet, plainSetBytesMax } from "../../../store/plain_set.ts";
import { mutateBytes } from "../../support/mutate_bytes.ts";
import { storageRng } from "../../support/storage_rng.ts";

const cbor = new Decoder({ useRecords: false, mapsAsObjects: false });

/** cbor-x's reading of `b` as a plain set's pairs, or null if it is not one. */
function oracle(b: Uint8Array): Array<[string, string]> | null {
  let v: unknown;
  try {
    v = cbor.decode(b);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v[0] !== 1 || v.length < 3 || v.length % 2 === 0) return null;
  const pairs: Array<[string, string]> = [];
  for (let i = 1; i < v.length; i += 2) {
    if (typeof v[i] !== "string" || v[i].length === 0 || typeof v[i + 1] !== "string") return null;
    pairs.push([v[i], v[i + 1]]);
  }
  return pairs;
}

const commands = [
  [["k", "v"]],
  [["w-1-12345", "vvvvvvvvvvvvvvvv"]],
  [["a", ""], ["b".repeat(23), "c".repeat(24)], ["d".repeat(255), "e".repeat(256)]],
  Array.from({ length: 12 }, (_, i) => [`key-${i}`, `value-${i}`]),
  [["k", "x".repeat(3000)]],
] as Array<Array<[string, string]>>;

describe("plain sets read directly", () => {
  test("ASCII sets are read directly, as cbor-x reads them; the rest go the general way", () => {
    for (const pairs of commands) {
      const bytes = encodeCommand({ type: "set", pairs });
      expect(decodePlainSet(bytes)).toEqual({ type: "set", pairs });
      expect(decodeCommand(bytes)).toEqual({ type: "set", pairs });
    }
    // A lone surrogate is not ASCII either (and cbor-x does not give it back as it was).
    expect(decodePlainSet(encodeCommand({ type: "set", pairs: [["k", "\ud800"]] }))).toBeNull();
    for (const pairs of [[["ключ", "v"]], [["k", "välue"]], [["k", "y".repeat(plainSetBytesMax)]]]) {
      const bytes = encodeCommand({ type: "set", pairs: pairs as Array<[string, string]> });
      expect(decodePlainSet(bytes)).toBeNull();
      expect(decodeCommand(bytes)).toEqual({ type: "set", pairs: pairs as Array<[string, string]> });
    }
    expect(decodePlainSet(encodeCommand({ type: "delete", key: "k" }))).toBeNull();
    expect(decodePlainSet(encodeCommand({ type: "set", pairs: [["k", "v"]], condition: { type: "absent" } }))).toBeNull();
  });

  test("sets are written directly as cbor-x writes them, at every head size", () => {
    const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
    const shapes: Array<Array<[string, string]>> = [...commands];
    for (const n of [11, 12, 127, 128]) shapes.push(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
    for (const length of [1, 23, 24, 255, 256, 1000]) shapes.push([["k".repeat(length), "v".repeat(length)]]);
    for (const pairs of shapes) {
      const want = new Uint8Array(encoder.encode([1, ...pairs.flat()]));
      expect(encodePlainSet(pairs)).toEqual(want);
      expect(encodeCommand({ type: "set", pairs })).toEqual(want);
    }
    expect(encodePlainSet([["ключ", "v"]])).toBeNull();
    expect(encodePlainSet([["", "v"]])).toBeNull();
    expect(encodePlainSet([["k", "y".repeat(plainSetBytesMax)]])).toBeNull();
  });

  test("mutated commands: whatever is read directly, cbor-x reads the same", () => {
    const rng = storageRng(1818);
    let direct = 0;
    let other = 0;
    for (let round = 0; round < 20_000; round++) {
      const bytes = mutateBytes(rng, encodeCommand({ type: "set", pairs: commands[rng.int(commands.length - 1)]! }));
      const got = decodePlainSet(bytes);
      if (got === null) {
        other++;
        continue;
      }
      direct++;
      expect(got).toEqual({ type: "set", pairs: oracle(bytes)! });
    }
    expect(direct).toBeGreaterThan(1000);
    expect(other).toBeGreaterThan(1000);
  });
});
