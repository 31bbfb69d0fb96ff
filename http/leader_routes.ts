// The leader routes of the operator's surface (issue 15). Registered by http/routes.ts after
// hraftd's routes; each route names the permission it needs with -auth (perm).
//   GET /leader   (status): the leader this node knows of: id, Raft address, and its HTTP
//                 address when this node is the leader (nodes learn each other's Raft
//                 addresses only, so a follower cannot say where the leader serves HTTP).
//   POST /leader  (remove: it changes who leads): the leader steps down, handing leadership to
//                 `{"id": …}` or, without a body or id, to the most caught-up voter; 200 once a
//                 new leader is known. Sent to a follower, it is forwarded to the leader.

import type { LeaderReport, StoreApi } from "../store/api.ts";
import { HttpError, jsonError } from "./errors.ts";
import type { OpsDeps } from "./ops_deps.ts";
import type { Route, RouteHandler } from "./routes.ts";
import { nodeIdProblem, readBody } from "./validate.ts";

const jsonHeaders: Readonly<Record<string, string>> = { "content-type": "application/json" };

/** The JSON of GET /leader (and of POST /leader's answer). */
function leaderBody(report: LeaderReport, ops: OpsDeps): Record<string, unknown> {
  return {
    id: report.id,
    address: report.raftAddr,
    ...(report.isSelf && ops.httpAddr !== undefined ? { httpAddress: ops.httpAddr } : {}),
    term: report.term,
    self: report.isSelf,
  };
}

/**
 * The target of a POST /leader body: none (empty body, `{}`, or `"id": null`) means the
 * most caught-up voter; otherwise a valid node id.
 */
async function transferTarget(request: Request, bodyBytesMax: number): Promise<string | null> {
  const bytes = await readBody(request, bodyBytesMax);
  let body: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (text.trim() === "") return null;
    body = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `POST /leader body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, `POST /leader body must be a JSON object such as {"id": "node2"}, or empty`);
  }
  const id = (body as Record<string, unknown>)["id"];
  if (id === undefined || id === null) return null;
  if (typeof id !== "string") throw new HttpError(400, `"id" must be a string (the node to hand leadership to)`);
  const problem = nodeIdProblem(id);
  if (problem !== null) throw new HttpError(400, `invalid "id": ${problem}`);
  return id;
}

function notAvailable(what: string): RouteHandler {
  return () => jsonError(501, `${what} is not available on this node`);
}

/** The leader routes. */
export function leaderRoutes(store: StoreApi, ops: OpsDeps, bodyBytesMax: number): readonly Route[] {
  const leader = store.leader?.bind(store);
  const transfer = store.transferLeadership?.bind(store);
  return [
    {
      methods: ["GET"],
      path: "/leader",
      perm: "status",
      handle: leader === undefined
        ? notAvailable("GET /leader")
        : () => new Response(JSON.stringify(leaderBody(leader(), ops)), { headers: jsonHeaders }),
    },
    {
      methods: ["POST"],
      path: "/leader",
      perm: "remove",
      handle: transfer === undefined ? notAvailable("POST /leader") : async (request, _query, caller) => {
        const id = await transferTarget(request, bodyBytesMax);
        const newLeader = await transfer(id, caller);
        // The report names whoever leads by now: normally the node just elected.
        let report: LeaderReport | null = null;
        try {
          report = leader?.() ?? null;
        } catch {
          // No leader known at this instant: answer with the id alone.
        }
        const body = report !== null && report.id === newLeader ? leaderBody(report, ops) : { id: newLeader };
        return new Response(JSON.stringify(body), { headers: jsonHeaders });
      },
    },
    { methods: ["ALL"], path: "/leader", handle: () => jsonError(405, "method not allowed", { headers: { allow: "GET, HEAD, POST" } }) },
  ];
}
