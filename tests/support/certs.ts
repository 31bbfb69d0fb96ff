// Test certificates, made at test time with the openssl command line (no private key is ever
// committed): a CA, then leaf certificates it signs, each usable as a server and as a client
// (both extended key usages), valid for localhost and 127.0.0.1 unless told otherwise.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A certificate and its key, as file paths and as PEM text. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
  certPem(): string;
  keyPem(): string;
}

/** A certificate authority in a directory of its own; `issue` signs leaf certificates. */
export interface TestCa extends CertFiles {
  readonly dir: string;
  /** A leaf certificate signed by this CA, for the given subject alternative names. */
  issue(name: string, options?: IssueOptions): CertFiles;
}

export interface IssueOptions {
  /** DNS names and IP addresses it is valid for; default localhost and 127.0.0.1. */
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  /** Days of validity; default 2. */
  readonly days?: number;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function files(cert: string, key: string): CertFiles {
  return { cert, key, certPem: () => readFileSync(cert, "utf8"), keyPem: () => readFileSync(key, "utf8") };
}

/** Makes a CA named `name` (its certificate's CN) in a fresh temporary directory, or in `dir`. */
export function makeCa(name: string, dir: string = mkdtempSync(join(tmpdir(), `hraftd-ca-${name}-`))): TestCa {
  const cert = join(dir, `${name}-ca.pem`);
  const key = join(dir, `${name}-ca-key.pem`);
  openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name} test CA`],
    dir,
  );
  let serial = 1;
  return {
    ...files(cert, key),
    dir,
    issue(leaf: string, options: IssueOptions = {}): CertFiles {
      const leafKey = join(dir, `${leaf}-key.pem`);
      const leafCert = join(dir, `${leaf}.pem`);
      const csr = join(dir, `${leaf}.csr`);
      const ext = join(dir, `${leaf}.ext`);
      const sans = [
        ...(options.dns ?? ["localhost"]).map((d) => `DNS:${d}`),
        ...(options.ips ?? ["127.0.0.1"]).map((i) => `IP:${i}`),
      ];
      writeFileSync(ext, `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth,clientAuth\n`);
      openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", leafKey, "-out", csr, "-subj", `/CN=${leaf}`], dir);
      openssl(
        ["x509", "-req", "-in", csr, "-CA", cert, "-CAkey", key, "-set_serial", String(serial++), "-out", leafCert, "-days", String(options.days ?? 2), "-extfile", ext],
        dir,
      );
      return files(leafCert, leafKey);
    },
  };
}
