// Goal: every pending request completes exactly once (resolve, reject, timeout, failAll), a
// write's timeout says "outcome unknown", and the registry is bounded.
// Method: manual timers stand in for the real ones, so time moves only when the test says.

import { describe, expect, test } from "bun:test";
import type { Timers } from "../../../raft/host.ts";
import { StoreError } from "../../../store/errors.ts";
import { entryKey, PendingRegistry } from "../../../store/pending.ts";

/** Timers that fire only when advance() moves the clock past them. */
class ManualTimers implements Timers {
  nowMs = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.nowMs + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get timerCount(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    this.nowMs += ms;
    for (const [id, timer] of [...this.#timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.nowMs || !this.#timers.has(id)) continue;
      this.#timers.delete(id);
      timer.fn();
    }
  }
}

type Outcome = { error: StoreError | null; value: number | undefined };

function setup(options: { pendingMax?: number; timeoutCode?: "outcomeUnknown" | "timeout" } = {}) {
  const timers = new ManualTimers();
  const registry = new PendingRegistry<string, number>({ timeoutMs: 100, timers, ...options });
  const outcomes = new Map<string, Outcome[]>();
  const add = (key: string): void => {
    outcomes.set(key, []);
    registry.add(key, (error, value) => outcomes.get(key)!.push({ error, value }));
  };
  return { timers, registry, outcomes, add };
}

describe("PendingRegistry", () => {
  test("resolve completes once and cancels the timer", () => {
    const { timers, registry, outcomes, add } = setup();
    add("a");
    expect(registry.resolve("a", 7)).toBe(true);
    expect(registry.resolve("a", 8)).toBe(false);
    timers.advance(1000);
    expect(outcomes.get("a")).toEqual([{ error: null, value: 7 }]);
    expect(timers.timerCount).toBe(0);
    expect(registry.size).toBe(0);
  });

  test("reject passes the StoreError through", () => {
    const { registry, outcomes, add } = setup();
    add("a");
    const error = new StoreError("noLeader", "lost it", "n2");
    expect(registry.reject("a", error)).toBe(true);
    expect(outcomes.get("a")).toEqual([{ error, value: undefined }]);
  });

  test("a write's timeout completes with outcomeUnknown, at the deadline and not before", () => {
    const { timers, registry, outcomes, add } = setup();
    add("a");
    timers.advance(99);
    expect(outcomes.get("a")).toEqual([]);
    timers.advance(1);
    const [outcome] = outcomes.get("a")!;
    expect(outcome?.error?.code).toBe("outcomeUnknown");
    expect(outcome?.error?.message).toMatch(/outcome is unknown/);
    expect(registry.has("a")).toBe(false);
    // A late resolution (the entry committed after all) finds nothing and changes nothing.
    expect(registry.resolve("a", 1)).toBe(false);
    expect(outcomes.get("a")).toHaveLength(1);
  });

  test("timeoutCode 'timeout' is used for requests that changed nothing", () => {
    const { timers, outcomes, add } = setup({ timeoutCode: "timeout" });
    add("read");
    timers.advance(100);
    expect(outcomes.get("read")![0]?.error?.code).toBe("timeout");
  });

  test("failAll completes every waiter once, clears timers, and later adds still work", () => {
    const { timers, registry, outcomes, add } = setup();
    add("a");
    add("b");
    const error = new StoreError("noLeader", "leadership lost");
    expect(registry.failAll(error)).toBe(2);
    expect(timers.timerCount).toBe(0);
    timers.advance(1000);
    expect(outcomes.get("a")).toEqual([{ error, value: undefined }]);
    expect(outcomes.get("b")).toEqual([{ error, value: undefined }]);
    add("c");
    expect(registry.resolve("c", 3)).toBe(true);
  });

  test("bounded: one past pendingMax is refused with unavailable; a duplicate key is a bug", () => {
    const { registry, add } = setup({ pendingMax: 2 });
    add("a");
    add("b");
    expect(() => registry.add("c", () => {})).toThrow(StoreError);
    try {
      registry.add("c", () => {});
    } catch (e) {
      expect((e as StoreError).code).toBe("unavailable");
    }
    registry.resolve("a", 1);
    expect(() => registry.add("b", () => {})).toThrow(/already waiting/);
    add("c");
    expect(registry.size).toBe(2);
  });

  test("wait() resolves with the value and rejects with the StoreError", async () => {
    const { timers, registry } = setup();
    const resolved = registry.wait(entryKey(5, 2));
    registry.resolve(entryKey(5, 2), 42);
    expect(await resolved).toBe(42);
    const timedOut = registry.wait(entryKey(6, 2));
    timers.advance(100);
    await expect(timedOut).rejects.toMatchObject({ code: "outcomeUnknown" });
  });

  test("entryKey distinguishes index and term", () => {
    expect(entryKey(12, 3)).not.toBe(entryKey(1, 23));
    expect(entryKey(5, 2)).toBe(entryKey(5, 2));
  });
});
