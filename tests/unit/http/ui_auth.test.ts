// Goal (issue 17): with -auth, the cluster page and its data need the status permission (as
// GET /leader does), the newest entries' values need read as well, and no CORS header is sent
// (a page whose node died then navigates to another member's /ui instead of reading its
// stream from this origin); without -auth, the state answers any origin.
// Method: createFetch over a store that is never called and a real ClusterView on a fake
// status, with the real Authenticator and the page's real files.

import { expect, test } from "bun:test";
import { createFetch } from "../../../http/fast_fetch.ts";
import { nodeId, type RaftStatus } from "../../../raft/core/mod.ts";
import { Authenticator } from "../../../security/authenticator.ts";
import { allPerms, permissionBits } from "../../../security/permissions.ts";
import type { StoreApi } from "../../../store/api.ts";
import { encodeCommand } from "../../../store/commands.ts";
import { uiAssets } from "../../../ui/assets.ts";
import { ClusterView } from "../../../view/cluster_view.ts";
import { FollowerTracker } from "../../../view/follower_tracker.ts";
import { Timeline } from "../../../view/timeline.ts";
import { ManualTime } from "../view/manual_time.ts";

function view(): ClusterView {
  const time = new ManualTime();
  const members = [{ id: nodeId("a"), addr: "a:12000", suffrage: "voter" as const }];
  const status = { id: nodeId("a"), role: "leader", term: 2, leader: nodeId("a"), votedFor: null, commitIndex: 3, lastApplied: 3, lastLogIndex: 3, lastLogTerm: 2, snapshotIndex: 0, members, removed: false } as unknown as RaftStatus;
  return new ClusterView({
    id: "a", raftAddr: "a:12000", httpAddr: "a:11000", incarnation: "0123456789abcdef", status: () => status,
    entries: () => [{ index: 3, term: 2, kind: "normal", data: encodeCommand({ type: "set", pairs: [["secret", "hunter2"]] }) }] as never,
    send: () => true, timeline: new Timeline(), tracker: new FollowerTracker(time, time), writes: () => [], reads: () => [],
    timers: time, clock: time, wallClock: time, scheduler: time,
  });
}

const store = new Proxy({}, { get: () => () => { throw new Error("the store is never called for /ui"); } }) as unknown as StoreApi;
const hashOf = (pw: string): string => Bun.password.hashSync(pw, { algorithm: "bcrypt", cost: 4 });
const basic = (user: string): string => `Basic ${Buffer.from(`${user}:${user}-pw`).toString("base64")}`;

test("with -auth: status to see the page and the state, read too for values, no CORS", async () => {
  const users = new Map(
    [["status", permissionBits.status], ["reader", permissionBits.status | permissionBits.read], ["root", allPerms]].map(([n, perms]) => [
      n as string,
      { username: n as string, passwordHash: hashOf(`${n}-pw`), perms: perms as number },
    ]),
  );
  const auth = new Authenticator({ users, anonymousPerms: 0 }, { verify: async (pw, hash) => Bun.password.verifySync(pw, hash) });
  const fetch = createFetch(store, { ops: { ui: { view: view(), assets: uiAssets } }, auth });
  const get = (path: string, user?: string): Promise<Response> =>
    Promise.resolve(fetch(new Request(`http://x${path}`, user === undefined ? {} : { headers: { authorization: basic(user) } })));
  expect((await get("/ui")).status).toBe(401);
  expect((await get("/ui/state")).status).toBe(401);
  expect((await get("/ui/events")).status).toBe(401);
  const page = await get("/ui", "status");
  expect(page.status).toBe(200);
  const state = await get("/ui/state", "status");
  expect(state.status).toBe(200);
  expect(state.headers.get("access-control-allow-origin")).toBeNull();
  const body = await state.text();
  expect(body).toContain('"keys":["secret"]');
  expect(body).not.toContain("hunter2");
  const refused = await get("/ui/state?values=1", "status");
  expect(refused.status).toBe(403);
  expect(((await refused.json()) as { error: string }).error).toContain("read");
  const shown = await get("/ui/state?values=1", "reader");
  expect(shown.status).toBe(200);
  expect(await shown.text()).toContain('"values":{"secret":"hunter2"}');
});

test("without -auth: the state answers any origin, values on ask", async () => {
  const fetch = createFetch(store, { ops: { ui: { view: view(), assets: uiAssets } } });
  const state = await fetch(new Request("http://x/ui/state"));
  expect(state.headers.get("access-control-allow-origin")).toBe("*");
  expect(await state.text()).not.toContain("hunter2");
  expect(await (await fetch(new Request("http://x/ui/state?values=1"))).text()).toContain("hunter2");
  // Without the view wired (a store alone), no /ui routes.
  expect((await createFetch(store)(new Request("http://x/ui/state"))).status).toBe(404);
});
