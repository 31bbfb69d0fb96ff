// Goal: with real processes and the real file system, SIGKILL at any moment never loses an
// entry the WAL reported durable, and recovery always succeeds. Method: a child appends and
// fsyncs batches, printing each durable point; it is killed after a random number of them
// (so at a random point of a later batch) 50 times in a row on the same log, and the log is
// recovered and checked after each kill. STORAGE_KILLS=n changes the count.

import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsDisk } from "../../../raft/disk.ts";
import { Wal } from "../../../raft/wal.ts";
import { testEntry } from "../../support/storage_disks.ts";
import { storageRng } from "../../support/storage_rng.ts";

const kills = Number(process.env.STORAGE_KILLS ?? 50);
const childPath = join(import.meta.dir, "..", "..", "support", "storage_child.ts");

/** Runs the child until it has printed `lines` durable reports, then SIGKILLs it. */
function runChild(dir: string, seed: number, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childPath, dir, String(seed)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let killed = false;
    const maybeKill = () => {
      if (!killed && (out.match(/^D /gm)?.length ?? 0) >= lines) {
        killed = true;
        child.kill("SIGKILL");
      }
    };
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      maybeKill();
    });
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child exited ${code}: ${err}`));
      else resolve(out.split("\n").filter((l) => l.length > 0));
    });
    maybeKill();
  });
}

describe("SIGKILL of a real writer", () => {
  test(`${kills} kills at random moments lose nothing reported durable`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hraftd-kill-"));
    const rng = storageRng(2024);
    let lastDurable = 0;
    try {
      for (let k = 0; k < kills; k++) {
        const lines = await runChild(dir, 1000 + k, rng.int(40));
        // What the child promised: the last durable point, cut back by any later truncation.
        let guaranteed = 0;
        let termAt: number | null = null;
        for (const line of lines) {
          const [tag, a, b] = line.split(" ");
          if (tag === "D") (guaranteed = Number(a)), (termAt = Number(b));
          else if (tag === "T") (guaranteed = Math.min(guaranteed, Number(a) - 1)), (termAt = null);
        }
        const { wal, entries } = Wal.open(createFsDisk(), dir, { segmentBytesMax: 16 * 1024 });
        wal.close();
        for (let i = 1; i < entries.length; i++) {
          expect(entries[i]!.index).toBe(entries[i - 1]!.index + 1);
          expect(entries[i]!.term).toBeGreaterThanOrEqual(entries[i - 1]!.term);
        }
        for (const e of entries) expect(e.data).toEqual(testEntry(e.index, e.term, e.data.length).data);
        const last = entries.at(-1);
        expect(last?.index ?? 0, `kill ${k}`).toBeGreaterThanOrEqual(guaranteed);
        if (termAt !== null && guaranteed > 0) expect(entries.find((e) => e.index === guaranteed)?.term).toBe(termAt);
        lastDurable = Math.max(lastDurable, guaranteed);
      }
      expect(lastDurable).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
