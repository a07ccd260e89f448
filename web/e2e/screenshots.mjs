// Screenshots of the main screens, light and dark, for docs/ and the README:
//   make web-screenshots   (writes docs/screenshots/*.png)
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { apiCall, launch, startServer } from "./harness.mjs";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "screenshots");
mkdirSync(out, { recursive: true });
const srv = await startServer();
const browser = await launch();
try {
  const reg = await fetch(srv.base + "/auth/email/register", {
    method: "POST",
    body: JSON.stringify({ email: "you@example.com", password: "a long passphrase", name: "You" }),
  }).then((r) => r.json());
  const token = reg.sessionToken;
  const made = await apiCall(srv.base, token, "POST", "/api/sessions", { workspace: "my-app", title: "Fix the login bug" });
  const id = made.body.session.id;
  await apiCall(srv.base, token, "POST", "/api/sessions", { workspace: "docs", title: "Write the README" });
  const ctx = await browser.newContext({ baseURL: srv.base, viewport: { width: 1100, height: 760 } });
  const page = await ctx.newPage();
  await page.goto("/login");
  await page.evaluate((t) => localStorage.setItem("agentops.token", t), token);
  await page.goto(`/sessions/${id}`);
  await page.getByText("Runner ready").waitFor({ timeout: 30000 });
  await apiCall(srv.base, token, "POST", `/api/sessions/${id}/prompt`, {
    content: '/tool read completed {"path":"app/login.go"}\n/tool go_test error {"pkg":"./app"}\nThe login fails when the email has **upper-case** letters:\n\n```go\nfunc normalize(email string) string {\n\treturn strings.ToLower(strings.TrimSpace(email)) // fold case\n}\n```',
  });
  await page.locator(".msg-assistant").last().getByText("fold case").waitFor({ timeout: 30000 });
  await apiCall(srv.base, token, "POST", `/api/sessions/${id}/prompt`, { content: "/ask Run the whole test suite? | yes | no\nThen commit." });
  await page.getByRole("region", { name: "Question from the agent" }).waitFor();
  const shots = [
    ["session", `/sessions/${id}`],
    ["sessions", "/"],
    ["settings", "/settings/keys"],
  ];
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [name, path] of shots) {
      if (page.url() !== srv.base + path) await page.goto(path);
      await page.waitForTimeout(700);
      await page.screenshot({ path: join(out, `${name}-${scheme}.png`) });
    }
    const anon = await browser.newContext({ baseURL: srv.base, viewport: { width: 1100, height: 760 }, colorScheme: scheme });
    const p2 = await anon.newPage();
    await p2.goto("/login");
    await p2.getByRole("heading", { name: "Log in" }).waitFor();
    await p2.screenshot({ path: join(out, `login-${scheme}.png`) });
    await anon.close();
  }
  // Part 2: workflows, a run waiting for approval and its trace, memory,
  // the dashboard, the inbox and the review panel.
  await page.emulateMedia({ colorScheme: "light" });
  await apiCall(srv.base, token, "POST", "/api/workflows/sync", {
    id: "release",
    name: "Release",
    data: {
      steps: [
        { id: "test", type: "bash", command: "echo all tests pass" },
        { id: "approve", type: "approval", prompt: "Tag v1.4.0 and publish?" },
        { id: "publish", type: "bash", command: "echo published v1.4.0" },
      ],
    },
  });
  await apiCall(srv.base, token, "POST", "/api/triggers", { workflowId: "release", name: "Nightly", config: { type: "schedule", cron: "30 2 * * 1-5", timezone: "UTC" } });
  await apiCall(srv.base, token, "POST", "/api/triggers", { workflowId: "release", name: "On tag", config: { type: "webhook", path: "release-on-tag", secret: "s3cret-for-the-screenshot" } });
  const run = await apiCall(srv.base, token, "POST", "/api/triggers/manual/run", { workflowId: "release" });
  const exec = run.body.executionId;
  for (const [path, content] of [
    ["projects/my-app/deploy.md", "# Deploying my-app\n\nRun the migrations first, then restart the blue replica.\n"],
    ["projects/my-app/login.md", "# Login\n\nEmails are case-insensitive: normalize before lookup.\n"],
    ["preferences/style.md", "# Style\n\nShort sentences. Tests first.\n"],
  ])
    await apiCall(srv.base, token, "PUT", "/api/me/memory", { path, content });
  await page.goto(`/executions/${exec}`);
  await page.getByRole("region", { name: "Approval" }).waitFor({ timeout: 60000 });
  await page.goto(`/sessions/${id}`);
  await page.getByText("Runner ready").waitFor({ timeout: 30000 });
  await page.evaluate(() => sessionStorage.setItem("agentops.panelOpen", "1"));
  // The question asked above holds the agent: answer it first.
  await page.getByRole("region", { name: "Question from the agent" }).getByRole("button", { name: "yes" }).click();
  await apiCall(srv.base, token, "POST", `/api/sessions/${id}/prompt`, {
    content:
      '/write app/login.go package app\\n\\nimport "strings"\\n\\n// normalize folds an email for lookups.\\nfunc normalize(email string) string {\\n\treturn strings.ToLower(strings.TrimSpace(email))\\n}\\n\\nfunc Login(email, password string) error {\\n\treturn check(normalize(email), password)\\n}\nFixed.',
  });
  await page.locator(".msg-assistant").last().getByText("Fixed.").waitFor({ timeout: 30000 });
  const shots2 = [
    ["workflow", "/workflows/release", null],
    ["execution", `/executions/${exec}`, null],
    ["memory", "/memory?q=replica", null],
    ["dashboard", "/dashboard", null],
    ["notifications", "/notifications", null],
    ["review", `/sessions/${id}`, "review"],
  ];
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [name, path, what] of shots2) {
      await page.goto(path);
      await page.waitForLoadState("networkidle").catch(() => {});
      if (what === "review") {
        await page.getByRole("button", { name: "app/login.go" }).click();
        await page.locator("tr.ln-add").first().waitFor({ timeout: 30000 });
        await page.waitForTimeout(700);
        await page.locator(".panels").screenshot({ path: join(out, `${name}-${scheme}.png`) });
        continue;
      }
      await page.waitForTimeout(700);
      await page.screenshot({ path: join(out, `${name}-${scheme}.png`) });
    }
  }
  await page.emulateMedia({ colorScheme: "light" });
  await page.getByRole("button", { name: "Side by side" }).click();
  await page.waitForTimeout(300);
  await page.locator(".diff-box").screenshot({ path: join(out, "review-side-by-side-light.png") });
  await page.getByRole("button", { name: "Unified" }).click();

  const phone = await browser.newContext({ baseURL: srv.base, viewport: { width: 375, height: 760 } });
  const p3 = await phone.newPage();
  await p3.goto("/login");
  await p3.evaluate((t) => localStorage.setItem("agentops.token", t), token);
  await p3.goto(`/sessions/${id}`);
  await p3.locator(".msg-assistant").first().waitFor();
  await p3.waitForTimeout(700);
  await p3.screenshot({ path: join(out, "session-phone.png") });
  await phone.close();
  console.log("screenshots in", out);
} finally {
  await browser.close();
  await srv.stop();
}
