// Goal: hraftd's command line behaves exactly as Go's `flag` package would parse it.
// Method: feed argument lists to parseFlags and compare the outcome (config, or the text and
// exit code main would produce) with what Go prints for the same input.

import { describe, expect, test } from "bun:test";
import {
  type Config,
  type FlagOutcome,
  flagSpecs,
  parseFlags,
  snapshotIntervalTicks,
  timingTicks,
  usageHeader,
  usageText,
} from "../../flags.ts";
import { formatDurationMs, parseDurationMs, parseGoInt } from "../../go_values.ts";

const version = "hraftd test-version";
import { joinPasswordEnv, noSecurity } from "../../security/security_flags.ts";

function run(...args: string[]): Config {
  const out = parseFlags(args, version);
  if (out.kind !== "run") throw new Error(`expected a config, got exit ${out.code}: ${out.stderr}`);
  return out.config;
}

function exit(...args: string[]): Extract<FlagOutcome, { kind: "exit" }> {
  const out = parseFlags(args, version);
  if (out.kind !== "exit") throw new Error(`expected an exit, got ${JSON.stringify(out.config)}`);
  return out;
}

/** An error as Go reports it: the message, then the whole usage, on stderr, exit 2. */
function expectUsageError(args: string[], message: string): void {
  const out = exit(...args);
  expect(out.code).toBe(2);
  expect(out.stdout).toBe("");
  expect(out.stderr).toBe(`${message}\n${usageText()}`);
}

describe("defaults", () => {
  test("hraftd's five flags and ours take their documented defaults", () => {
    const c = run("/data");
    expect(c).toEqual({
      httpAddr: "localhost:11000",
      raftAddr: "localhost:12000",
      joinAddr: "",
      joinTimeoutMs: 30_000,
      nodeId: "localhost:12000",
      inmem: false,
      dataDir: "/data",
      heartbeatMs: 100,
      electionTimeoutMs: 500,
      tickMs: 10,
      snapshotThresholdEntries: 8192,
      snapshotTrailingEntries: 10240,
      snapshotIntervalMs: 120_000,
      bodyBytesMax: 1048576,
      security: noSecurity,
      logLevel: "info",
      logFormat: "text",
      restoreFile: "",
    });
  });

  test("-id defaults to the Raft address, including a changed one", () => {
    expect(run("-raddr", "127.0.0.1:9", "/d").nodeId).toBe("127.0.0.1:9");
    expect(run("-raddr", "127.0.0.1:9", "-id", "node0", "/d").nodeId).toBe("node0");
    expect(run("-id", "", "/d").nodeId).toBe("localhost:12000");
  });

  test("timing in ticks follows the flags", () => {
    expect(timingTicks(run("/d"))).toEqual({ heartbeatTicks: 10, electionTicks: 50 });
    const c = run("-tick", "5ms", "-heartbeat", "50ms", "-election-timeout", "1s", "/d");
    expect(timingTicks(c)).toEqual({ heartbeatTicks: 10, electionTicks: 200 });
  });

  test("the snapshot interval in ticks, rounded up; 0 waits for nothing", () => {
    expect(snapshotIntervalTicks(run("/d"))).toBe(12_000);
    expect(snapshotIntervalTicks(run("-snapshot-interval", "15ms", "/d"))).toBe(2);
    expect(snapshotIntervalTicks(run("-snapshot-interval", "0", "-tick", "5ms", "/d"))).toBe(0);
    expect(run("-snapshot-interval", "1m", "/d").snapshotIntervalMs).toBe(60_000);
    expect(exit("-snapshot-interval", "-1s", "/d").code).toBe(2);
  });
});

