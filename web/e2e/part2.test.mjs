// End to end, part 2 of the web client: workflows (editor, triggers, runs,
// approval, trace, history), memory, the notification bell, the dashboard,
// and the session's workspace panels (review diff, files, artifacts), in
// Debian's Chromium against a real `agentops serve` with the script agent.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createHmac } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiCall, axe, launch, startServer } from "./harness.mjs";

let srv, browser, ctx, page, token, sessionId;
const violations = [];

before(async () => {
  srv = await startServer();
  browser = await launch();
  const reg = await fetch(srv.base + "/auth/email/register", {
    method: "POST",
    body: JSON.stringify({ email: "two@example.com", password: "a long passphrase", name: "Two" }),
  }).then((r) => r.json());
  token = reg.sessionToken;
  assert.ok(token, "registered");
  ctx = await browser.newContext({ baseURL: srv.proxyBase, viewport: { width: 1100, height: 900 } });
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto("/login");
  await page.evaluate((t) => localStorage.setItem("agentops.token", t), token);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const GOOD = {
  steps: [
    { id: "build", type: "bash", command: "echo building" },
    { id: "ship", type: "approval", prompt: "Ship it?" },
    { id: "done", type: "bash", command: "echo shipped" },
  ],
};

async function setEditor(value) {
  await page.locator("#json-editor").fill(typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

test("workflows: the editor points at the failing step; create, triggers, run, live notification, approve, trace, webhook and deny, history", async () => {
  await page.goto("/workflows");
  await page.getByRole("heading", { name: "Workflows", exact: true }).waitFor();
  await page.getByText("No workflows yet.").waitFor();
  violations.push(...(await axe(page, "workflows (empty)")));
  await page.getByRole("button", { name: "New workflow" }).click();
  await page.getByLabel("Id").fill("release");
  await page.getByLabel("Name").fill("Release");
  // The third step lacks its command: the error names it and its line.
  const bad = { steps: [GOOD.steps[0], GOOD.steps[1], { id: "done", type: "bash" }] };
  await setEditor(bad);
  await page.getByRole("button", { name: "Create workflow" }).click();
  const errs = page.locator(".step-errors");
  await errs.waitFor();
  assert.match(await errs.textContent(), /steps\[2\]\.command/);
  const lineBtn = errs.getByRole("button", { name: /^Line \d+$/ });
  const line = Number((await lineBtn.textContent()).replace(/\D/g, ""));
  const text = JSON.stringify(bad, null, 2).split("\n");
  assert.match(text[line - 1], /"id": "done"|"type": "bash"|\{/, `line ${line} is in the failing step: ${text[line - 1]}`);
  assert.ok(line >= text.findIndex((l) => l.includes('"done"')), "the line is at the third step");
  await lineBtn.click();
  const sel = await page.locator("#json-editor").evaluate((ta) => ta.value.slice(ta.selectionStart, ta.selectionEnd));
  assert.match(sel, /"done"/, "clicking the error selects the failing step");
  violations.push(...(await axe(page, "new workflow with errors")));

  await setEditor(GOOD);
  await page.getByRole("button", { name: "Create workflow" }).click();
  await page.waitForURL("**/workflows/release");
  await page.getByRole("heading", { name: "Release" }).waitFor();

  // A webhook trigger: its URL, and its secret shown once, both with Copy.
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.getByRole("button", { name: "Add trigger" }).click();
  await page.getByLabel("Trigger name").fill("On push");
  await page.getByLabel("Type").selectOption("webhook");
  const secret = await page.getByLabel("Signing secret").inputValue();
  assert.match(secret, /^[0-9a-f]{48}$/);
  await page.getByRole("button", { name: "Create trigger" }).click();
  const hook = page.locator(".trigger", { hasText: "On push" });
  await hook.locator("code", { hasText: "/webhooks/" }).waitFor();
  const url = await hook.locator("code", { hasText: "/webhooks/" }).textContent();
  assert.ok(url.startsWith(srv.base + "/webhooks/"), url);
  await hook.getByRole("button", { name: "Copy the webhook URL of On push" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
  assert.equal(await hook.locator("code", { hasText: secret }).count(), 1, "the secret is shown once after saving");
  await hook.getByRole("button", { name: "Copy the signing secret" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);

  // A schedule: its next five run times.
  await page.getByRole("button", { name: "Add trigger" }).click();
  await page.getByLabel("Trigger name").fill("Nightly");
  await page.getByLabel("Type").selectOption("schedule");
  await page.getByLabel("Cron expression").fill("30 2 * * *");
  await page.getByLabel("Time zone").fill("UTC");
  await page.getByRole("button", { name: "Create trigger" }).click();
  const runs = page.getByRole("list", { name: "Next runs of Nightly" });
  await runs.waitFor();
  const times = await runs.locator("time").evaluateAll((ts) => ts.map((t) => t.getAttribute("datetime")));
  assert.equal(times.length, 5);
  for (const t of times) assert.match(t, /T02:30:00/);
  // Edit it: a bad expression is refused next to its field, a good one changes the times.
  await page.getByRole("button", { name: "Edit Nightly" }).click();
  await page.getByLabel("Cron expression").fill("61 * * * *");
  await page.getByRole("button", { name: "Save trigger" }).click();
  await page.locator(".field-error").first().waitFor();
  await page.getByLabel("Cron expression").fill("0 6 * * *");
  await page.getByRole("button", { name: "Save trigger" }).click();
  await runs.locator("time").first().waitFor();
  await page.waitForFunction(() => document.querySelector('[aria-label="Next runs of Nightly"] time')?.getAttribute("datetime")?.includes("T06:00:00"));
  // A manual trigger, and the schedule deleted.
  await page.getByRole("button", { name: "Add trigger" }).click();
  await page.getByLabel("Trigger name").fill("By hand");
  await page.getByRole("button", { name: "Create trigger" }).click();
  await page.locator(".trigger", { hasText: "By hand" }).waitFor();
  violations.push(...(await axe(page, "workflow with triggers")));
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete Nightly" }).click();
  await runs.waitFor({ state: "detached" });

  // Run it from its trigger: the bell's count goes up live when the run waits for approval.
  const bell = page.locator(".top .bell");
  assert.equal(await bell.getAttribute("aria-label"), "Notifications");
  await page.locator(".trigger", { hasText: "By hand" }).getByRole("button", { name: "Run", exact: true }).click();
  await page.waitForURL(/\/executions\//);
  await page.getByText("By hand (manual)").waitFor();
  const approval = page.getByRole("region", { name: "Approval" });
  await approval.waitFor({ timeout: 60000 });
  assert.match(await approval.textContent(), /Ship it\?/);
  await page.waitForFunction(() => document.querySelector(".top .bell")?.getAttribute("aria-label") === "Notifications, 1 unread", null, { timeout: 20000 });
  assert.equal(await page.getByTestId("unread-count").textContent(), "1");
  violations.push(...(await axe(page, "execution waiting for approval")));
  await approval.getByRole("button", { name: "Approve" }).click();
  await page.locator(".session-head .badge", { hasText: "completed" }).waitFor({ timeout: 60000 });
  const trace = page.getByRole("list", { name: "Step trace" });
  for (const id of ["build", "ship", "done"]) await trace.locator("summary", { hasText: id }).waitFor();
  assert.equal(await trace.locator("summary .badge", { hasText: "completed" }).count(), 3);
  await trace.locator("summary", { hasText: "done" }).click();
  await trace.getByText("shipped").first().waitFor();
  violations.push(...(await axe(page, "execution trace")));

  // The webhook, signed with the secret the page showed, starts a run; deny it with a reason.
  const payload = JSON.stringify({ ref: "refs/tags/v1" });
  const sig = createHmac("sha256", secret).update(payload).digest("hex");
  const hookRes = await fetch(url, { method: "POST", headers: { "X-Webhook-Signature": sig, "Content-Type": "application/json" }, body: payload });
  assert.equal(hookRes.status, 202);
  const { executionId } = await hookRes.json();
  await page.goto("/workflows/release");
  await page.getByRole("list", { name: "Executions" }).locator(`a[href="/executions/${executionId}"]`).click();
  await approval.waitFor({ timeout: 60000 });
  await approval.getByLabel("Reason (optional)").fill("not today");
  await approval.getByRole("button", { name: "Deny" }).click();
  await page.locator(".session-head .badge", { hasText: "cancelled" }).waitFor({ timeout: 30000 });
  await page.getByText(/approval_denied: not today/).waitFor();

  // The inbox has the approval; marking it read clears the bell.
  // The inbox and the bell share the page's one event stream.
  const streams = [];
  const onReq = (r) => r.url().includes("/api/events?") && streams.push(r.url());
  page.on("request", onReq);
  await bell.click();
  await page.getByRole("heading", { name: "Notifications" }).waitFor();
  const note = page.locator(".inbox li", { hasText: "Ship it?" }).first();
  await note.waitFor();
  violations.push(...(await axe(page, "inbox")));
  await page.getByRole("button", { name: "Mark all read" }).click();
  await page.waitForFunction(() => document.querySelector(".top .bell")?.getAttribute("aria-label") === "Notifications");
  page.off("request", onReq);
  assert.deepEqual(streams, [], "no second event stream was opened");

  // History and rollback.
  await page.goto("/workflows/release");
  await setEditor({ steps: [{ id: "only", type: "bash", command: "echo v2" }] });
  await page.getByRole("button", { name: "Save definition" }).click();
  const hist = page.getByRole("table", { name: "Version history" });
  await hist.locator("tbody tr").nth(1).waitFor();
  assert.match(await page.getByLabel("Steps (JSON)").inputValue(), /echo v2/);
  page.once("dialog", (d) => d.accept());
  await hist.getByRole("button", { name: /Roll back to v1\.0\.0/ }).first().click();
  await hist.locator("tbody tr").nth(2).waitFor();
  await page.waitForFunction(() => document.querySelector("#json-editor")?.value.includes("echo shipped"));
  assert.match(await hist.locator("tbody tr").first().textContent(), /rollback/);
});

test("memory: browse by folder, search with snippets, edit and delete a file", async () => {
  for (const [path, content] of [
    ["notes/deploy.md", "# Deploying\n\nRun the migrations first.\nThen restart the blue replica.\n"],
    ["notes/ideas.md", "# Ideas\n\nA faster build cache.\n"],
    ["preferences/style.md", "# Style\n\nShort sentences.\n"],
  ])
    assert.equal((await apiCall(srv.base, token, "PUT", "/api/me/memory", { path, content })).status, 201);
  await page.goto("/memory");
  await page.getByRole("heading", { name: "Memory" }).waitFor();
  await page.getByRole("link", { name: "notes/" }).click();
  await page.getByRole("link", { name: "deploy.md" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "style.md" }).count(), 0, "only the folder's files");
  violations.push(...(await axe(page, "memory folder")));
  await page.getByLabel("Search memory").fill("replica");
  await page.getByRole("button", { name: "Search" }).click();
  const hit = page.getByRole("list", { name: "Search results" }).locator("li").first();
  await hit.waitFor();
  assert.match(await hit.textContent(), /notes\/deploy\.md/);
  assert.equal(await hit.locator("mark").first().textContent(), "replica");
  violations.push(...(await axe(page, "memory search")));
  await hit.getByRole("link").click();
  await page.getByRole("heading", { name: "Deploying", level: 2 }).waitFor();
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Content (markdown)").fill("# Deploying\n\nRun the migrations, then restart **green**.\n");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator(".memory-file strong", { hasText: "green" }).waitFor();
  const r = await apiCall(srv.base, token, "GET", "/api/me/memory?path=notes/deploy.md");
  assert.match(r.body.file.content, /restart \*\*green\*\*/);
  assert.equal(r.body.file.version, 2);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/memory\?path=notes/);
  await page.getByRole("link", { name: "ideas.md" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "deploy.md" }).count(), 0);
});

async function prompt(text) {
  await page.getByRole("textbox", { name: "Prompt", exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

test("review panel: a file the agent writes appears with its diff; files panel; artifacts upload and download", async () => {
  const made = await apiCall(srv.base, token, "POST", "/api/sessions", { workspace: "review", title: "Review demo" });
  sessionId = made.body.session.id;
  await page.goto(`/sessions/${sessionId}`);
  await page.getByText("Runner ready").waitFor({ timeout: 30000 });
  await page.locator(".panels > summary").click();
  const review = page.getByRole("tabpanel");
  await review.getByText("No changes against the base commit.").waitFor({ timeout: 20000 });
  await prompt("/write src/main.go package main\\n\\n// greet says hello\\nfunc main() {\\n\\tprintln(\"hi\")\\n}\nwrite it");
  const file = review.getByRole("button", { name: "src/main.go" });
  await file.waitFor({ timeout: 30000 });
  assert.match(await review.getByRole("list", { name: "Changed files" }).textContent(), /added/);
  await file.click();
  const diff = page.getByRole("region", { name: "Diff of src/main.go" });
  await diff.locator("tr.ln-add").first().waitFor({ timeout: 30000 });
  assert.equal(await diff.locator("tr.ln-add").count(), 6);
  assert.ok((await diff.locator(".hljs-keyword", { hasText: "func" }).count()) >= 1, "the code is highlighted");
  assert.ok((await diff.locator(".hljs-comment").count()) >= 1);
  violations.push(...(await axe(page, "review: unified diff")));
  await diff.getByRole("button", { name: "Side by side" }).click();
  const split = diff.getByRole("table", { name: "Side-by-side diff of src/main.go" });
  await split.waitFor();
  assert.equal(await split.locator("td.code.ln-add").count(), 6);
  assert.equal(await split.locator("td.code.empty").count(), 6, "an added file has nothing on the left");
  violations.push(...(await axe(page, "review: side-by-side diff")));
  await diff.getByRole("button", { name: "Unified" }).click();

  // A second edit updates the list live (the socket's files-changed frame).
  await prompt("/write README.md hello\nand a readme");
  await review.getByRole("button", { name: "README.md" }).waitFor({ timeout: 30000 });

  // The file panel browses the workspace.
  await page.getByRole("tab", { name: "Files" }).click();
  const tree = page.getByRole("list", { name: "Workspace files" });
  await tree.getByRole("button", { name: "src/" }).click();
  await tree.getByRole("button", { name: "main.go" }).click();
  const view = page.getByRole("region", { name: "File src/main.go" });
  await view.locator(".hljs-keyword", { hasText: "package" }).waitFor();
  assert.match(await view.textContent(), /println\("hi"\)/);
  violations.push(...(await axe(page, "files panel")));

  // Artifacts: upload with progress, then download the same bytes.
  await page.getByRole("tab", { name: "Artifacts" }).click();
  await page.getByText("No artifacts yet.").waitFor();
  const body = Buffer.from("x".repeat(3 * 1024 * 1024));
  await page.getByLabel("Upload an artifact").setInputFiles({ name: "report.txt", mimeType: "text/plain", buffer: body });
  const table = page.getByRole("table", { name: "Artifacts" });
  await table.getByRole("cell", { name: "report.txt", exact: true }).waitFor({ timeout: 30000 });
  await page.getByText("Uploaded report.txt.").waitFor();
  assert.match(await table.textContent(), /3\.0 MiB/);
  violations.push(...(await axe(page, "artifacts")));
  const [dl] = await Promise.all([page.waitForEvent("download"), table.getByRole("button", { name: "Download report.txt" }).click()]);
  assert.equal(dl.suggestedFilename(), "report.txt");
  const path = await dl.path();
  assert.equal(readFileSync(path).length, body.length);
});

test("an upload shows its progress while it runs", async () => {
  // A slow link (the harness's proxy paces what the browser sends) so that progress is visible.
  srv.proxy.paceUploads(8 * 1024 * 1024);
  // From a file on disk: a large buffer passed through the DevTools protocol would take longer than the upload.
  const big = join(srv.dir, "big.bin");
  writeFileSync(big, Buffer.alloc(24 * 1024 * 1024, 7));
  await page.getByLabel("Upload an artifact").setInputFiles(big);
  await page.waitForFunction(() => {
    const p = document.querySelector("#upload-progress");
    return p && p.value > 0 && p.value < p.max;
  }, null, { timeout: 20000 });
  await page.getByRole("table", { name: "Artifacts" }).getByRole("cell", { name: "big.bin", exact: true }).waitFor({ timeout: 60000 });
  srv.proxy.paceUploads(0);
});

test("dashboard: hero figures, the daily chart, recent and active sessions", async () => {
  await page.goto("/dashboard");
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  const figures = page.locator(".hero");
  await figures.waitFor();
  assert.match(await figures.textContent(), /Sessions/);
  assert.equal(await page.locator(".chart svg rect.bar").count(), 14);
  await page.locator("section", { hasText: "Recent sessions" }).getByRole("link", { name: "review" }).first().waitFor();
  violations.push(...(await axe(page, "dashboard")));
  await page.getByLabel("Period").selectOption("7");
  await page.waitForFunction(() => document.querySelectorAll(".chart svg rect.bar").length === 7);
});

test("review panel: commit, push and pull request show the server's answers and errors", async () => {
  await page.goto(`/sessions/${sessionId}`);
  await page.getByText("Runner ready").waitFor({ timeout: 30000 });
  const panels = page.locator(".panels");
  if ((await panels.getAttribute("open")) === null) await panels.locator("> summary").click();
  await page.getByRole("tab", { name: "Review" }).click();
  // While a turn runs the server refuses: 409 TURN_RUNNING, said plainly.
  await prompt("/slow 300\n/chunks 20\nslow turn so that the commit is refused while it runs");
  await page.getByLabel("Commit message").fill("Add main.go");
  await page.getByRole("button", { name: "Commit", exact: true }).click();
  await page.getByText(/in the middle of a turn/).waitFor({ timeout: 20000 });
  await page.locator('[role="log"] .msg-assistant').last().filter({ hasText: "while it runs" }).waitFor({ timeout: 30000 });
  await page.getByRole("button", { name: "Commit", exact: true }).click();
  await page.getByText(/^Committed [0-9a-f]{7}: Add main\.go$/).waitFor({ timeout: 20000 });
  // This session has no remote: push and the pull request show the server's error.
  await page.getByRole("button", { name: "Push" }).click();
  await page.locator(".git-actions .form-error").waitFor({ timeout: 20000 });
  await page.getByText("Open a pull request").click();
  await page.getByLabel("Repository URL").fill("https://github.com/example/nothing");
  await page.getByLabel("Title").fill("Add main.go");
  await page.getByRole("button", { name: "Open pull request" }).click();
  await page.locator(".git-actions .form-error").waitFor({ timeout: 20000 });
  violations.push(...(await axe(page, "review: git actions")));
});

test("accessibility (part 2): no serious or critical axe violations, light or dark", () => {
  assert.deepEqual(violations, []);
});
