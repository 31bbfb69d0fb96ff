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

test("a full collection instead of the hint once the size grew past the bound since the last full one", async () => {
  let progress = 0;
  let size = 100;
  const calls: string[] = [];
  const gc = startIdleGc({
    periodMs: 20,
    progress: () => progress,
    collect: () => calls.push("hint"),
    full: { size: () => size, collect: () => calls.push(`full at ${size}`), afterGrowthBytes: 50 },
  });
  const spell = async (grow: number): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      progress++;
      size += grow / 5;
      await sleep(10);
    }
    await sleep(120);
  };
  try {
    await spell(10); // grew 10 since the start: the hint
    await spell(60); // 70 since the start: full
    await spell(30); // 30 since the last full one: the hint
    await spell(30); // 60: full
    expect(calls).toEqual(["hint", "full at 170", "hint", "full at 230"]);
  } finally {
    gc.stop();
  }
});