describe("Go flag syntax", () => {
  test("-name value, -name=value, --name value and --name=value all set a flag", () => {
    expect(run("-haddr", "a:1", "/d").httpAddr).toBe("a:1");
    expect(run("-haddr=a:2", "/d").httpAddr).toBe("a:2");
    expect(run("--haddr", "a:3", "/d").httpAddr).toBe("a:3");
    expect(run("--haddr=a:4", "/d").httpAddr).toBe("a:4");
    expect(run("-join=", "/d").joinAddr).toBe("");
    expect(run("-join", ":11000", "/d").joinAddr).toBe(":11000");
  });

  test("a value may itself start with a dash or contain =", () => {
    expect(run("-id", "-x", "/d").nodeId).toBe("-x");
    expect(run("-id=a=b", "/d").nodeId).toBe("a=b");
  });

  test("the last occurrence of a flag wins", () => {
    expect(run("-haddr", "a:1", "-haddr", "b:2", "/d").httpAddr).toBe("b:2");
  });

  test("boolean flags: bare, =true, =false, and Go's other spellings", () => {
    expect(run("-inmem", "/d").inmem).toBe(true);
    expect(run("--inmem", "/d").inmem).toBe(true);
    expect(run("-inmem=false", "/d").inmem).toBe(false);
    expect(run("-inmem=true", "/d").inmem).toBe(true);
    for (const t of ["1", "t", "T", "TRUE", "True"]) expect(run(`-inmem=${t}`, "/d").inmem).toBe(true);
    for (const f of ["0", "f", "F", "FALSE", "False"]) expect(run(`-inmem=${f}`, "/d").inmem).toBe(false);
  });

  test("a boolean never takes the next argument", () => {
    const c = run("-inmem", "false", "/d");
    expect(c.inmem).toBe(true);
    expect(c.dataDir).toBe("false");
  });

  test("parsing stops at the first non-flag argument", () => {
    const c = run("/d", "-inmem", "-haddr", "x:1");
    expect(c.dataDir).toBe("/d");
    expect(c.inmem).toBe(false);
    expect(c.httpAddr).toBe("localhost:11000");
  });

  test("-- ends the flags and is consumed; a lone - is an argument", () => {
    expect(run("-inmem", "--", "-data").dataDir).toBe("-data");
    expect(run("--", "--").dataDir).toBe("--");
    expect(run("-", "-inmem").dataDir).toBe("-");
  });

  test("extra arguments after the data directory are ignored, as hraftd does", () => {
    expect(run("/d", "/e").dataDir).toBe("/d");
  });
});

describe("values", () => {
  test("durations in Go's syntax", () => {
    expect(run("-heartbeat", "150ms", "/d").heartbeatMs).toBe(150);
    expect(run("-election-timeout", "1.5s", "/d").electionTimeoutMs).toBe(1500);
    expect(run("-election-timeout", "1m", "/d").electionTimeoutMs).toBe(60000);
    expect(run("-tick", "2500us", "/d").tickMs).toBe(2.5);
    expect(run("-tick", "2500µs", "/d").tickMs).toBe(2.5);
    expect(parseDurationMs("1h2m3.5s")).toBe(3_723_500);
    expect(parseDurationMs("+.5s")).toBe(500);
    expect(parseDurationMs("-3ms")).toBe(-3);
    expect(parseDurationMs("0")).toBe(0);
    for (const bad of ["", "5", "ms", ".s", "1.2.3s", "1d", "1e3s", "-", "10 ms"]) {
      expect(parseDurationMs(bad)).toBeNull();
    }
  });

  test("durations print as Go's Duration.String does", () => {
    expect(formatDurationMs(100)).toBe("100ms");
    expect(formatDurationMs(1500)).toBe("1.5s");
    expect(formatDurationMs(90_000)).toBe("1m30s");
    expect(formatDurationMs(3_600_000)).toBe("1h0m0s");
    expect(formatDurationMs(0.5)).toBe("500µs");
    expect(formatDurationMs(0)).toBe("0s");
  });

  test("integers in Go's base-0 syntax", () => {
    expect(run("-snapshot-threshold", "100", "/d").snapshotThresholdEntries).toBe(100);
    expect(run("-snapshot-threshold=0x10", "/d").snapshotThresholdEntries).toBe(16);
    expect(run("-snapshot-trailing", "010", "/d").snapshotTrailingEntries).toBe(8);
    expect(run("-body-limit", "1_000_000", "/d").bodyBytesMax).toBe(1_000_000);
    expect(run("-body-limit", "0b101", "/d").bodyBytesMax).toBe(5);
    expect(run("-body-limit", "0o17", "/d").bodyBytesMax).toBe(15);
    expect(parseGoInt("-42")).toBe(-42);
    expect(parseGoInt("9223372036854775808")).toBe("range");
    for (const bad of ["", "1.5", "12a", "_1", "1__0", "1_", "08", "0x", "+"]) expect(parseGoInt(bad)).toBe("parse");
  });

  test("malformed values are Go's invalid-value errors", () => {
    expectUsageError(["-tick", "abc", "/d"], `invalid value "abc" for flag -tick: parse error`);
    expectUsageError(["-heartbeat=5", "/d"], `invalid value "5" for flag -heartbeat: parse error`);
    expectUsageError(["-body-limit", "big", "/d"], `invalid value "big" for flag -body-limit: parse error`);
    expectUsageError(
      ["-body-limit", "99999999999999999999", "/d"],
      `invalid value "99999999999999999999" for flag -body-limit: value out of range`,
    );
    expectUsageError(["-inmem=maybe", "/d"], `invalid boolean value "maybe" for -inmem: parse error`);
  });

  test("values outside each flag's limits are refused", () => {
    expectUsageError(["-body-limit", "0", "/d"], `invalid value "0" for flag -body-limit: must be between 1 and 1073741824`);
    expectUsageError(["-tick", "0s", "/d"], `invalid value "0s" for flag -tick: must be between 1ms and 1m0s`);
    expectUsageError(["-heartbeat", "-1s", "/d"], `invalid value "-1s" for flag -heartbeat: must be between 1ms and 1h0m0s`);
    expect(run("-snapshot-trailing", "0", "/d").snapshotTrailingEntries).toBe(0);
  });

  test("heartbeat must come inside the election timeout and after one tick", () => {
    const slow = exit("-heartbeat", "1s", "/d");
    expect(slow.code).toBe(2);
    expect(slow.stderr).toBe("-election-timeout (500ms) must be greater than -heartbeat (1s)\n");
    const coarse = exit("-tick", "200ms", "/d");
    expect(coarse.code).toBe(2);
    expect(coarse.stderr).toBe("-heartbeat (100ms) must be at least -tick (200ms)\n");
  });
});

