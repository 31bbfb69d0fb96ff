// Goal: the command codec round-trips every valid command and rejects, with CommandError,
// every byte string that is not exactly one well-formed command.
// Method: encode/decode tables, plus hand-built CBOR for shapes the encoder refuses to make.

import { describe, expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import { type Command, commandBytesMax, decodeCommand, encodeCommand } from "../../../store/commands.ts";
import { CommandError } from "../../../store/errors.ts";

const raw = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });

describe("command codec", () => {
  const valid: Command[] = [
    { type: "set", pairs: [["a", "1"]] },
    { type: "set", pairs: [["a", "1"], ["b", ""], ["ключ", "значение 🚀"], ["__proto__", "x"]] },
    { type: "set", pairs: [["dup", "1"], ["dup", "2"]] },
    { type: "delete", key: "a" },
    { type: "delete", key: "with/slash and space" },
  ];
  for (const command of valid) {
    test(`round trip ${JSON.stringify(command)}`, () => {
      expect(decodeCommand(encodeCommand(command))).toEqual(command);
    });
  }

  test("encoding is compact: a one-key set costs a few bytes over its strings", () => {
    const bytes = encodeCommand({ type: "set", pairs: [["foo", "bar"]] });
    expect(bytes.length).toBeLessThanOrEqual(1 + 1 + 4 + 4);
  });

  test("encode refuses commands that break the invariants", () => {
    expect(() => encodeCommand({ type: "set", pairs: [] })).toThrow(CommandError);
    expect(() => encodeCommand({ type: "set", pairs: [["", "v"]] })).toThrow(CommandError);
    expect(() => encodeCommand({ type: "delete", key: "" })).toThrow(CommandError);
    const notString = { type: "set", pairs: [["k", 5]] } as unknown as Command;
    expect(() => encodeCommand(notString)).toThrow(CommandError);
  });

  const bad: Array<[string, Uint8Array]> = [
    ["empty bytes", new Uint8Array(0)],
    ["garbage", new Uint8Array([0xff, 0x00, 0x13])],
    ["not an array", raw.encode({ type: "set" })],
    ["empty array", raw.encode([])],
    ["unknown tag", raw.encode([9, "a"])],
    ["string tag", raw.encode(["set", "a", "b"])],
    ["set without pairs", raw.encode([1])],
    ["set with odd operands", raw.encode([1, "a", "b", "c"])],
    ["set with number value", raw.encode([1, "a", 1])],
    ["set with null value", raw.encode([1, "a", null])],
    ["set with empty key", raw.encode([1, "", "v"])],
    ["set with byte-string key", raw.encode([1, new Uint8Array([97]), "v"])],
    ["delete without key", raw.encode([2])],
    ["delete with two keys", raw.encode([2, "a", "b"])],
    ["delete with number key", raw.encode([2, 7])],
    ["trailing bytes", new Uint8Array([...encodeCommand({ type: "delete", key: "a" }), 0x00])],
    ["truncated", encodeCommand({ type: "set", pairs: [["abc", "def"]] }).subarray(0, 5)],
  ];
  for (const [name, bytes] of bad) {
    test(`decode rejects ${name}`, () => {
      expect(() => decodeCommand(bytes)).toThrow(CommandError);
    });
  }

  test("decode rejects bytes over commandBytesMax before parsing", () => {
    expect(() => decodeCommand(new Uint8Array(commandBytesMax + 1))).toThrow(/exceeds/);
  });

  test("encoded bytes stay intact after later encodes (no shared-buffer aliasing)", () => {
    const first = encodeCommand({ type: "set", pairs: [["k", "v1"]] });
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 1000; i++) encodeCommand({ type: "set", pairs: [[`k${i}`, "x".repeat(i)]] });
    expect(Uint8Array.from(first)).toEqual(copy);
  });
});
