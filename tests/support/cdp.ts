// A headless Chromium driven over the DevTools protocol, for the browser tests: launch with
// --remote-debugging-port=0, read the port from DevToolsActivePort, speak JSON over Bun's
// WebSocket client, one flat session per tab. Only what the tests need: navigate, evaluate,
// viewport, screenshot.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where Debian's chromium package puts the browser; CHROMIUM overrides it. */
export function chromiumPath(): string | null {
  const candidates = [process.env["CHROMIUM"], "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  for (const c of candidates) if (c !== undefined && c !== "" && existsSync(c)) return c;
  return null;
}

/** How long the browser gets to write DevToolsActivePort, and a command to answer (ms). */
const launchMsMax = 20_000;
const commandMsMax = 15_000;

interface Pending {
  readonly resolve: (v: Record<string, unknown>) => void;
  readonly reject: (e: Error) => void;
  readonly method: string;
}

/** A running browser and its DevTools connection. Close it, or it outlives the test. */
export class Browser {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(method: string, params: Record<string, unknown>, sessionId: string | undefined) => void>();

  readonly #ws: WebSocket;
  readonly #profileDir: string;

  private constructor(readonly proc: ChildProcess, ws: WebSocket, profileDir: string) {
    this.#ws = ws;
    this.#profileDir = profileDir;
    this.#ws.addEventListener("message", (ev) => this.#onMessage(String(ev.data)));
    this.#ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error(`DevTools connection closed during ${p.method}`));
      this.#pending.clear();
    });
  }

  /** Starts `chromium` headless with a fresh profile and connects to it. */
  static async launch(executable: string): Promise<Browser> {
    const profileDir = mkdtempSync(join(tmpdir(), "hraftd-chromium-"));
    const proc = spawn(executable, [
      "--headless=new",
      "--no-sandbox",
      "--remote-debugging-port=0",
      `--user-data-dir=${profileDir}`,
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-extensions",
      "--disable-background-networking",
      "--hide-scrollbars",
      "--mute-audio",
      "about:blank",
    ], { detached: true, stdio: ["ignore", "ignore", "pipe"] });
    launched.add(proc);
    let stderr = "";
    proc.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString("utf8")).slice(-8_000)));
    const portFile = join(profileDir, "DevToolsActivePort");
    const deadline = performance.now() + launchMsMax;
    let wsPath = "";
    while (wsPath === "") {
      if (proc.exitCode !== null) throw new Error(`chromium exited with ${proc.exitCode}: ${stderr}`);
      if (performance.now() > deadline) {
        killGroup(proc);
        throw new Error(`chromium wrote no DevToolsActivePort within ${launchMsMax} ms: ${stderr}`);
      }
      if (existsSync(portFile)) {
        const [port, path] = readFileSync(portFile, "utf8").split("\n");
        if (port !== undefined && path !== undefined && path !== "") wsPath = `ws://127.0.0.1:${port}${path}`;
      }
      if (wsPath === "") await Bun.sleep(50);
    }
    const ws = new WebSocket(wsPath);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`cannot connect to ${wsPath}`)), { once: true });
    });
    return new Browser(proc, ws, profileDir);
  }

  /** Sends one DevTools command (to a tab's session when given) and waits for its result. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const message: Record<string, unknown> = { id, method, params };
    if (sessionId !== undefined) message["sessionId"] = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`DevTools ${method} got no answer within ${commandMsMax} ms`));
      }, commandMsMax);
      this.#pending.set(id, {
        method,
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.#ws.send(JSON.stringify(message));
    });
  }

  /** Calls `listener` with every event until the returned function is called. */
  onEvent(listener: (method: string, params: Record<string, unknown>, sessionId: string | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Opens a tab in a window of its own, so each tab is visible (a background tab's timers are
   * throttled and its dialogs wait), and attaches a session to it.
   */
  async newTab(): Promise<Tab> {
    const { targetId } = (await this.send("Target.createTarget", { url: "about:blank", newWindow: true })) as { targetId: string };
    const { sessionId } = (await this.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
    const tab = new Tab(this, sessionId);
    await tab.send("Page.enable");
    await tab.send("Runtime.enable");
    // Every tab acts as the focused one, as a person looking at each window would see it.
    await tab.send("Emulation.setFocusEmulationEnabled", { enabled: true });
    return tab;
  }

  /** Closes the browser and removes its profile. Never throws. */
  async close(): Promise<void> {
    try {
      await Promise.race([this.send("Browser.close"), Bun.sleep(2_000)]);
    } catch {
      // Already gone.
    }
    this.#ws.close();
    killGroup(this.proc);
    launched.delete(this.proc);
    rmSync(this.#profileDir, { recursive: true, force: true });
  }

  #onMessage(text: string): void {
    const msg = JSON.parse(text) as {
      id?: number;
      result?: Record<string, unknown>;
      error?: { message: string };
      method?: string;
      params?: Record<string, unknown>;
      sessionId?: string;
    };
    if (msg.id !== undefined) {
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`DevTools ${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result ?? {});
    } else if (msg.method !== undefined) {
      for (const l of this.#listeners) l(msg.method, msg.params ?? {}, msg.sessionId);
    }
  }
}

/** One tab. */
export class Tab {
  /** Messages the page logged and exceptions it threw, for failed tests' messages. */
  readonly console: string[] = [];

  constructor(readonly browser: Browser, readonly sessionId: string) {
    browser.onEvent((method, params, sessionId) => {
      if (sessionId !== this.sessionId) return;
      if (method === "Runtime.consoleAPICalled") {
        const args = (params["args"] as { value?: unknown; description?: string }[] | undefined) ?? [];
        this.console.push(`${String(params["type"])}: ${args.map((a) => a.value ?? a.description).join(" ")}`);
      } else if (method === "Runtime.exceptionThrown") {
        const d = params["exceptionDetails"] as { text?: string; exception?: { description?: string } } | undefined;
        this.console.push(`exception: ${d?.exception?.description ?? d?.text ?? "?"}`);
      }
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Loads `url` and waits for its load event. */
  async navigate(url: string): Promise<void> {
    let off = (): void => {};
    const loaded = new Promise<void>((resolve) => {
      off = this.browser.onEvent((method, _p, sessionId) => {
        if (sessionId === this.sessionId && method === "Page.loadEventFired") resolve();
      });
    });
    try {
      const r = (await this.send("Page.navigate", { url })) as { errorText?: string };
      if (r.errorText !== undefined) throw new Error(`navigating to ${url}: ${r.errorText}`);
      await Promise.race([loaded, Bun.sleep(commandMsMax).then(() => Promise.reject(new Error(`${url} did not load`)))]);
    } finally {
      off();
    }
  }

  /** The value of `expression` evaluated in the page (awaited if a promise); throws what it throws. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true })) as {
      result?: { value?: unknown };
      exceptionDetails?: { text?: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails !== undefined) {
      throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text ?? "exception"}`);
    }
    return r.result?.value as T;
  }

  /** Sets the viewport as a device of that size would (mobile: touch-sized, scaled 3x). */
  async setViewport(width: number, height: number, mobile = false): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: mobile ? 3 : 1, mobile });
  }

  /** Saves a PNG of the viewport to `path`. */
  async screenshot(path: string): Promise<void> {
    const { data } = (await this.send("Page.captureScreenshot", { format: "png" })) as { data: string };
    writeFileSync(path, Buffer.from(data, "base64"));
  }
}

function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

// Whatever happens to the test run, no browser outlives it.
const launched = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of launched) killGroup(p);
});
