// Test harness: a real `agentops serve` (script agent, local sandbox) in a
// temporary data dir, a TCP proxy in front of it whose connections a test
// can cut, and Debian's Chromium driven by playwright-core (never a
// downloaded browser).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const require = createRequire(import.meta.url);

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function binary(dir) {
  if (process.env.AGENTOPS_BIN) return process.env.AGENTOPS_BIN;
  const out = join(dir, "agentops");
  execFileSync("go", ["build", "-tags", "sqlite_fts5", "-o", out, "."], { cwd: repo, stdio: "inherit" });
  return out;
}

export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "agentops-e2e-"));
  const bin = binary(dir);
  const port = await freePort();
  const proxyPort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proxyBase = `http://127.0.0.1:${proxyPort}`;
  const proc = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", join(dir, "data"), "--log-level", "warn"], {
    env: {
      ...process.env,
      AGENTOPS_ALLOWED_ORIGINS: `${base},${proxyBase}`,
      AGENTOPS_PUBLIC_URL: base,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(base + "/ready");
      if (r.ok) break;
    } catch {}
    if (i > 200) throw new Error("agentops serve did not become ready");
    await new Promise((r) => setTimeout(r, 100));
  }
  const proxy = await startProxy(proxyPort, port);
  return {
    base,
    proxyBase,
    proxy,
    dir,
    /** Runs the agentops command line on this server's data dir. */
    cli(...args) {
      return execFileSync(bin, [...args, "--data-dir", join(dir, "data"), "--log-level", "warn"], { encoding: "utf8" });
    },
    async stop() {
      proxy.close();
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
      // Local runners live in their own process groups: the data dir's
      // runner pids are theirs to stop; the runners exit when the server
      // is gone and cannot be reached.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP proxy; cut() destroys every open connection (a network drop);
 * paceUploads(bytesPerSecond) slows what clients send (0: full speed), so
 * that an upload's progress can be seen.
 */
function startProxy(listenPort, targetPort) {
  const conns = new Set();
  let pace = 0;
  const server = net.createServer((c) => {
    const up = net.connect(targetPort, "127.0.0.1");
    const pair = { c, up };
    conns.add(pair);
    c.on("data", (chunk) => {
      const ok = up.write(chunk);
      if (ok && !pace) return;
      c.pause();
      let waits = (ok ? 0 : 1) + (pace ? 1 : 0);
      const done = () => --waits === 0 && c.resume();
      if (!ok) up.once("drain", done);
      if (pace) setTimeout(done, (1000 * chunk.length) / pace);
    });
    c.on("end", () => up.end());
    up.pipe(c);
    const end = () => {
      c.destroy();
      up.destroy();
      conns.delete(pair);
    };
    c.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  return new Promise((resolve) =>
    server.listen(listenPort, "127.0.0.1", () =>
      resolve({
        cut() {
          for (const { c, up } of conns) {
            c.destroy();
            up.destroy();
          }
          conns.clear();
        },
        paceUploads(bytesPerSecond) {
          pace = bytesPerSecond;
        },
        close() {
          this.cut();
          server.close();
        },
      }),
    ),
  );
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_FLAGS,
    headless: true,
  });
}

const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core's WCAG 2.1 A/AA rules on the page in light and dark and
 * returns the serious and critical violations. The script is evaluated over
 * the DevTools protocol, which the page's CSP does not govern.
 */
export async function axe(page, label) {
  const found = [];
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(50);
    await page.evaluate(axeSource);
    const res = await page.evaluate(() =>
      window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
    );
    if (res.passes.length === 0) throw new Error("axe checked nothing on " + label);
    for (const v of res.violations)
      if (v.impact === "serious" || v.impact === "critical")
        found.push(`${label} (${scheme}): ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  }
  await page.emulateMedia({ colorScheme: "light" });
  return found;
}

export async function apiCall(base, token, method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
