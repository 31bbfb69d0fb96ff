// Goal: a follower accepts a ReadIndexReply only from the leader it follows, in its current
// term, and only for a context it has outstanding (thesis §6.4: the read index must come from
// the leader). Method: three cores on the synchronous network of core_net.ts.

import { expect, test } from "bun:test";
import type { ReadIndexReply } from "../../../raft/core/mod.ts";
import { bytes, Net } from "./core_net.ts";

function elected(): Net {
  const net = Net.cluster(["a", "b", "c"]);
  net.elect("a");
  net.tickAll(2);
  net.core("a").propose(bytes("x"));
  net.settle();
  return net;
}

function reply(from: string, term: number, ctx: string, readIndex: number): ReadIndexReply {
  return { type: "ReadIndexReply", from, to: "b", term, ctxs: [ctx], readIndex };
}

test("a ReadIndexReply from a node other than the leader is ignored", () => {
  const net = elected();
  net.cut.add("b>a"); // the request stays outstanding
  net.core("b").readIndex("ctx-1");
  net.settle();
  const term = net.core("b").status().term;
  net.core("b").step(reply("c", term, "ctx-1", 1));
  net.settle();
  expect(net.reads.get("b")).toEqual([]);
  net.core("b").step(reply("a", term, "ctx-1", 2));
  net.settle();
  expect(net.reads.get("b")).toEqual([{ ctx: "ctx-1", readIndex: 2 }]);
});

test("a ReadIndexReply for a context not outstanding is ignored", () => {
  const net = elected();
  const term = net.core("b").status().term;
  net.core("b").step(reply("a", term, "never-asked", 1));
  net.settle();
  expect(net.reads.get("b")).toEqual([]);
});
