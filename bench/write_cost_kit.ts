// The JavaScript CPU of a write through a whole 3-node cluster, in one process, for one or more
// source trees side by side (issue 16: keyed writes within 10% of plain ones). Each tree's own
// cluster kit (tests/unit/store/cluster_kit.ts: the production Store, RaftNode, state machine
// and fetch handler, over memory storage and an in-memory wire) takes batches of concurrent
// POST /key requests at its leader, plain or each with its own Idempotency-Key.
//
//   bun bench/write_cost_kit.ts [repeats] [rounds] [batches] name=/path/to/tree ...
//   WRITE_COST_KIT_MODES=plain,once (the default), WRITE_COST_KIT_CONNS=64 (writes per batch)
//
// Why: on a shared 2-core machine the rates and CPU per write of real clusters (bench/api_ab.ts)
// swing by more than these changes move them; this leaves out the sockets, fsync and Bun's HTTP
// server and measures what the code itself costs all three members per write. Each repeat runs
// every tree in a process of its own (two trees in one process share its collector, which
// then bills one tree for the other's garbage), trees in an order that reverses every other
// repeat; in it, modes take turns for `rounds` rounds, the first a warm-up not counted, each
// `batches` batches: process CPU (all threads) per acknowledged write. The once-only table
// fills to its bound (100,000) within the first rounds, as in a long run.

import { median } from "./report.ts";

const [repeatsArg, roundsArg, batchesArg, ...treeArgs] = process.argv.slice(2);
const conns = Number(process.env["WRITE_COST_KIT_CONNS"] ?? "64");
const modes = (process.env["WRITE_COST_KIT_MODES"] ?? "plain,once").split(",");

type Fetch = (request: Request) => Response | Promise<Response>;
interface Kit {
  elect(id: string): void;
  tick(ids: readonly string[], n?: number): void;
  settle(): Promise<void>;
  proc(id: string): { store: unknown };
  close(): void;
}

/** `conns` writes at once through `fetch`, the cluster run until all are answered (200). */
async function batch(kit: Kit, fetch: Fetch, mode: string, first: number): Promise<void> {
  const answers: Promise<Response>[] = [];
  for (let i = 0; i < conns; i++) {
    const key = `w-${mode}-${first + i}`;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (mode === "once") headers["idempotency-key"] = key;
    if (mode === "create") headers["if-none-match"] = "*";
    answers.push(Promise.resolve(fetch(new Request("http://n/key", { method: "POST", headers, body: `{"${key}":"0123456789abcdef"}` }))));
  }
  let done = 0;
  for (const a of answers) void a.then(() => done++);
  for (let i = 0; i < 50 && done < conns; i++) await kit.settle();
  for (const a of answers) {
    const status = (await a).status;
    if (status !== 200) throw new Error(`a ${mode} write answered ${status}`);
  }
}

/** One tree's process: prints {mode: [µs per write of each counted round]} as JSON. */
async function child(root: string, rounds: number, batches: number): Promise<void> {
  const { Cluster } = (await import(`${root}/tests/unit/store/cluster_kit.ts`)) as { Cluster: new (ids: string[]) => Kit };
  const { createFetch } = (await import(`${root}/http/fast_fetch.ts`)) as { createFetch: (store: unknown) => Fetch };
  const kit = new Cluster(["a", "b", "c"]);
  kit.elect("a");
  kit.tick(["a"], 4);
  const fetch = createFetch(kit.proc("a").store);
  const runs: Record<string, number[]> = {};
  let written = 0;
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      const before = process.cpuUsage();
      for (let b = 0; b < batches; b++, written += conns) await batch(kit, fetch, mode, written);
      const cpu = process.cpuUsage(before);
      if (round > 0) (runs[mode] ??= []).push((cpu.user + cpu.system) / (batches * conns));
    }
  }
  kit.close();
  console.log(JSON.stringify(runs));
}

if (repeatsArg === "--child") {
  // bun bench/write_cost_kit.ts --child <root> <rounds> <batches>
  const [, root, rounds, batches] = process.argv.slice(2);
  await child(root!, Number(rounds), Number(batches));
} else {
  const repeats = Number(repeatsArg ?? "3");
  const rounds = Number(roundsArg ?? "5");
  const batches = Number(batchesArg ?? "300");
  const trees = treeArgs.map((arg) => ({ name: arg.slice(0, arg.indexOf("=")), root: arg.slice(arg.indexOf("=") + 1) }));
  if (trees.length === 0 || trees.some((t) => t.name === "" || t.root === "" || !Number.isFinite(repeats))) {
    throw new Error("usage: bun bench/write_cost_kit.ts [repeats] [rounds] [batches] name=/path/to/tree ...");
  }
  const all = new Map<string, number[]>();
  for (let rep = 0; rep < repeats; rep++) {
    for (const t of rep % 2 === 0 ? trees : [...trees].reverse()) {
      const out = Bun.spawnSync({ cmd: [process.execPath, import.meta.path, "--child", t.root, String(rounds), String(batches)], stderr: "inherit" });
      if (out.exitCode !== 0) throw new Error(`${t.name}: the child failed (exit ${out.exitCode})`);
      const runs = JSON.parse(out.stdout.toString().trim().split("\n").pop()!) as Record<string, number[]>;
      const shown = modes.map((m) => `${m} ${(runs[m] ?? []).map((us) => us.toFixed(1)).join(" ")}`).join(" | ");
      console.log(`repeat ${rep} ${t.name.padEnd(8)} ${shown} µs/write`);
      for (const m of modes) all.set(`${t.name} ${m}`, [...(all.get(`${t.name} ${m}`) ?? []), ...(runs[m] ?? [])]);
    }
  }
  console.log(`\nmedians (min) of all counted rounds, µs of process CPU per write (the whole 3-node cluster's JavaScript):`);
  for (const t of trees) {
    const plain = all.get(`${t.name} plain`);
    for (const m of modes) {
      const xs = all.get(`${t.name} ${m}`) ?? [];
      const more = plain === undefined || m === "plain" ? "" : `, ${(median(xs) - median(plain)).toFixed(1)} more than plain`;
      console.log(`${t.name} ${m.padEnd(6)} ${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)})${more}`);
    }
  }
}
