// The view the page draws, as GET /ui/state and each `view` event of GET /ui/events carry it
// (issue 17's contract between the server side and the page: every field always present,
// null where unknown). Types only, with no import: the page's script (app.js) checks itself
// against them (tsc -p ui), and the server's view (view/) builds its JSON with them.

/** One member as the answering node sees it (sorted by id in the view). */
export interface UiMember {
  readonly id: string;
  readonly raftAddr: string;
  readonly httpAddr: string | null;
  readonly suffrage: "voter" | "learner";
  readonly role: "leader" | "follower" | "candidate" | "precandidate" | "learner" | "removed" | "unreachable";
  readonly term: number | null;
  readonly commit: number | null;
  readonly applied: number | null;
  readonly lastIndex: number | null;
  /** The leader's last index minus the member's match index, as the leader sees it. */
  readonly lagEntries: number | null;
  /** Ms since the leader last heard from it (null for the leader itself, or unknown). */
  readonly lastContactMs: number | null;
}

/** One event of the answering node's timeline (oldest first, at most 200). */
export interface UiTimelineEvent {
  readonly at: number;
  readonly kind: "election" | "leaderChange" | "stepDown" | "membership" | "snapshotTaken" | "snapshotInstalled";
  readonly node: string;
  readonly term: number;
  readonly detail: string;
  readonly durationMs: number | null;
}

/** One second of the answering node's HTTP traffic. */
export interface UiRatePoint {
  readonly at: number;
  readonly writesPerS: number;
  readonly readsPerS: number;
  readonly writeP50Ms: number | null;
  readonly writeP99Ms: number | null;
  readonly readP50Ms: number | null;
  readonly readP99Ms: number | null;
}

/** One of the latest entries of the answering node's log (values only when asked for). */
export interface UiEntry {
  readonly index: number;
  readonly term: number;
  readonly kind: "normal" | "noop" | "config";
  readonly keys: readonly string[];
  readonly summary: string;
  /** With ?values=1 only: each key's value in this entry (null: the entry deletes it). */
  readonly values?: Readonly<Record<string, string | null>>;
}

/** The whole view. */
export interface UiView {
  readonly node: { readonly id: string; readonly httpAddr: string | null; readonly raftAddr: string };
  /** The answering node's wall-clock time, ms since the epoch. */
  readonly at: number;
  readonly leader: string | null;
  readonly term: number;
  readonly members: readonly UiMember[];
  readonly timeline: readonly UiTimelineEvent[];
  readonly rates: readonly UiRatePoint[];
  readonly entries: readonly UiEntry[];
}
