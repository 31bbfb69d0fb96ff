// Goal: measure (report only, never fail on a timing) how many 1 KB messages per second
// two TCP transports in one process exchange over loopback. Method: keep a window of
// messages in flight, sending in bursts per event-loop turn, and time N deliveries.
// Skipped unless TRANSPORT_BENCH=1; TRANSPORT_BENCH_MESSAGES sets N (default 200000).

import { describe, expect, test } from "bun:test";
import { decode, encode } from "cbor-x";
import { transportImplementations } from "./implementations.ts";

interface BenchMsg {
  readonly seq: number;
  readonly body: Uint8Array;
}

const isEnabled = process.env.TRANSPORT_BENCH === "1";

for (const { name, create } of transportImplementations) describe(`on ${name}`, () => {
  test.skipIf(!isEnabled)("throughput of 1 KB messages over loopback", async () => {
    const total = Number(process.env.TRANSPORT_BENCH_MESSAGES ?? 200_000);
    const windowMessages = 4000;
    const burstMessages = 500;
    let received = 0;
    let isOrdered = true;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    const common = {
      encode: (m: BenchMsg) => encode(m),
      decode: (b: Uint8Array) => decode(b) as BenchMsg,
    };
    const receiver = create<BenchMsg>({
      ...common,
      listenAddr: "127.0.0.1:0",
      onMessage: (msg) => {
        if (msg.seq !== received) isOrdered = false;
        received += 1;
        if (received === total) done();
      },
    });
    const sender = create<BenchMsg>({
      ...common,
      listenAddr: "127.0.0.1:0",
      onMessage: () => {},
    });
    await receiver.listen();
    await sender.listen();
    const to = receiver.address();
    const body = new Uint8Array(1024).fill(7);
    const started = performance.now();
    let seq = 0;
    while (seq < total) {
      const burstEnd = Math.min(total, seq + burstMessages, received + windowMessages);
      for (; seq < burstEnd; seq++) {
        if (!sender.send(to, { seq, body })) throw new Error(`dropped message ${seq}`);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await finished;
    const seconds = (performance.now() - started) / 1000;
    const stats = sender.peerStats(to)!;
    console.log(
      `transport throughput: ${total} x 1 KB in ${seconds.toFixed(2)} s = ` +
        `${Math.round(total / seconds)} msg/s (${
          ((total * 1024) / seconds / 2 ** 20).toFixed(0)
        } MiB/s), ` +
        `${stats.socketWrites} socket writes`,
    );
    expect(isOrdered).toBe(true);
    await sender.close();
    await receiver.close();
  }, 120_000);
});
