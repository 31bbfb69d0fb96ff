// What an Idempotency-Key (or If-None-Match: *) adds to a write, member by member and thread by
// thread, for one or more builds side by side (issue 16: keyed writes within 10% of plain ones).
//
//   API_AB_PORT_BASE=26000 API_AB_DIR=/tmp/me/ab bun bench/api_ab.ts [seconds] [repeats] [conns] name=binary ...
//   API_AB_MODES=plain,once,create (the modes of bench/lua/put_hraftd.lua; the default)
//
// One 3-node cluster per build, all up for the whole run; unique-key writes at each leader in
// every mode, builds and modes taking turns in an order that reverses every other repeat. Each
// run prints the write rate and the CPU per acknowledged write of the three servers, then per
// member per thread (utime + stime from /proc/<pid>/task/*/stat): "main" is the event loop
// where the JavaScript runs; JITWorker is JavaScriptCore compiling, which on a fresh process
// is a large share for minutes and lands on whichever mode first runs a path hot: compare the
// main threads of later repeats. The summary gives medians over repeats and keyed/plain.

import { mkdirSync, mkdtempSync } from "node:fs";
import { HraftdCluster, type MemberSpec } from "./clusters.ts";
import { loadAvg } from "./machine.ts";
import { threadCpuDelta, threadsCpu } from "./proc_stats.ts";
import { cpuSeconds, killAll, killAllOnExit, setRunDirs, sleep } from "./procs.ts";
import { median } from "./report.ts";
import { runWrk } from "./wrk.ts";

const seconds = Number(process.argv[2] ?? "5");
const repeats = Number(process.argv[3] ?? "3");
const connections = Number(process.argv[4] ?? "16");
const builds = process.argv.slice(5).map((arg) => {
  const at = arg.indexOf("=");
  return { name: arg.slice(0, at), binary: arg.slice(at + 1) };
});
const modes = (process.env["API_AB_MODES"] ?? "plain,once,create").split(",");
const portBase = Number(process.env["API_AB_PORT_BASE"] ?? "26000");
if (builds.length === 0 || builds.some((b) => b.name === "" || b.binary === "")) {
  throw new Error("usage: bun bench/api_ab.ts [seconds] [repeats] [conns] name=binary [name=binary ...]");
}
const dir = process.env["API_AB_DIR"] ?? mkdtempSync("/tmp/hraftd-api-ab.");
mkdirSync(dir, { recursive: true });
setRunDirs(dir, `${dir}/pids`);
killAllOnExit();
console.log(`api_ab: ${dir}; ${seconds} s per run, ${repeats} repeats, ${connections} connections, modes ${modes.join(",")}; load ${loadAvg()}`);

const clusters = [];
for (const [k, b] of builds.entries()) {
  const base = portBase + 20 * k;
  const members: MemberSpec[] = [0, 1, 2].map((i) => ({ name: `${b.name}${i}`, clientPort: base + i, peerPort: base + 10 + i, dataDir: `${dir}/${b.name}/${i}` }));
  const c = new HraftdCluster(b.binary, members, b.name);
  await c.startAll();
  clusters.push({ name: b.name, c });
}

/** One run's figures: writes/s, CPU µs per write of the cluster and of each member's main thread. */
interface Run {
  readonly rate: number;
  readonly cpuUs: number;
  readonly mainUs: number[];
}
const runs = new Map<string, Run[]>();
let runNo = 0;
for (let rep = 0; rep < repeats; rep++) {
  const order = rep % 2 === 0 ? clusters : [...clusters].reverse();
  for (const { name, c } of order) {
    for (const mode of rep % 2 === 0 ? modes : [...modes].reverse()) {
      const leader = (await c.leader()) ?? 0;
      const pids = c.pids();
      const target = c.wrkPut(leader, `ab${runNo++}-${mode}`, "0123456789abcdef");
      const threads0 = pids.map((p) => threadsCpu(p));
      const cpu0 = pids.map((p) => cpuSeconds(p));
      const w = await runWrk({ ...target, args: [...target.args, mode] }, connections, seconds, `${name}-${mode}-r${rep}`);
      const cpu = pids.map((p, i) => cpuSeconds(p) - cpu0[i]!);
      const threads = pids.map((p, i) => threadCpuDelta(p, threads0[i]!, threadsCpu(p)));
      const perWrite = (s: number): number => (w.ok > 0 ? (s * 1e6) / w.ok : Number.NaN);
      const run: Run = {
        rate: w.okPerSec,
        cpuUs: perWrite(cpu.reduce((a, b) => a + b, 0)),
        mainUs: threads.map((t) => perWrite(t.find(([n]) => n === "main")?.[1] ?? 0)),
      };
      const key = `${name} ${mode}`;
      runs.set(key, [...(runs.get(key) ?? []), run]);
      console.log(`r${rep} ${key.padEnd(16)} ${run.rate.toFixed(0).padStart(6)}/s errors ${w.errors}, CPU ${run.cpuUs.toFixed(1)} µs/write; load ${loadAvg()}`);
      threads.forEach((t, i) => {
        const mark = i === leader ? " (leader)" : "";
        console.log(`    member ${i}${mark}: ${t.filter(([, s]) => perWrite(s) >= 0.5).map(([n, s]) => `${n} ${perWrite(s).toFixed(1)}`).join(", ")}`);
      });
      await sleep(300);
    }
  }
}

console.log(`\nmedians over ${repeats} repeats (µs per acknowledged write; load now ${loadAvg()}):`);
for (const { name, c } of clusters) {
  const leader = (await c.leader()) ?? 0;
  const plain = runs.get(`${name} plain`);
  for (const mode of modes) {
    const rs = runs.get(`${name} ${mode}`) ?? [];
    const rate = median(rs.map((r) => r.rate));
    const cpu = median(rs.map((r) => r.cpuUs));
    const mains = [0, 1, 2].map((i) => median(rs.map((r) => r.mainUs[i]!)).toFixed(1) + (i === leader ? "*" : ""));
    const vsPlain = plain === undefined || mode === "plain"
      ? ""
      : `, ${(rate / median(plain.map((r) => r.rate))).toFixed(2)}x plain's rate, CPU ${(cpu - median(plain.map((r) => r.cpuUs))).toFixed(1)} µs more`;
    console.log(`${name} ${mode.padEnd(7)} ${rate.toFixed(0).padStart(6)}/s, CPU ${cpu.toFixed(1)}, main threads ${mains.join(" / ")}${vsPlain}`);
  }
}
console.log("(* the leader at the end of the run)");
await Promise.all(clusters.map(({ c }) => c.stopAll()));
killAll();
