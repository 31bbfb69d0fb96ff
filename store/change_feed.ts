// The change feed (issue 16 item 5): every change the state machine applies to a key, with
// the log index of its entry, for watchers (GET /watch, Server-Sent Events) and blocking reads
// (GET /key/<k>?wait=&index=). The state machine calls record() from its single write and
// delete points (KvStateMachine #put and #remove), so every kind of entry that changes a key
// (plain, once-only, conditional, expiry, whatever comes next) is seen.
//
// Costs nothing while nobody watches: until the first watcher or blocking read arms it the
// state machine checks one boolean per change. Armed, it keeps the most recent changes, at
// most changeHistoryMax of them and changeHistoryCharsMax characters of keys and values, so a
// watcher that reconnects with Last-Event-ID is sent what it missed; a watcher asking from
// before that history is told it is gone (410). Once no one has watched for as long as the
// history reaches back, it disarms and drops the history: a client that left before could not
// resume anyway. The history is memory only: after a restart, or a snapshot installed from the
// leader (the state replaced whole), it starts again at the applied index of that moment.

/** One change: `key` set to `value` (null: deleted) by the entry at `index` (its version). */
export interface Change {
  readonly index: number;
  readonly key: string;
  readonly value: string | null;
}

/** Changes kept for watchers that reconnect. */
export const changeHistoryMax = 10_000;
/** Characters of keys and values the history keeps at most (16 Mi: 32 MiB of UTF-16). */
export const changeHistoryCharsMax = 16 * 1024 * 1024;

/** Told of every change recorded after it subscribed, and when the history is reset. */
export interface ChangeListener {
  onChange(change: Change): void;
  /** The state was replaced (a snapshot installed): changes may have been missed. */
  onReset(): void;
}

export class ChangeFeed {
  /** True while armed: the state machine records every change. */
  isRecording = false;
  /** Changes in index order: ring[head..] are kept, older ones are dropped. */
  #ring: Change[] = [];
  #head = 0;
  #chars = 0;
  /** Every change with an index above this is in the history (when recording). */
  #start = 0;
  readonly #listeners = new Set<ChangeListener>();
  /** The history's start when the last listener left; it disarms once the start passes it. */
  #idleFrom = 0;

  /** The index from which the history is complete (changes after it are all kept), or null when not recording. */
  get start(): number | null {
    return this.isRecording ? this.#start : null;
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Changes held (for tests and metrics). */
  get size(): number {
    return this.#ring.length - this.#head;
  }

  /** Starts recording, if it was not, with the history beginning after `applied` (the state's applied index now). */
  arm(applied: number): void {
    if (this.isRecording) return;
    this.isRecording = true;
    this.#start = applied;
    this.#idleFrom = applied;
  }

  /** Called by the state machine for each change while recording, in apply order. */
  record(index: number, key: string, value: string | null): void {
    const change: Change = { index, key, value };
    this.#ring.push(change);
    this.#chars += key.length + (value?.length ?? 0);
    for (const listener of this.#listeners) {
      // Called inside apply: a watcher's failure must never reach the state machine.
      try {
        listener.onChange(change);
      } catch {
        this.#listeners.delete(listener);
      }
    }
    this.#trim();
  }

  /**
   * The state was replaced whole (a restore): the history no longer describes how it got
   * here. Recording stops; listeners are told (a watcher's stream ends, its client resumes
   * and is told the history is gone; a blocking read answers now).
   */
  reset(): void {
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    this.#disarm();
    for (const listener of listeners) listener.onReset();
  }

  /**
   * The changes after `after` with a key starting with `prefix`, or null if the history does
   * not reach back that far (changes after `after` may have been dropped). Recording must be on.
   */
  since(after: number, prefix: string): Change[] | null {
    if (!this.isRecording || after < this.#start) return null;
    const out: Change[] = [];
    const ring = this.#ring;
    for (let i = this.#head; i < ring.length; i++) {
      const change = ring[i]!;
      if (change.index > after && change.key.startsWith(prefix)) out.push(change);
    }
    return out;
  }

  subscribe(listener: ChangeListener): void {
    this.#listeners.add(listener);
  }

  unsubscribe(listener: ChangeListener): void {
    if (!this.#listeners.delete(listener)) return;
    if (this.#listeners.size === 0) this.#idleFrom = this.#lastIndex();
  }

  #lastIndex(): number {
    return this.#ring.length > this.#head ? this.#ring[this.#ring.length - 1]!.index : this.#start;
  }

  /** Drops the oldest changes past the bounds; disarms once unwatched for a whole history. */
  #trim(): void {
    const ring = this.#ring;
    while (this.#head < ring.length && (ring.length - this.#head > changeHistoryMax || this.#chars > changeHistoryCharsMax)) {
      const dropped = ring[this.#head++]!;
      this.#chars -= dropped.key.length + (dropped.value?.length ?? 0);
      // Every change up to the dropped one's index is no longer known to be complete.
      this.#start = dropped.index;
    }
    // Changes of one entry share its index: the start may cut through an entry; since() then
    // refuses a resume inside it rather than send half of it.
    if (this.#head > 1024 && this.#head * 2 > ring.length) {
      this.#ring = ring.slice(this.#head);
      this.#head = 0;
    }
    if (this.#listeners.size === 0 && this.#start > this.#idleFrom) this.#disarm();
  }

  #disarm(): void {
    this.isRecording = false;
    this.#ring = [];
    this.#head = 0;
    this.#chars = 0;
    this.#start = 0;
    this.#idleFrom = 0;
  }
}
