// A stall probe, loaded into a node run from source with `bun --preload bench/stall_probe.ts
// main.ts …` (bench/stall_trace.ts does that for the leader). Nothing in the shipped node
// imports it, so it costs the binary nothing.
//
// A 1 ms repeating timer notes every turn of the event loop that kept it from firing for
// longer than STALL_PROBE_MS (2 ms by default). For each such stall it records, with epoch
// timestamps (the clock --cpu-prof samples use, so the two can be lined up):
//  - the gap, and how the main thread spent it, from /proc/thread-self/schedstat read at every
//    tick: on a CPU (our code, or the collector working on our thread), waiting for a CPU
//    (the machine was busy: not ours to fix), or neither (blocked in a system call, e.g. an
//    fdatasync on the loop, or waiting for the collector's helper threads);
//  - which timer, immediate or HTTP request callbacks ran longer than 1 ms inside the gap,
//    by name (timers and Bun.serve's handler are wrapped; their cost when short is two clock
//    reads).
// Records go to STALL_PROBE_OUT as JSON lines, flushed every second and at exit.

import { closeSync, openSync, readSync, writeSync } from "node:fs";

const out = process.env["STALL_PROBE_OUT"];
const thresholdMs = Number(process.env["STALL_PROBE_MS"] ?? "2");
const longCallbackMs = 1;

if (out !== undefined && out !== "") install(out);

function install(path: string): void {
  const fd = openSync(path, "w");
  const origin = performance.timeOrigin;
  const epochMs = (t: number): number => origin + t;
  const pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    writeSync(fd, pending.join("\n") + "\n");
    pending.length = 0;
  };

  // Main-thread CPU and run-queue wait (ns), from a file kept open and re-read at offset 0.
  const schedFd = openSync("/proc/thread-self/schedstat", "r");
  const schedBuf = Buffer.alloc(128);
  const sched = (): [number, number] => {
    const n = readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
    const parts = schedBuf.toString("latin1", 0, n).split(" ");
    return [Number(parts[0]) / 1e6, Number(parts[1]) / 1e6];
  };

  // Callbacks that ran long since the last tick (cleared at each tick).
  let longCalls: { name: string; ms: number; at: number }[] = [];
  // The label is made only for a long call: String(fn) on every timer would cost more than the timing.
  const timed = <A extends unknown[], R>(kind: string, fn: (...a: A) => R) =>
    function (this: unknown, ...a: A): R {
      const t0 = performance.now();
      try {
        return fn.apply(this, a);
      } finally {
        const ms = performance.now() - t0;
        if (ms > longCallbackMs) longCalls.push({ name: label(kind, fn), ms: round(ms), at: round(epochMs(t0)) });
      }
    };
  const label = (kind: string, fn: unknown): string => {
    const f = fn as { name?: string };
    if (f.name !== undefined && f.name !== "") return `${kind}:${f.name}`;
    const src = String(fn).replace(/\s+/g, " ");
    return `${kind}:${src.slice(0, 60)}`;
  };

  const g = globalThis as unknown as Record<string, (...a: unknown[]) => unknown>;
  // The probe's own interval is not wrapped.
  const origSetInterval = g["setInterval"]!;
  for (const kind of ["setTimeout", "setInterval", "setImmediate"] as const) {
    const orig = g[kind]!;
    const wrapped = function (this: unknown, fn: unknown, ...rest: unknown[]): unknown {
      if (typeof fn !== "function") return orig.call(this, fn, ...rest);
      return orig.call(this, timed(kind, fn as (...a: unknown[]) => unknown), ...rest);
    };
    Object.assign(wrapped, orig);
    g[kind] = wrapped;
  }
  const bun = Bun as unknown as { serve: (o: Record<string, unknown>) => unknown };
  const serve = bun.serve.bind(Bun);
  bun.serve = (o: Record<string, unknown>) => {
    const f = o["fetch"];
    return serve(typeof f === "function" ? { ...o, fetch: timed("http", f as (...a: unknown[]) => unknown) } : o);
  };

  let last = performance.now();
  let [lastCpu, lastWait] = sched();
  const probe = (): void => {
    const now = performance.now();
    const [cpu, wait] = sched();
    const gap = now - last;
    if (gap > thresholdMs + 1) {
      const onCpu = cpu - lastCpu;
      const waiting = wait - lastWait;
      pending.push(JSON.stringify({
        end: round(epochMs(now)),
        gapMs: round(gap),
        cpuMs: round(onCpu),
        runqMs: round(waiting),
        blockedMs: round(Math.max(0, gap - onCpu - waiting)),
        calls: longCalls,
      }));
    }
    longCalls = [];
    last = now;
    lastCpu = cpu;
    lastWait = wait;
  };
  (Reflect.apply(origSetInterval, globalThis, [probe, 1]) as { unref?: () => void }).unref?.();
  const flusher = setTimeout(function flushProbe() {
    flush();
    flusher.refresh();
  }, 1000) as unknown as { refresh(): void; unref?: () => void };
  flusher.unref?.();
  process.on("exit", () => {
    flush();
    closeSync(fd);
  });
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
