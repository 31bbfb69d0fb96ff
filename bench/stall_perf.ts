// What a member's main thread ran inside its longest stalls, from `perf record` (kernel and
// native frames, which the JavaScript sampler of bench/stall_probe.ts cannot see).
//
//   bun bench/stall_perf.ts <member dir from bench/stall_snapshot.ts STALL_PERF=1> [min ms, default 20] [phase]
//
// For each stall in probe.jsonl of at least `min ms` of the thread's own time (on a CPU plus
// blocked), the perf samples stamped inside it are grouped by where they ran: the leaf's
// kernel symbol if any, "[JIT]" for JavaScript, "[bun native]" for Bun's own code (its symbols
// do not resolve here), and each group's count is printed with the kernel frames under it.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { JitNames } from "./jit_names.ts";

interface Stall {
  readonly end: number;
  readonly gapMs: number;
  readonly cpuMs: number;
  readonly blockedMs: number;
}

interface Sample {
  readonly at: number;
  readonly tid: number;
  readonly comm: string;
  readonly frames: readonly { ip: string; sym: string; dso: string }[];
}

const [dir, minArg, phaseName] = process.argv.slice(2);
if (dir === undefined) throw new Error("usage: bun bench/stall_perf.ts <member dir> [min ms] [phase]");
const minMs = Number(minArg ?? "20");

const stalls: Stall[] = readFileSync(join(dir, "probe.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l) as Stall)
  .filter((s) => s.cpuMs + s.blockedMs >= minMs);

let window: { start: number; end: number } | null = null;
if (phaseName !== undefined) {
  const phases = JSON.parse(readFileSync(join(dir, "phases.json"), "utf8")) as { name: string; start: number; end: number }[];
  const ph = phases.find((p) => p.name === phaseName);
  if (ph === undefined) throw new Error(`no phase ${phaseName}`);
  window = ph;
}

// JavaScript by name where the member wrote its JIT's code loads (stall_snapshot.ts
// STALL_JIT_NAMES=1): each stall's JIT frames named as the code was at the stall's end.
const jitDump = readdirSync(dir).find((f) => /^jit-\d+-\d+\.dump$/.test(f));
const jit = jitDump === undefined ? null : new JitNames(join(dir, jitDump));
if (jit !== null) console.log(`${jitDump}: ${jit.loads} JIT code loads of pid ${jit.pid}`);

const script = Bun.spawnSync({ cmd: ["perf", "script", "-i", join(dir, "perf.data"), "-F", "comm,tid,time,ip,sym,dso"], stdout: "pipe", stderr: "ignore" });
const all: Sample[] = [];
let current: { at: number; tid: number; comm: string; frames: { ip: string; sym: string; dso: string }[] } | null = null;
for (const line of script.stdout.toString().split("\n")) {
  const head = /^\s*(\S.*?)\s+(\d+)\s+(\d+\.\d+):\s*$/.exec(line);
  if (head !== null) {
    current = { comm: head[1]!, tid: Number(head[2]), at: Number(head[3]) * 1000, frames: [] };
    all.push(current);
    continue;
  }
  const frame = /^\s+([0-9a-f]+) (.*) \((.*)\)\s*$/.exec(line);
  if (frame !== null && current !== null) current.frames.push({ ip: frame[1]!, sym: frame[2]!, dso: frame[3]! });
}

function where(s: Sample, jitName: ((address: bigint) => string | null) | null = null): string {
  const leaf = s.frames[0];
  if (leaf === undefined) return "[no stack]";
  if (leaf.dso.includes("kernel")) {
    // The first frames that name what the kernel was asked (a system call or a fault).
    const entry = s.frames.findIndex((f) => /^(do_syscall_64|asm_exc_page_fault|exc_page_fault)$/.test(f.sym));
    const above = entry > 0 ? s.frames[entry - 1]!.sym : "";
    const caller = jsCaller(s, jitName);
    return `kernel ${leaf.sym}${above !== "" ? ` <- ${above}` : ""}${caller !== null ? ` under ${caller}` : ""}`;
  }
  const named = jitName?.(BigInt(`0x${leaf.ip}`)) ?? null;
  if (named !== null) return `[JIT] ${named}`;
  if (leaf.dso.includes("JIT") || leaf.dso === "[unknown]") return "[JIT or unknown]";
  if (leaf.dso.includes("bun")) {
    // Bun's own code has no symbols here: name the JavaScript that called into it, if any.
    const caller = jsCaller(s, jitName);
    return caller !== null ? `[bun native] under ${caller}` : "[bun native]";
  }
  return `${leaf.dso.split("/").pop()} ${leaf.sym}`;
}

/**
 * The JavaScript a sample's leaf was called from: the first frame up the stack that names a
 * JIT function (frame-pointer stacks reach through JSC's frames), or null where none does.
 */
function jsCaller(s: Sample, jitName: ((address: bigint) => string | null) | null): string | null {
  if (jitName === null) return null;
  for (const f of s.frames.slice(1)) {
    if (f.dso.includes("kernel")) continue;
    const caller = jitName(BigInt(`0x${f.ip}`));
    // A thunk (JSC's glue between calls) names nothing; the function that went through it does.
    if (caller !== null && !caller.includes("Thunk")) return caller;
  }
  return null;
}

// The main thread's tid is the process id: the lowest tid recorded.
const mainTid = Math.min(...all.map((s) => s.tid));
const samples = all.filter((s) => s.tid === mainTid).sort((a, b) => a.at - b.at);
const others = all.filter((s) => s.tid !== mainTid);
const inWindow = stalls.filter((s) => window === null || (s.end > window.start && s.end <= window.end));
inWindow.sort((a, b) => b.cpuMs + b.blockedMs - (a.cpuMs + a.blockedMs));
console.log(`${dir}: ${inWindow.length} stalls of ${minMs} ms or more${phaseName ? ` in ${phaseName}` : ""}, ${samples.length} perf samples of the main thread, ${others.length} of others`);
const total = new Map<string, number>();
for (const st of inWindow.slice(0, 15)) {
  const from = st.end - st.gapMs;
  const inside = samples.filter((s) => s.at >= from && s.at <= st.end);
  const groups = new Map<string, number>();
  const jitName = jit?.at(st.end) ?? null;
  for (const s of inside) {
    const w = where(s, jitName);
    groups.set(w, (groups.get(w) ?? 0) + 1);
    total.set(w, (total.get(w) ?? 0) + 1);
  }
  const top = [...groups].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([w, n]) => `${n} ${w}`).join("; ");
  console.log(`  ${new Date(st.end).toISOString().slice(11, 23)} ${st.gapMs.toFixed(0)} ms (cpu ${st.cpuMs.toFixed(0)}, blocked ${st.blockedMs.toFixed(0)}): ${inside.length} samples: ${top}`);
  // Other threads on a CPU meanwhile (recorded with STALL_PERF_THREADS=1): whose work it waited on.
  const busy = new Map<string, number>();
  for (const s of others) if (s.at >= from && s.at <= st.end) busy.set(`${s.comm} ${where(s)}`, (busy.get(`${s.comm} ${where(s)}`) ?? 0) + 1);
  if (busy.size > 0) console.log(`      other threads: ${[...busy].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([w, n]) => `${n} ${w}`).join("; ")}`);
}
console.log("  all of those stalls:", [...total].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([w, n]) => `${n} ${w}`).join("; "));
