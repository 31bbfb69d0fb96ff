// The headers of a versioned read's answer (content-type, ETag, X-Applied-Index), kept as
// Headers objects while the applied index stands still. A Response copies a Headers object in
// about the time it takes for one header, where the same three given as an object literal are
// converted one by one each time: measured in-process 0.54-0.70 µs per Response against
// 0.81-1.21, and under wrk (a bare Bun server, 64 connections) 10.2-11.3 µs of CPU per answer
// against 11.8-12.0. Reads between two applies ask for the same few versions again and again
// (every key a write batch set shares its version), so they share these; a write moves the
// applied index and the old entries are no longer used. Building a Headers object costs more
// than the literal (about 1 µs more per answer when every read missed), so a version is kept
// only when it is asked for a second time at the same applied index: a read between two writes
// of a busy cluster pays two comparisons over the literal, no more. Responses copy their
// headers (Fetch's "fill"), so a response whose headers are changed later (http/serve.ts's
// closing(), a cut blocking read's X-Wait-Max) changes no entry.

/** Slots of the table (a power of two): a version's slot is its low bits. */
const slots = 256;

/**
 * The answers' headers of the versions asked for lately: one slot per version's low bits,
 * holding a version, the applied index it was read at, and its kept init (null: asked for
 * once). A slot of another version or applied index is simply taken over, so nothing is ever
 * cleared and a miss costs two comparisons and three stores.
 */
export class ReadHeaders {
  readonly #versions = new Float64Array(slots).fill(-1);
  readonly #applied = new Float64Array(slots).fill(-1);
  readonly #inits: (ResponseInit | null)[] = new Array<ResponseInit | null>(slots).fill(null);
  /** Headers objects built so far (a test counts them). */
  built = 0;

  /** The init of a 200 answer for a value at `version`, read from the state at `applied`. */
  init(version: number, applied: number): ResponseInit {
    const slot = version & (slots - 1);
    if (this.#versions[slot] === version && this.#applied[slot] === applied) {
      const kept = this.#inits[slot]!;
      if (kept !== null) return kept;
      const init = { headers: new Headers(literal(version, applied)) };
      this.#inits[slot] = init;
      this.built++;
      return init;
    }
    this.#versions[slot] = version;
    this.#applied[slot] = applied;
    this.#inits[slot] = null;
    return { headers: literal(version, applied) };
  }
}

function literal(version: number, applied: number): Record<string, string> {
  return { "content-type": "application/json", etag: `"${version}"`, "x-applied-index": String(applied) };
}
