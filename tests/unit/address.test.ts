// Goal: the one address parser (address.ts) reads every hraftd address form the way Go's
// net.SplitHostPort does, refuses malformed ones naming the address in Go's words, and
// formatHostPort inverts it. Method: tables; -haddr/-raddr uses are in flags.test.ts and
// serve.test.ts, the transport's listen and dial in transport.test.ts.

import { describe, expect, test } from "bun:test";
import { formatHostPort, parseHostPort } from "../../address.ts";

describe("parseHostPort", () => {
  test("accepts Go-style host:port forms", () => {
    expect(parseHostPort("localhost:12000")).toEqual({ host: "localhost", hostname: "localhost", port: 12000 });
    expect(parseHostPort(":12000")).toEqual({ host: "", hostname: "0.0.0.0", port: 12000 });
    expect(parseHostPort("[::1]:7")).toEqual({ host: "::1", hostname: "::1", port: 7 });
    expect(parseHostPort("127.0.0.1:0")).toEqual({ host: "127.0.0.1", hostname: "127.0.0.1", port: 0 });
  });

  test("rejects malformed addresses with the address in the message", () => {
    const bad: Array<[string, RegExp]> = [
      ["localhost", /missing port in address/],
      ["::1:80", /too many colons in address/],
      ["[::1]80", /unexpected text after '\]' in address/],
      ["[::1", /missing '\]' in address/],
      ["a]:80", /unexpected bracket in address/],
      ["h:", /invalid port ""/],
      ["h:65536", /invalid port "65536"/],
      ["h:-1", /invalid port/],
      ["h:1e3", /invalid port/],
      ["h: 80", /invalid port/],
    ];
    for (const [input, why] of bad) {
      expect(() => parseHostPort(input)).toThrow(`address ${input}: `);
      expect(() => parseHostPort(input)).toThrow(why);
    }
  });
});

describe("formatHostPort", () => {
  test("brackets an IPv6 host and round-trips through parseHostPort", () => {
    for (const [host, port, text] of [["localhost", 1, "localhost:1"], ["::1", 7, "[::1]:7"], ["", 9, ":9"]] as const) {
      expect(formatHostPort(host, port)).toBe(text);
      expect(parseHostPort(text)).toMatchObject({ host, port });
    }
  });
});
