// The test-certificate helper makes what the security tests rely on: a leaf that verifies
// against its own CA and not against another one.
import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { makeCa } from "../support/certs.ts";

test("makeCa issues leaves that verify against their CA only", () => {
  const ca = makeCa("one");
  const other = makeCa("two");
  const leaf = ca.issue("n1");
  const verify = (caFile: string) => {
    try {
      execFileSync("openssl", ["verify", "-CAfile", caFile, leaf.cert], { stdio: "pipe" });
      return true;
    } catch {
      return false;
    }
  };
  expect(verify(ca.cert)).toBe(true);
  expect(verify(other.cert)).toBe(false);
  expect(leaf.keyPem()).toContain("PRIVATE KEY");
});
