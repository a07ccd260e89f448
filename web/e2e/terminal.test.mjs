// End to end: the session screen's Terminal tab (xterm.js) in Debian's
// Chromium, against a real `agentops serve` whose local runner starts the
// shell in the session's workspace.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiCall, axe, launch, startServer } from "./harness.mjs";

let srv, browser, page, token;
const errors = [];

before(async () => {
  srv = await startServer();
  browser = await launch();
  const ctx = await browser.newContext({ baseURL: srv.base, viewport: { width: 1100, height: 900 } });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: srv.base });
  page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  const r = await fetch(srv.base + "/auth/email/register", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: "admin@example.com", password: "correct horse battery" }),
  });
  assert.equal(r.status, 200);
  token = (await r.json()).sessionToken;
  await page.goto("/");
  await page.evaluate((t) => localStorage.setItem("agentops.token", t), token);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function waitIdle(id) {
  for (let i = 0; i < 300; i++) {
    const { body } = await apiCall(srv.base, token, "GET", `/api/sessions/${id}`);
    if (body.doStatus?.runnerReady && !body.doStatus?.runnerBusy) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the session's runner did not become ready");
}

test("the Terminal tab runs ls in the session's workspace", async () => {
  const created = await apiCall(srv.base, token, "POST", "/api/sessions", { workspace: "demo", title: "Terminal demo" });
  assert.equal(created.status, 201);
  const id = created.body.session.id;
  await waitIdle(id);
  // The agent writes a file into its workspace; the shell must see it.
  const p = await apiCall(srv.base, token, "POST", `/api/sessions/${id}/prompt`, { content: "/write agent-notes.txt hello\nDone." });
  assert.ok(p.status < 300, JSON.stringify(p.body));
  await waitIdle(id);

  await page.goto(`/sessions/${id}`);
  await page.getByRole("heading", { name: "Terminal demo" }).waitFor();
  await page.getByRole("tab", { name: "Terminal" }).click();
  await page.getByText("Shell in the workspace").waitFor({ timeout: 20000 });
  const rows = page.locator(".xterm-rows");
  await rows.waitFor();
  await page.locator(".xterm").click();
  await page.keyboard.type("ls -1");
  await page.keyboard.press("Enter");
  await rows.filter({ hasText: "agent-notes.txt" }).waitFor({ timeout: 20000 });

  // xterm's own styles apply although the CSP forbids inline <style>:
  // the rows are laid out one under the other, filling the panel.
  const geometry = await page.evaluate(() => {
    const r = [...document.querySelectorAll(".xterm-rows > div")].map((d) => d.getBoundingClientRect());
    return { count: r.length, first: r[0].top, second: r[1].top, height: r[0].height };
  });
  assert.ok(geometry.count >= 10, `fit gave ${geometry.count} rows`);
  assert.ok(geometry.second > geometry.first && geometry.height > 8, JSON.stringify(geometry));

  // Copy and paste: Ctrl+Shift+V pastes the clipboard into the shell;
  // Ctrl+Shift+C copies the selection.
  await page.evaluate(() => navigator.clipboard.writeText("echo pasted-$((6*7))"));
  await page.keyboard.press("Control+Shift+V");
  await page.keyboard.press("Enter");
  await rows.filter({ hasText: "pasted-42" }).waitFor({ timeout: 20000 });
  // The output line starts with the word: a double click there selects it.
  const line = page.locator(".xterm-rows > div").filter({ hasText: /^pasted-42/ }).last();
  const box = await line.boundingBox();
  await page.mouse.dblclick(box.x + 10, box.y + box.height / 2);
  await page.keyboard.press("Control+Shift+C");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, /pasted/, "Ctrl+Shift+C copied the selection");

  // The transcript is one click away, and the shell survives the switch.
  await page.getByRole("tab", { name: "Transcript" }).click();
  await page.locator('[role="log"]').filter({ hasText: "Done." }).waitFor();
  await page.getByRole("tab", { name: "Terminal" }).click();
  await page.locator(".xterm").click();
  await page.keyboard.type("exit");
  await page.keyboard.press("Enter");
  await page
    .getByText("The shell ended (exit status 0).")
    .first()
    .waitFor({ timeout: 20000 })
    .catch(async (e) => {
      throw new Error(`${e.message}\nterminal: ${await rows.innerText()}\nstatus: ${await page.locator(".terminal-bar").innerText()}`);
    });
  await page.getByRole("button", { name: "New shell" }).waitFor();
  const found = await axe(page, "session terminal");
  assert.deepEqual(found, []);
  assert.deepEqual(errors, []);
});
