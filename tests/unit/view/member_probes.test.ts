// Goal (issue 17): a member silent for three rounds in a row (dead, or an older build that
// drops probes with a warning each) is asked only every fifth round until it answers again;
// it stays unreachable meanwhile, and is seen again once it answers.
// Method: MemberProbes (view/member_probes.ts) with a send the test answers or not, hand-moved time.

import { expect, test } from "bun:test";
import { MemberProbes, silentProbeEvery, silentRoundsMax } from "../../../view/member_probes.ts";
import type { MemberReport, ProbeMessage } from "../../../view/probe_message.ts";
import { ManualTime } from "./manual_time.ts";

const report = (id: string): MemberReport => ({ id, httpAddr: null, role: "follower", removed: false, term: 1, leader: null, commit: 1, applied: 1, lastIndex: 1, progress: null });

test("a member silent three rounds in a row is asked every fifth round, and seen again when it answers", async () => {
  const time = new ManualTime();
  const sent: { addr: string; msg: ProbeMessage }[] = [];
  const probes = new MemberProbes({ incarnation: "0123456789abcdef", send: (addr, msg) => (sent.push({ addr, msg }), true), timers: time, clock: time });
  const members = [{ id: "b", addr: "b:1" }, { id: "c", addr: "c:1" }];
  let isCSilent = true;
  const askedC: number[] = [];
  for (let round = 0; round < 20; round++) {
    if (round === 12) isCSilent = false;
    const done = probes.round(members);
    for (const { addr, msg } of sent.splice(0)) {
      if (addr === "c:1") askedC.push(round);
      if (addr === "c:1" && isCSilent) continue;
      probes.answered(addr, msg.reqId, report(addr[0]!));
    }
    time.advance(1_500);
    await done;
  }
  expect(silentRoundsMax).toBe(3);
  expect(silentProbeEvery).toBe(5);
  // Asked in rounds 0-2, then 5 and 10 while silent; answering from round 15 on, asked every round.
  expect(askedC).toEqual([0, 1, 2, 5, 10, 15, 16, 17, 18, 19]);
  expect(probes.known("c")!.isUnreachable).toBe(false);
  expect(probes.known("b")!.isUnreachable).toBe(false);
});
