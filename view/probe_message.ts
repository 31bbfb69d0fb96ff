// The cluster view's exchange over the Raft transport: a node showing the view asks every
// member for its own status (a probe), and each answers with its role, term and indexes; the
// leader adds what it knows of each follower's replication (match index, last contact).
//
// Store payloads with tags of their own (2: probe, 3: its answer). A build that predates them
// reads them as malformed store messages and drops them (store/forward.ts parseStoreMessage
// takes only tags 0 and 1), so an older member simply never answers and is shown unreachable.
// A probe id is `<incarnation>.<n>`, as every request id: an answer meant for a previous life
// of the asking process is never taken, and answers count only from the address asked.

import type { Role } from "../raft/core/mod.ts";

export const probeTag = 2;
export const probeAnswerTag = 3;

export interface Probe {
  readonly type: "probe";
  readonly reqId: string;
}

/** What the leader knows of one follower's replication. */
export interface FollowerProgress {
  readonly id: string;
  /** Highest index the follower acknowledged holding, as the leader saw it. */
  readonly match: number | null;
  /** Ms since the leader last heard from it; null if not heard since the leader began to track. */
  readonly lastContactMs: number | null;
}

/** One member's own account of itself. */
export interface MemberReport {
  readonly id: string;
  /** Its -haddr, for the page to reconnect to it. */
  readonly httpAddr: string | null;
  readonly role: Role;
  readonly removed: boolean;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /** From a leader only: its followers' progress. */
  readonly progress: readonly FollowerProgress[] | null;
}

export interface ProbeAnswer {
  readonly type: "probeAnswer";
  readonly reqId: string;
  readonly report: MemberReport;
}

export type ProbeMessage = Probe | ProbeAnswer;

const roles: ReadonlySet<string> = new Set<Role>(["follower", "precandidate", "candidate", "leader"]);
const textCharsMax = 1024;
const progressMax = 1024;

export function probeMessageValue(m: ProbeMessage): unknown[] {
  if (m.type === "probe") return [probeTag, m.reqId];
  const r = m.report;
  const progress = r.progress === null ? null : r.progress.flatMap((p) => [p.id, p.match, p.lastContactMs]);
  return [probeAnswerTag, m.reqId, [r.id, r.httpAddr, r.role, r.removed, r.term, r.leader, r.commit, r.applied, r.lastIndex, progress]];
}

/** A probe or an answer, or null if `v` is neither (another store message, or malformed). */
export function parseProbeMessage(v: unknown): ProbeMessage | null {
  if (!Array.isArray(v) || !isText(v[1])) return null;
  if (v[0] === probeTag) return v.length === 2 ? { type: "probe", reqId: v[1] } : null;
  if (v[0] !== probeAnswerTag || v.length !== 3 || !Array.isArray(v[2])) return null;
  const report = parseReport(v[2] as unknown[]);
  return report === null ? null : { type: "probeAnswer", reqId: v[1], report };
}

/** Whether `v` carries one of the probe tags (then it is the view's, malformed or not). */
export function isProbeValue(v: unknown): boolean {
  return Array.isArray(v) && (v[0] === probeTag || v[0] === probeAnswerTag);
}

function parseReport(a: unknown[]): MemberReport | null {
  if (a.length !== 10) return null;
  const [id, httpAddr, role, removed, term, leader, commit, applied, lastIndex, progress] = a;
  if (!isText(id) || !(httpAddr === null || isText(httpAddr)) || typeof role !== "string" || !roles.has(role)) return null;
  if (typeof removed !== "boolean" || !isIndex(term) || !(leader === null || isText(leader))) return null;
  if (!isIndex(commit) || !isIndex(applied) || !isIndex(lastIndex)) return null;
  let parsed: FollowerProgress[] | null = null;
  if (progress !== null) {
    if (!Array.isArray(progress) || progress.length % 3 !== 0 || progress.length > 3 * progressMax) return null;
    parsed = [];
    for (let i = 0; i < progress.length; i += 3) {
      const [pid, match, contact] = [progress[i], progress[i + 1], progress[i + 2]];
      if (!isText(pid) || !(match === null || isIndex(match)) || !(contact === null || isIndex(contact))) return null;
      parsed.push({ id: pid, match, lastContactMs: contact });
    }
  }
  return { id, httpAddr, role: role as Role, removed, term, leader, commit, applied, lastIndex, progress: parsed };
}

function isText(x: unknown): x is string {
  return typeof x === "string" && x.length > 0 && x.length <= textCharsMax;
}

function isIndex(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}
