// Goal: a first end-to-end check of the core through the in-memory network: a 3-node
// cluster elects a leader, replicates and commits proposals, and a single node elects itself.
import { describe, expect, test } from "bun:test";
import { bytes, Net } from "./core_net.ts";

describe("core smoke", () => {
  test("three nodes elect one leader and commit proposals everywhere", () => {
    const net = Net.cluster(["a", "b", "c"]);
    net.elect("a");
    expect(net.core("a").status().role).toBe("leader");
    for (let i = 0; i < 5; i++) expect(net.core("a").propose(bytes(`v${i}`)).ok).toBe(true);
    net.settle();
    net.tickAll(2);
    for (const id of ["a", "b", "c"]) {
      expect(net.appliedData(id)).toEqual(["v0", "v1", "v2", "v3", "v4"]);
    }
  });

  test("a single voter elects itself on its first tick", () => {
    const net = Net.cluster(["solo"]);
    net.tick("solo");
    expect(net.core("solo").status().role).toBe("leader");
    expect(net.core("solo").propose(bytes("x")).ok).toBe(true);
    net.settle();
    expect(net.appliedData("solo")).toEqual(["x"]);
  });
});