describe("errors and exits", () => {
  test("an unknown flag: Go's message, the usage, exit 2", () => {
    expectUsageError(["-nosuch", "/tmp/x"], "flag provided but not defined: -nosuch");
    expectUsageError(["--nosuch=1", "/tmp/x"], "flag provided but not defined: -nosuch");
    expectUsageError(["-x"], "flag provided but not defined: -x");
  });

  test("the first error wins, even before -h", () => {
    expectUsageError(["-nosuch", "-h"], "flag provided but not defined: -nosuch");
  });

  test("a flag missing its value", () => {
    expectUsageError(["-haddr"], "flag needs an argument: -haddr");
    expectUsageError(["-inmem", "-join"], "flag needs an argument: -join");
  });

  test("bad flag syntax", () => {
    expectUsageError(["---x", "/d"], "bad flag syntax: ---x");
    expectUsageError(["-=x", "/d"], "bad flag syntax: -=x");
    expectUsageError(["--=", "/d"], "bad flag syntax: --=");
  });

  test("-h, -help, --help and -h=anything print the usage to stderr and exit 0", () => {
    for (const h of ["-h", "-help", "--help", "--h", "-h=1"]) {
      const out = exit(h);
      expect(out.code).toBe(0);
      expect(out.stdout).toBe("");
      expect(out.stderr).toBe(usageText());
    }
    expect(exit("-inmem", "-h", "/d").code).toBe(0);
  });

  test("-version prints to stdout and exits 0, with or without a data directory", () => {
    for (const args of [["-version"], ["-version", "/d"], ["--version=true"]]) {
      const out = exit(...args);
      expect(out).toEqual({ kind: "exit", code: 0, stdout: `${version}\n`, stderr: "" });
    }
    expect(run("-version=false", "/d").dataDir).toBe("/d");
  });

  test("no data directory: hraftd's message, exit 1", () => {
    for (const args of [[], ["-inmem"], ["-haddr", "x:1"], ["--"], [""]]) {
      expect(exit(...args)).toEqual({
        kind: "exit",
        code: 1,
        stdout: "",
        stderr: "No Raft storage directory specified\n",
      });
    }
  });
});

