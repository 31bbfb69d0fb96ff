// A driver is one way of putting load on a cluster, under the label its rows carry: wrk
// through the cluster's HTTP API (ours; etcd's JSON gateway), or bench/etcd_load through
// etcd's native gRPC API ("etcd-native"). Two drivers may share one cluster: the gateway and
// native peers measure the same etcd processes, each in its own turn.

import { type Cluster, type EtcdCluster, type ReadKind } from "./clusters.ts";
import { runNative } from "./etcd_native.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export interface Driver {
  readonly label: string;
  readonly cluster: Cluster;
  /** Unique-key writes of `value` at member `at`, `conns` requests in flight. */
  put(at: number, prefix: string, value: string, conns: number, seconds: number, name: string): Promise<WrkResult>;
  /** Reads of random keys `${prefix}${0..count-1}` at member `at`. */
  get(at: number, kind: ReadKind, prefix: string, count: number, conns: number, seconds: number, name: string): Promise<WrkResult>;
}

/** The label of etcd driven through its native gRPC API. */
export const nativeLabel = "etcd-native";

/** wrk with the cluster's own Lua scripts; the driver's label is the cluster's. */
export function wrkDriver(c: Cluster): Driver {
  return {
    label: c.label,
    cluster: c,
    put: (at, prefix, value, conns, seconds, name) => runWrk(c.wrkPut(at, prefix, value), conns, seconds, name),
    get: (at, kind, prefix, count, conns, seconds, name) => runWrk(c.wrkGet(at, kind, prefix, count), conns, seconds, name),
  };
}

/**
 * etcd through bench/etcd_load (`binary`): as many workers as wrk has connections, sharing
 * `connections` gRPC connections. Keys are `${prefix}-<worker>-<n>` like wrk's
 * `${prefix}-<thread>-<n>`, and the value is as long as wrk's, so both peers write the same sizes.
 */
export function nativeDriver(c: EtcdCluster, binary: string, connections: number): Driver {
  const endpoint = (at: number): string => `127.0.0.1:${c.members[at]!.clientPort}`;
  return {
    label: nativeLabel,
    cluster: c,
    put: (at, prefix, value, conns, seconds, name) =>
      runNative(binary, endpoint(at), { op: "put", prefix, valueBytes: Buffer.byteLength(value) }, conns, connections, seconds, name),
    get: (at, kind, prefix, count, conns, seconds, name) =>
      runNative(binary, endpoint(at), { op: "get", prefix, keys: count, kind }, conns, connections, seconds, name),
  };
}

/** Clusters become their wrk drivers; drivers pass through. */
export function asDriver(x: Cluster | Driver): Driver {
  return "put" in x ? x : wrkDriver(x);
}
