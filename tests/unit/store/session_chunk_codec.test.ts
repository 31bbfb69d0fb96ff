// Goal (issue 16, keyed writes within 10% of plain ones): a snapshot writes the once-only
// table's blocks straight from their packed arrays, and the bytes are exactly those the
// general way (entries as objects, then cbor-x) writes, so a snapshot reads back the same on
// any build. Method: two tables built by the same seeded steps, one encoded the general way
// (SessionTable.chunks with encodeSessionChunks alone), the other with the packed writer too,
// compared byte for byte; the steps mix what the packed writer must leave to cbor-x (ids and
// bodies past ASCII) with what it writes (small and wall-clock stamps, 412/422 bodies, bodies
// long enough to end chunks early). Then a KvStateMachine's snapshot restores the same table.

import { describe, expect, test } from "bun:test";
import { encodeCommand, onceCommand, type WriteCommand } from "../../../store/commands.ts";
import { encodePackedSessionChunks, type PackedEntries } from "../../../store/session_chunk_codec.ts";
import { type Outcome, SessionTable } from "../../../store/sessions.ts";
import { encodeSessionChunks, KvStateMachine, snapshotChunkChars, snapshotChunkPairs } from "../../../store/state_machine.ts";
import { storageRng } from "../../support/storage_rng.ts";

const packed = (entries: PackedEntries, places: readonly number[]): Uint8Array[] | null =>
  encodePackedSessionChunks(entries, places, snapshotChunkPairs, snapshotChunkChars);

/** Two tables given the same seeded steps. */
function twins(seed: number, steps: number, nonAscii: boolean): [SessionTable, SessionTable] {
  const limits = { windowMs: 50_000, countMax: 3_000, charsMax: 4_000_000 };
  const a = new SessionTable(limits);
  const b = new SessionTable(limits);
  const rng = storageRng(seed);
  let stamp = seed % 2 === 0 ? 0 : 1_764_000_000_000;
  for (let n = 0; n < steps; n++) {
    stamp += rng.int(4);
    const odd = nonAscii && rng.int(300) === 0;
    const id = `${odd ? "ü" : ""}u${rng.int(3)}:${"k".repeat(rng.int(30))}${n}`;
    const kind = rng.int(10);
    const outcome: Outcome = kind === 0
      ? { status: 412, body: `{"error":"${odd ? "é" : ""}${"e".repeat(rng.int(500))}"}` }
      : kind === 1
      ? { status: 422, body: `{"error":"${n}"}` }
      : { status: 200, body: "" };
    const digest = Bun.SHA256.hash(`${n}`, "base64") as string;
    for (const t of [a, b]) {
      t.advance(stamp);
      if (t.lookup(id) === undefined) t.remember(id, digest, outcome);
    }
  }
  return [a, b];
}

describe("session chunks from the packed table", () => {
  test("are the bytes cbor-x writes for the same entries", () => {
    for (const [seed, nonAscii] of [[1, false], [2, false], [3, true], [4, true]] as const) {
      const [a, b] = twins(seed, 6_000, nonAscii);
      const general = a.chunks(encodeSessionChunks);
      let written = 0;
      const direct = b.chunks(encodeSessionChunks, (entries, places) => {
        const out = packed(entries, places);
        if (out !== null) written++;
        return out;
      });
      // Most blocks are written from their arrays (the rest have a character past ASCII).
      expect(written, `seed ${seed}`).toBeGreaterThan(0);
      expect(direct.length, `seed ${seed}`).toBe(general.length);
      for (let i = 0; i < general.length; i++) expect(Buffer.compare(direct[i]!, general[i]!), `seed ${seed} chunk ${i}`).toBe(0);
      // Long bodies ended some chunks before their block did.
      expect(general.length).toBeGreaterThan(Math.ceil(a.size / 1024));
    }
  });

  test("leave a block with a character past ASCII to cbor-x", () => {
    const t = new SessionTable();
    t.remember(":ü", "d", { status: 200, body: "" });
    let calls = 0;
    const chunks = t.chunks(encodeSessionChunks, (entries, places) => {
      calls++;
      return packed(entries, places);
    });
    expect(calls).toBe(1);
    expect(Buffer.compare(chunks[0]!, encodeSessionChunks(t.entries())[0]!)).toBe(0);
  });

  test("a snapshot of a state machine restores its once-only table", () => {
    const sm = new KvStateMachine();
    const set = (k: string, v: string): WriteCommand => ({ type: "set", pairs: [[k, v]] });
    for (let n = 0; n < 3_000; n++) sm.apply(encodeCommand(onceCommand(1_764_000_000_000 + n, `:k${n}`, set(`a${n}`, `${n}`))), n + 1);
    const restored = new KvStateMachine();
    restored.restore(sm.snapshot());
    expect(restored.sessions.entries()).toEqual(sm.sessions.entries());
    expect(restored.apply(encodeCommand(onceCommand(1_764_000_009_999, ":k2999", set("a2999", "2999"))))).toMatchObject({ replayed: true });
  });
});