describe("usage text", () => {
  const usage = usageText();
  const lines = usage.split("\n");

  test("starts with the header and lists every flag, sorted by name", () => {
    expect(lines[0]).toBe(usageHeader);
    expect(usageHeader).toBe("Usage: hraftd [options] <raft-data-path>");
    const names = lines.filter((l) => l.startsWith("  -")).map((l) => l.slice(3).split(" ")[0]);
    expect(names).toEqual(flagSpecs.map((s) => s.name).sort());
    expect(names).toContain("haddr");
    expect(names.length).toBe(27);
    expect(usage.endsWith("\n")).toBe(true);
  });

  test("each flag in PrintDefaults' layout, with its default", () => {
    const block = (name: string) => {
      const i = lines.findIndex((l) => l === `  -${name}` || l.startsWith(`  -${name} `));
      return `${lines[i]}\n${lines[i + 1]}`;
    };
    expect(block("haddr")).toBe('  -haddr string\n    \tHTTP bind address (default "localhost:11000")');
    expect(block("raddr")).toMatch(/^ {2}-raddr string\n {4}\t.+ \(default "localhost:12000"\)$/);
    // Zero values (empty string, false) show no default, as in Go.
    expect(block("join")).toMatch(/^ {2}-join string\n {4}\t[^(]+$/);
    expect(block("id")).toMatch(/^ {2}-id string\n {4}\t[^(]+$/);
    expect(block("inmem")).toMatch(/^ {2}-inmem\n {4}\t[^(]+$/);
    expect(block("heartbeat")).toMatch(/^ {2}-heartbeat duration\n {4}\t.+ \(default 100ms\)$/);
    expect(block("election-timeout")).toMatch(/\(default 500ms\)$/);
    expect(block("tick")).toMatch(/\(default 10ms\)$/);
    expect(block("snapshot-threshold")).toMatch(/^ {2}-snapshot-threshold int\n {4}\t.+ \(default 8192\)$/);
    expect(block("snapshot-trailing")).toMatch(/\(default 10240\)$/);
    expect(block("snapshot-interval")).toMatch(/^ {2}-snapshot-interval duration\n {4}\t.+ \(default 2m0s\)$/);
    expect(block("body-limit")).toMatch(/\(default 1048576\)$/);
  });
});

// Issue 12, item 10: a mistyped address or id is one clear line and exit 1, decided here,
// before main creates or stamps the data directory (no usage: the flag itself parsed fine).
describe("addresses and ids are checked before the node starts", () => {
  function expectOneLine(args: string[], ...parts: string[]): void {
    const out = exit(...args, "/d");
    expect(out.code).toBe(1);
    expect(out.stdout).toBe("");
    expect(out.stderr.endsWith("\n")).toBe(true);
    expect(out.stderr.trimEnd().split("\n")).toHaveLength(1);
    for (const part of parts) expect(out.stderr).toContain(part);
  }

  test("-haddr: a port out of range, a port that is not a number, no port", () => {
    expectOneLine(["-haddr", "localhost:99999"], "-haddr", "localhost:99999");
    expectOneLine(["-haddr", ":abc"], "-haddr", ":abc");
    expectOneLine(["-haddr", "localhost"], "-haddr", "missing port");
  });

  test("-raddr: no port, no host, an unspecified host, port 0, a port out of range", () => {
    expectOneLine(["-raddr", "localhost"], "-raddr", "missing port");
    expectOneLine(["-raddr", ":12000"], "-raddr", "no host");
    expectOneLine(["-raddr", "0.0.0.0:12000"], "-raddr", "0.0.0.0");
    expectOneLine(["-raddr", "[::]:12000"], "-raddr");
    expectOneLine(["-raddr", "localhost:0"], "-raddr", "port 0");
    expectOneLine(["-raddr", "localhost:70000"], "-raddr", "70000");
    expectOneLine(["-raddr", "bad host:12000"], "-raddr", "bad host");
  });

  test("-join: not an address, no port, a port out of range", () => {
    expectOneLine(["-join", "not an address"], "-join", "not an address");
    expectOneLine(["-join", "localhost"], "-join", "missing port");
    expectOneLine(["-join", "localhost:99999"], "-join", "99999");
    expectOneLine(["-join", "ftp://x:1"], "-join", "ftp://x:1");
  });

  test("-id: whitespace, control characters, too long", () => {
    expectOneLine(["-id", "node 1"], "-id");
    expectOneLine(["-id", "node\u0007"], "-id");
    expectOneLine(["-id", "x".repeat(300)], "-id");
  });

  test("hraftd's forms are all accepted", () => {
    expect(run("-haddr", ":11000", "/d").httpAddr).toBe(":11000");
    expect(run("-haddr", "0.0.0.0:0", "/d").httpAddr).toBe("0.0.0.0:0");
    expect(run("-raddr", "[::1]:12000", "/d").raftAddr).toBe("[::1]:12000");
    expect(run("-raddr", "node-1.example.com:12000", "/d").raftAddr).toBe("node-1.example.com:12000");
    expect(run("-join", ":11000", "/d").joinAddr).toBe(":11000");
    expect(run("-join", "localhost:11000", "/d").joinAddr).toBe("localhost:11000");
    expect(run("-join", "http://10.0.0.1:11000", "/d").joinAddr).toBe("http://10.0.0.1:11000");
    expect(run("-id", "node0", "/d").nodeId).toBe("node0");
  });
});

describe("-join-timeout", () => {
  test("defaults to 30s and takes a Go duration", () => {
    expect(run("/d").joinTimeoutMs).toBe(30_000);
    expect(run("-join-timeout", "2m", "/d").joinTimeoutMs).toBe(120_000);
  });
});

describe("security flags (rqlite's names)", () => {
  const withEnv = (env: Record<string, string>, ...args: string[]) => parseFlags(args, version, env);

  test("each flag lands in config.security; none set is hraftd's plain behaviour", () => {
    const c = run(
      "-http-cert", "h.pem", "-http-key", "h-key.pem", "-http-ca-cert", "ca.pem", "-http-verify-client",
      "-node-cert", "n.pem", "-node-key", "n-key.pem", "-node-ca-cert", "nca.pem", "-node-no-verify",
      "-auth", "users.json", "/d",
    );
    expect(c.security).toEqual({
      httpCert: "h.pem",
      httpKey: "h-key.pem",
      httpCaCert: "ca.pem",
      httpVerifyClient: true,
      nodeCert: "n.pem",
      nodeKey: "n-key.pem",
      nodeCaCert: "nca.pem",
      nodeNoVerify: true,
      authFile: "users.json",
      joinAs: "",
    });
  });

  const refused: [string[], string][] = [
    [["-http-cert", "h.pem"], "-http-cert and -http-key must be given together"],
    [["-http-key", "k.pem"], "-http-cert and -http-key must be given together"],
    [["-http-verify-client", "-http-cert", "h", "-http-key", "k"], "-http-verify-client needs -http-ca-cert"],
    [["-http-verify-client", "-http-ca-cert", "ca"], "-http-verify-client needs HTTPS"],
    [["-node-cert", "n.pem", "-node-key", "k.pem"], "-node-cert, -node-key and -node-ca-cert must be given together"],
    [["-node-ca-cert", "ca.pem"], "-node-cert, -node-key and -node-ca-cert must be given together"],
    [["-node-no-verify"], "-node-no-verify has no effect without"],
    [["-join-as", "joiner"], "-join-as has no effect without -join"],
    [["-join-as", "joiner", "-join", "h:1"], `needs the password in the environment variable ${joinPasswordEnv}`],
  ];
  for (const [args, message] of refused) {
    test(`${args.join(" ")}: exit 2 naming the flags`, () => {
      const out = withEnv({}, ...args, "/d");
      expect(out.kind).toBe("exit");
      if (out.kind !== "exit") return;
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(message);
      expect(out.stdout).toBe("");
    });
  }

  test("-join-as takes its password from the environment, never from a flag", () => {
    const out = withEnv({ [joinPasswordEnv]: "s3cret" }, "-join-as", "joiner", "-join", "h:1", "/d");
    expect(out.kind).toBe("run");
    if (out.kind === "run") expect(out.config.security.joinAs).toBe("joiner");
    expect(JSON.stringify(out)).not.toContain("s3cret");
  });
});

describe("operations flags", () => {
  test("-log-level, -log-format and -restore land in the config", () => {
    const c = run("-log-level", "debug", "-log-format", "json", "-restore", "b.backup", "/d");
    expect([c.logLevel, c.logFormat, c.restoreFile]).toEqual(["debug", "json", "b.backup"]);
  });
  for (const [args, message] of [
    [["-log-level", "loud"], 'invalid value "loud" for flag -log-level: use debug, info, warn, error'],
    [["-log-format", "xml"], 'invalid value "xml" for flag -log-format: use text or json'],
    [["-restore", "b.backup", "-join", "h:1"], "-restore starts a new cluster: it cannot be combined with -join"],
  ] as const) {
    test(`${args.join(" ")}: exit 2 with one line`, () => {
      const out = exit(...args, "/d");
      expect(out.code).toBe(2);
      expect(out.stderr).toBe(`${message}\n`);
    });
  }
});
