// The backup routes of the operator's surface (issue 15). Registered by http/routes.ts after
// hraftd's routes; each route names the permission it needs with -auth (perm).
// - GET /backup: the whole state at a linearizable point (a ReadIndex round, then the map
//   captured copy-on-write at an applied index at least the read index), in the backup format
//   of store/backup.ts, for -restore. `?format=json`: the same state as a JSON document.
//   Headers X-Raft-Index and X-Raft-Term name the state's last applied entry. The body is a
//   ReadableStream that encodes one record per pull, so a slow client slows the encoding
//   (back-pressure) and the file is never whole in memory; writes go on meanwhile.
// Permission "read": a backup discloses every value, as reading each key would.

import { backupJsonPieces, backupPieces } from "../store/backup.ts";
import type { BackupState, StoreApi } from "../store/api.ts";
import { HttpError, jsonError } from "./errors.ts";
import type { OpsDeps } from "./ops_deps.ts";
import type { Route } from "./routes.ts";

/** The backup routes. */
export function backupRoutes(store: StoreApi, _ops: OpsDeps, _bodyBytesMax: number): readonly Route[] {
  return [
    {
      methods: ["GET"],
      path: "/backup",
      query: "format",
      perm: "read",
      handle: async (_request, format) => {
        const isJson = parseFormat(format);
        if (store.backup === undefined) return jsonError(501, "this store cannot take backups");
        const state = await store.backup();
        return backupResponse(state, isJson);
      },
    },
    { methods: ["ALL"], path: "/backup", handle: () => jsonError(405, "method not allowed", { headers: { allow: "GET, HEAD" } }) },
  ];
}

/** `?format=`: absent or "binary" for the restorable file, "json" for people. */
function parseFormat(format: string | undefined): boolean {
  if (format === undefined || format === "" || format === "binary") return false;
  if (format === "json") return true;
  throw new HttpError(400, `invalid format ${JSON.stringify(format)}: use format=json, or none for the restorable backup`);
}

/** The response streaming `state`; the capture is released when the stream ends, fails or is cancelled. */
export function backupResponse(state: BackupState, isJson: boolean): Response {
  const pieces = isJson ? backupJsonPieces(state) : backupPieces(state);
  const stream = new ReadableStream<Uint8Array>(
    {
      // Called only when the consumer wants more (highWaterMark 0): one record per call.
      pull(controller) {
        let next: IteratorResult<Uint8Array, void>;
        try {
          next = pieces.next();
        } catch (e) {
          state.release();
          controller.error(e);
          return;
        }
        if (next.done === true) {
          state.release();
          controller.close();
          return;
        }
        controller.enqueue(next.value);
      },
      cancel() {
        state.release();
      },
    },
    { highWaterMark: 0 },
  );
  const name = `hraftd-backup-${state.index}.${isJson ? "json" : "bak"}`;
  return new Response(stream, {
    headers: {
      "content-type": isJson ? "application/json" : "application/octet-stream",
      "content-disposition": `attachment; filename="${name}"`,
      "x-raft-index": String(state.index),
      "x-raft-term": String(state.term),
      "cache-control": "no-store",
    },
  });
}
