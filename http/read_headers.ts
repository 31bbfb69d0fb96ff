// The headers of a versioned read's answer (content-type, ETag, X-Applied-Index), kept as
// Headers objects while the applied index stands still. A Response copies a Headers object in
// about the time it takes for one header, where the same three given as an object literal are
// converted one by one each time: measured in-process 0.54-0.70 µs per Response against
// 0.81-1.21, and under wrk (a bare Bun server, 64 connections) 10.2-11.3 µs of CPU per answer
// against 11.8-12.0. Reads between two applies ask for the same few versions again and again
// (every key a write batch set shares its version), so they share these; a write moves the
// applied index and the table starts afresh. Responses copy their headers (Fetch's "fill"),
// so a response whose headers are changed later (http/serve.ts's closing()) changes no entry.

/** Versions kept per applied index at most; past it the table starts afresh. */
const versionsMax = 256;

/** The answers' headers by version, for one applied index. */
export class ReadHeaders {
  #applied = -1;
  readonly #byVersion = new Map<number, ResponseInit>();
  /** Headers objects built so far (a test counts them). */
  built = 0;

  /** The init of a 200 answer for a value at `version`, read from the state at `applied`. */
  init(version: number, applied: number): ResponseInit {
    const table = this.#byVersion;
    if (applied !== this.#applied || table.size >= versionsMax) {
      table.clear();
      this.#applied = applied;
    }
    let init = table.get(version);
    if (init === undefined) {
      init = { headers: new Headers({ "content-type": "application/json", etag: `"${version}"`, "x-applied-index": String(applied) }) };
      table.set(version, init);
      this.built++;
    }
    return init;
  }
}
