// Goal (issue 16, conditional writes' cost): a conditional set `[4, condition, k1, v1, …]`,
// written and read without cbor-x (store/condition_codec.ts), gives exactly what cbor-x gives:
// the same bytes written, the same command read, and decodeCommand answers as before for
// anything the direct reader leaves to cbor-x, errors included. And reading one does no work
// of cbor-x's: cbor-x leaves a DataView on every typed array it reads (the log holds each
// entry's bytes until compaction). Method: commands of every head size, then seeded
// mutations; cbor-x is the oracle.

import { describe, expect, test } from "bun:test";
import { Decoder, Encoder } from "../../../raft/cbor.ts";
import { type Condition, conditionValue, decodeCommand, encodeCommand, type KeyValue } from "../../../store/commands.ts";
import { decodeConditionalSet, encodeConditionalSet } from "../../../store/condition_codec.ts";
import { mutateBytes } from "../../support/mutate_bytes.ts";
import { storageRng } from "../../support/storage_rng.ts";

const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });
const cbor = new Decoder({ useRecords: false, mapsAsObjects: false });

/** cbor-x's bytes for a conditional set: the general path's. */
function oracle(condition: Condition, pairs: readonly KeyValue[]): Uint8Array {
  return new Uint8Array(encoder.encode([4, conditionValue(condition), ...pairs.flat()]));
}

/** What decodeCommand makes of `b`: the command, or its error's message (CommandError wording). */
function outcome(b: Uint8Array): unknown {
  try {
    return decodeCommand(b);
  } catch (e) {
    return (e as Error).message;
  }
}

const conditions: Condition[] = [
  { type: "absent" },
  { type: "exists" },
  { type: "match", versions: [0] },
  { type: "match", versions: [23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1] },
  { type: "match", versions: Array.from({ length: 16 }, (_, i) => i * 1000) },
];
const pairSets: KeyValue[][] = [
  [["k", "v"]],
  [["w-1-12345", "vvvvvvvvvvvvvvvv"]],
  [["a".repeat(23), ""], ["b".repeat(24), "x".repeat(255)], ["c".repeat(256), "y"]],
  Array.from({ length: 12 }, (_, i): KeyValue => [`key-${i}`, `value-${i}`]),
  Array.from({ length: 130 }, (_, i): KeyValue => [`k${i}`, "v"]),
];

describe("the conditional set written and read directly", () => {
  test("written as cbor-x writes it, at every head size; read back as cbor-x reads it", () => {
    for (const condition of conditions) {
      for (const pairs of pairSets) {
        const want = oracle(condition, pairs);
        expect(encodeConditionalSet(condition, pairs)).toEqual(want);
        expect(encodeCommand({ type: "set", pairs, condition })).toEqual(want);
        expect(decodeConditionalSet(want)).toEqual({ type: "set", pairs, condition });
        expect(decodeCommand(want)).toEqual({ type: "set", pairs, condition });
      }
    }
  });

  test("reading one leaves no cbor-x DataView on the entry's bytes", () => {
    const bytes = encodeCommand({ type: "set", pairs: [["w-1-7", "vvvvvvvvvvvvvvvv"]], condition: { type: "absent" } });
    decodeCommand(bytes);
    expect((bytes as Uint8Array & { dataView?: DataView }).dataView).toBeUndefined();
  });

  test("what the direct codec leaves (non-ASCII, a version past 32 bits, a long command) goes through cbor-x as before", () => {
    const cases: Array<[Condition, KeyValue[]]> = [
      [{ type: "absent" }, [["ключ", "v"]]],
      [{ type: "absent" }, [["k", "значение"]]],
      [{ type: "match", versions: [2 ** 32] }, [["k", "v"]]],
      [{ type: "match", versions: [2 ** 40 + 1] }, [["k", "v"]]],
      [{ type: "exists" }, [["k", "x".repeat(5000)]]],
    ];
    for (const [condition, pairs] of cases) {
      expect(encodeConditionalSet(condition, pairs)).toBeNull();
      const bytes = encodeCommand({ type: "set", pairs, condition });
      expect(bytes).toEqual(oracle(condition, pairs));
      expect(decodeConditionalSet(bytes)).toBeNull();
      expect(decodeCommand(bytes)).toEqual({ type: "set", pairs, condition });
    }
    // Malformed commands are refused with cbor-x's path's words, as before.
    expect(outcome(new Uint8Array(encoder.encode([4, [1], "", "v"])))).toBe("key is empty");
    expect(outcome(new Uint8Array(encoder.encode([4, [0], "k", "v"])))).toBe("conditional set: malformed condition");
    expect(outcome(new Uint8Array(encoder.encode([4, [1]])))).toBe("set has 0 operands, want a positive even number");
    expect(encodeConditionalSet({ type: "absent" }, [])).toBeNull();
  });

  test("mutated commands: whatever is read directly, cbor-x reads the same, and decodeCommand answers the same", () => {
    const rng = storageRng(1604);
    const bases = [
      oracle({ type: "absent" }, [["w-1-1", "vvvvvvvvvvvvvvvv"]]),
      oracle({ type: "match", versions: [7, 300, 70_000] }, [["a", "1"], ["b", "2"]]),
      oracle({ type: "exists" }, [["k".repeat(30), "v".repeat(300)]]),
    ];
    let direct = 0;
    let other = 0;
    for (let round = 0; round < 20_000; round++) {
      const bytes = mutateBytes(rng, bases[rng.int(bases.length)]!);
      const got = decodeConditionalSet(bytes);
      if (got === null) {
        other++;
        continue;
      }
      direct++;
      const value = cbor.decode(bytes.slice()) as unknown[];
      const { pairs, condition } = got as unknown as { pairs: KeyValue[]; condition: Condition };
      expect(value).toEqual([4, conditionValue(condition), ...pairs.flat()]);
    }
    expect(direct).toBeGreaterThan(1000);
    expect(other).toBeGreaterThan(1000);
  });
});
