// Goal: the idle collector hints once per quiet spell after work, never while work goes on
// and never when the node was idle all along.

import { expect, test } from "bun:test";
import { startIdleGc } from "../../idle_gc.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test("one hint after work stops, none while it continues or before any work", async () => {
  let progress = 0;
  let hints = 0;
  const gc = startIdleGc({ periodMs: 20, progress: () => progress, collect: () => hints++ });
  try {
    await sleep(100);
    expect(hints).toBe(0);
    for (let i = 0; i < 10; i++) {
      progress++;
      await sleep(10);
    }
    expect(hints).toBe(0);
    await sleep(120);
    expect(hints).toBe(1);
    progress++;
    await sleep(120);
    expect(hints).toBe(2);
  } finally {
    gc.stop();
  }
});
