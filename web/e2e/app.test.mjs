// End to end: the embedded web client in Debian's Chromium against a real
// `agentops serve` with the script agent (docs/script-agent.md).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import { apiCall, axe, launch, startServer } from "./harness.mjs";

let srv, browser, ctx, page, token, sessionId;
const violations = [];
const ADMIN = { email: "admin@example.com", password: "correct horse battery" };

before(async () => {
  srv = await startServer();
  browser = await launch();
  ctx = await browser.newContext({ baseURL: srv.proxyBase, viewport: { width: 1100, height: 900 } });
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const log = () => page.locator('[role="log"]');
const lastReply = () => page.locator('[role="log"] .msg-assistant').last();

async function waitText(locator, text, timeout = 20000) {
  await locator.filter({ hasText: text }).first().waitFor({ timeout });
}

function count(haystack, needle) {
  return haystack.split(needle).length - 1;
}

test("first run: setup creates the admin", async () => {
  await page.goto("/");
  await page.waitForURL("**/setup");
  await page.getByRole("heading", { name: "Set up agentops" }).waitFor();
  violations.push(...(await axe(page, "setup")));
  // The server's error appears next to its field.
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill("short");
  await page.getByLabel("Password").evaluate((el) => el.removeAttribute("minlength"));
  await page.getByRole("button", { name: "Create admin account" }).click();
  const err = page.locator(".field-error");
  await err.waitFor();
  assert.match(await err.textContent(), /8/);
  const describedBy = await page.getByLabel("Password").getAttribute("aria-describedby");
  assert.ok(describedBy.includes(await err.getAttribute("id")), "the error is tied to its field");
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create admin account" }).click();
  await page.getByRole("heading", { name: "Sessions" }).waitFor();
  token = await page.evaluate(() => localStorage.getItem("agentops.token"));
  assert.ok(token);
  violations.push(...(await axe(page, "sessions (empty)")));
});

test("login and setup load at most 250,000 bytes of JavaScript after gzip", async () => {
  for (const path of ["/login", "/setup"]) {
    const c = await browser.newContext({ baseURL: srv.proxyBase });
    const p = await c.newPage();
    const bodies = [];
    p.on("response", (r) => {
      if (r.request().resourceType() === "script") bodies.push(r.body());
    });
    await p.goto(path);
    await p.waitForLoadState("networkidle");
    const sizes = (await Promise.all(bodies)).map((b) => gzipSync(b, { level: 9 }).length);
    const total = sizes.reduce((a, b) => a + b, 0);
    console.log(`# ${path}: ${sizes.length} scripts, ${total} bytes of JavaScript after gzip`);
    assert.ok(sizes.length > 0 && total <= 250000, `${path} loads ${total} bytes of gzipped JS`);
    await c.close();
  }
});

test("responses carry the CSP; deep links load the app", async () => {
  const r = await fetch(srv.base + "/sessions/some/deep/link");
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-security-policy"), /script-src 'self'/);
  assert.match(await r.text(), /<div id="app">/);
  const api404 = await fetch(srv.base + "/api/no-such-route");
  assert.equal(api404.status, 404);
  assert.equal((await api404.json()).code, "NOT_FOUND");
});

test("create a session from the dialog", async () => {
  await page.getByRole("button", { name: "New session" }).click();
  const dialog = page.getByRole("dialog", { name: "New session" });
  await dialog.waitFor();
  await dialog.getByLabel("Model").locator("option", { hasText: "Script" }).first().waitFor({ state: "attached" });
  violations.push(...(await axe(page, "create dialog")));
  await dialog.getByLabel("Title").fill("Demo session");
  await dialog.getByLabel("Workspace name").fill("demo");
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  sessionId = page.url().split("/").pop();
  await page.getByRole("heading", { name: "Demo session" }).waitFor();
  await page.getByText("Runner ready").waitFor({ timeout: 30000 });
});

async function prompt(text) {
  await page.getByRole("textbox", { name: "Prompt", exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

test("a prompt streams text and shows a tool card", async () => {
  await prompt('/tool read completed {"path":"notes.txt"}\nhello **world**');
  await waitText(log(), "You said: hello world");
  const card = log().locator("details.tool", { hasText: "read" });
  await card.waitFor();
  assert.match(await card.textContent(), /completed/);
  await card.locator("summary").click();
  assert.match(await card.textContent(), /notes\.txt/);
  assert.equal(await log().locator("strong", { hasText: "world" }).count(), 1, "markdown is rendered");
  violations.push(...(await axe(page, "session")));
});

test("answer a question", async () => {
  await prompt("/ask Which colour? | red | blue\nPaint the shed.");
  const q = page.getByRole("region", { name: "Question from the agent" });
  await q.waitFor();
  assert.match(await q.textContent(), /Which colour\?/);
  assert.match(await q.textContent(), /Expires in \d+:\d\d/);
  violations.push(...(await axe(page, "session with a question")));
  await q.getByRole("button", { name: "red" }).click();
  await waitText(log(), "You answered: red");
  await q.waitFor({ state: "detached" });
});

function longReply(tag) {
  return Array.from({ length: 60 }, (_, i) => `${tag}${i}`).join(" ");
}

test("reload while a turn streams: the whole reply exactly once", async () => {
  const words = longReply("rl");
  await prompt(`/slow 100\n/chunks 60\n${words}`);
  await waitText(lastReply(), "rl5 ");
  const partial = await lastReply().textContent();
  assert.ok(!partial.includes("rl59"), "the turn is still streaming when the page reloads");
  await page.reload();
  await waitText(lastReply(), "rl59", 30000);
  await page.waitForTimeout(300);
  const text = await log().textContent();
  assert.equal(count(text, `You said: ${words}`), 1, "the reply appears once, whole");
});

test("a cut socket reconnects without losing or doubling text", async () => {
  const sockets = [];
  page.on("websocket", (ws) => ws.url().includes("role=client") && sockets.push(ws));
  const words = longReply("cut");
  await prompt(`/slow 100\n/chunks 60\n${words}`);
  await waitText(lastReply(), "cut10 ");
  const before = sockets.length;
  srv.proxy.cut();
  const midway = await lastReply().textContent();
  assert.ok(!midway.includes("cut59"), "the turn is still streaming when the socket is cut");
  await waitText(lastReply(), "cut59", 30000);
  await page.waitForTimeout(500);
  assert.ok(sockets.length > before, `a second socket was opened (${sockets.length} sockets seen)`);
  const text = await log().textContent();
  assert.equal(count(text, `You said: ${words}`), 1, "no text lost or doubled");
});

test("queue: a prompt sent while busy waits, and can be withdrawn; Stop aborts the turn", async () => {
  await prompt(`/slow 200\n/chunks 40\n${longReply("q")}`);
  await waitText(lastReply(), "q2 ");
  await prompt("a follow-up that waits");
  const queued = page.getByRole("region", { name: "Queued prompt" });
  await queued.waitFor();
  assert.match(await queued.textContent(), /a follow-up that waits/);
  violations.push(...(await axe(page, "session with a queued prompt")));
  await queued.getByRole("button", { name: "Withdraw" }).click();
  await queued.waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Stop" }).click();
  await waitText(lastReply(), "Turn stopped.");
  assert.ok(!(await lastReply().textContent()).includes("q39"), "the turn ended early");
});

test("revert removes a message and what follows", async () => {
  await prompt("revert me please");
  await waitText(lastReply(), "You said: revert me please");
  const mine = log().locator(".msg-user", { hasText: "revert me please" });
  page.once("dialog", (d) => d.accept());
  await mine.getByRole("button", { name: "Revert to here" }).click();
  await mine.waitFor({ state: "detached" });
  assert.equal(await log().getByText("You said: revert me please").count(), 0);
});

test("hibernate and wake from the session screen", async () => {
  await page.getByRole("button", { name: "Hibernate" }).click();
  await page.locator(".session-head .badge", { hasText: "hibernated" }).waitFor({ timeout: 30000 });
  await page.getByRole("button", { name: "Wake" }).click();
  await page.locator(".session-head .badge", { hasText: "running" }).waitFor({ timeout: 30000 });
  await page.getByText("Runner ready").waitFor({ timeout: 30000 });
});

test("agent output cannot run script (sanitizer + CSP)", async () => {
  await page.evaluate(() => (window.__xss = 0));
  await prompt('<img src=x onerror="window.__xss=1"> and [click me](javascript:window.__xss=2) <a href="javascript:window.__xss=3">raw</a> <script>window.__xss=4</script>');
  await waitText(log(), "click me");
  const md = log().locator(".md").last();
  // The reply's markdown is rendered once its text has arrived; on a busy
  // machine that is later than the first sight of its words.
  await md.locator("img").first().waitFor({ state: "attached", timeout: 30000 }).catch(() => {});
  assert.ok((await md.locator("img").count()) >= 1, "the transcript's HTML was rendered (not merely escaped)");
  assert.equal(await md.locator("[onerror]").count(), 0, "no event handler attribute survives");
  assert.equal(await md.locator("script").count(), 0);
  for (const href of await md.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href"))))
    assert.ok(!/^\s*javascript:/i.test(href ?? ""), `link href ${href}`);
  const links = md.locator("a");
  for (let i = 0; i < (await links.count()); i++) await links.nth(i).click({ modifiers: [] }).catch(() => {});
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), 0, "nothing ran");
});

test("settings screens", async () => {
  for (const [path, heading] of [
    ["/settings", "Profile"],
    ["/settings/keys", "API keys"],
    ["/settings/credentials", "Provider keys"],
    ["/settings/agents", "Agents"],
    ["/settings/admin", "Users"],
  ]) {
    await page.goto(path);
    await page.getByRole("heading", { name: heading, exact: true }).waitFor();
    violations.push(...(await axe(page, path)));
  }
  // An API key is shown once.
  await page.goto("/settings/keys");
  await page.getByLabel("Key name").fill("ci");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.locator("code.secret").waitFor();
  assert.match(await page.locator("code.secret").textContent(), /^sk_/);
  // "Test this key" asks the provider; an unreachable one says so.
  await page.goto("/settings/credentials");
  await page.getByLabel("Provider", { exact: true }).fill("custom-local");
  await page.getByLabel("Key", { exact: true }).fill("sk-local");
  await page.getByLabel("Base URL (optional)").fill("http://127.0.0.1:9/v1");
  await page.getByRole("button", { name: "Save key" }).click();
  await page.getByRole("button", { name: "Test this key" }).click();
  await page.getByText(/cannot be reached/).waitFor({ timeout: 20000 });
  // A provider key with a bad field shows the server's error by that field.
  await page.goto("/settings/credentials");
  await page.getByLabel("Provider", { exact: true }).fill("nope");
  await page.getByLabel("Key", { exact: true }).fill("secret");
  await page.getByRole("button", { name: "Save key" }).click();
  await page.locator(".field-error").first().waitFor();
});

test("sessions list: live status, filter and title search", async () => {
  await page.goto("/");
  const row = page.locator(".sessions li", { hasText: "Demo session" });
  await row.waitFor();
  await row.getByText("running").waitFor();
  violations.push(...(await axe(page, "sessions")));
  await apiCall(srv.base, token, "POST", `/api/sessions/${sessionId}/hibernate`);
  await row.getByText("hibernated").waitFor({ timeout: 20000 });
  await page.getByLabel("Search titles").fill("no such title");
  await page.getByText("No session matches.").waitFor();
  await page.getByLabel("Search titles").fill("demo");
  await row.waitFor();
  await page.getByLabel("Status").selectOption("terminated");
  await page.getByText("No session matches.").waitFor();
  assert.match(page.url(), /status=terminated/);
});

test("a session deleted in another tab shows a clear state", async () => {
  await page.goto(`/sessions/${sessionId}`);
  await page.getByRole("heading", { name: "Demo session" }).waitFor();
  const r = await apiCall(srv.base, token, "POST", "/api/sessions/bulk-delete", { sessionIds: [sessionId] });
  assert.equal(r.status, 200);
  await page.getByRole("heading", { name: "Session not found" }).waitFor({ timeout: 20000 });
});

test("invite accept, logout and login back to the same page", async () => {
  const inv = await apiCall(srv.base, token, "POST", "/api/admin/invites", { role: "member" });
  assert.equal(inv.status, 201);
  const other = await browser.newContext({ baseURL: srv.proxyBase });
  const p2 = await other.newPage();
  await p2.goto(`/invite/${inv.body.code}`);
  await p2.getByRole("heading", { name: /You are invited/ }).waitFor();
  violations.push(...(await axe(p2, "invite")));
  await p2.getByLabel("Email").fill("member@example.com");
  await p2.getByLabel("Password").fill("another good password");
  await p2.getByRole("button", { name: "Create account" }).click();
  await p2.getByRole("heading", { name: "Sessions" }).waitFor();
  await other.close();

  await page.goto("/settings/keys");
  await page.getByRole("button", { name: /Log out/ }).click();
  await page.waitForURL("**/login");
  violations.push(...(await axe(page, "login")));
  // A 401 anywhere returns to login, then back to that page.
  await page.goto("/settings/agents");
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL("**/settings/agents");
});

test("a login link: opening the page spends nothing; the button logs in, then a new password", async () => {
  const url = srv.cli("user", "login-link", "--email", "member@example.com", "--public-url", srv.proxyBase).trim();
  assert.match(url, /\/login\/link\/[0-9a-f]{64}$/);
  // A link previewer fetches the page (and runs its script) but presses nothing.
  const preview = await browser.newContext({ baseURL: srv.proxyBase });
  const pp = await preview.newPage();
  await pp.goto(url);
  await pp.getByRole("heading", { name: "Log in with a link" }).waitFor();
  await preview.close();

  const other = await browser.newContext({ baseURL: srv.proxyBase });
  const p2 = await other.newPage();
  await p2.goto(url);
  await p2.getByRole("heading", { name: "Log in with a link" }).waitFor();
  violations.push(...(await axe(p2, "login link")));
  await p2.getByRole("button", { name: "Log in" }).click();
  await p2.getByRole("heading", { name: "Choose a password" }).waitFor();
  violations.push(...(await axe(p2, "login link password")));
  await p2.getByLabel("New password").fill("a brand new password");
  await p2.getByRole("button", { name: "Set password" }).click();
  await p2.getByRole("heading", { name: "Sessions" }).waitFor();
  // Used once: the same link now says so.
  await p2.goto(url);
  await p2.getByRole("button", { name: "Log in" }).click();
  await p2.getByText(/not valid/).waitFor();
  await other.close();
  const r = await apiCall(srv.base, "", "POST", "/auth/email/login", { email: "member@example.com", password: "a brand new password" });
  assert.equal(r.status, 200);
});

test("accessibility: no serious or critical axe violations on any screen, light or dark", () => {
  assert.deepEqual(violations, []);
});
