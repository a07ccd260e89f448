// Browser figures for docs/benchmarks.md (make web-bench):
// 1. navigation to a session whose transcript has 2,000 messages: the load
//    event, and the last message painted;
// 2. the page's JS heap after 10,000 streamed chunks (Chromium's
//    Performance.getMetrics), with the time the stream took to render.
import { apiCall, launch, startServer } from "./harness.mjs";

const TURNS = Number(process.env.TURNS ?? 1000); // 2 messages per turn
const srv = await startServer();
const browser = await launch();
try {
  const { sessionToken: token } = await fetch(srv.base + "/auth/email/register", {
    method: "POST",
    body: JSON.stringify({ email: "bench@example.com", password: "a long passphrase" }),
  }).then((r) => r.json());
  const mk = async (title) => (await apiCall(srv.base, token, "POST", "/api/sessions", { workspace: "bench", title })).body.session.id;
  const idle = async (id) => {
    for (;;) {
      const s = (await apiCall(srv.base, token, "GET", `/api/sessions/${id}`)).body.doStatus;
      if (s.runnerReady && !s.runnerBusy && !s.queuedPrompts) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const id = await mk("transcript");
  await idle(id);
  const t0 = Date.now();
  for (let i = 0; i < TURNS; i++) {
    const r = await apiCall(srv.base, token, "POST", `/api/sessions/${id}/prompt`, {
      content: `Message ${i}: some *markdown* with \`code\` and a [link](https://example.com).`,
    });
    if (r.status !== 200) throw new Error(JSON.stringify(r));
    await idle(id);
  }
  const n = (await apiCall(srv.base, token, "GET", `/api/sessions/${id}/messages`)).body.messages.length;
  console.log(`made ${n} messages in ${Date.now() - t0} ms`);

  const ctx = await browser.newContext({ baseURL: srv.base, viewport: { width: 1100, height: 900 } });
  const page = await ctx.newPage();
  await page.goto("/login");
  await page.evaluate((t) => localStorage.setItem("agentops.token", t), token);
  const runs = [];
  for (let run = 0; run < 5; run++) {
    await page.goto("/login");
    const start = Date.now();
    await page.goto(`/sessions/${id}`);
    await page.locator(".msg-assistant").last().getByText(`Message ${TURNS - 1}:`).waitFor({ timeout: 60000 });
    const painted = await page.evaluate(
      () => new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0))),
    );
    const load = await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd);
    // Then every earlier message, as a reader who scrolls back to the start.
    const t1 = await page.evaluate(() => performance.now());
    // Clicked from inside the page, so that the figure is the app's work,
    // not the driver's actionability checks.
    await page.evaluate(async () => {
      const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      for (;;) {
        const b = [...document.querySelectorAll("button")].find((x) => x.textContent.startsWith("Show earlier messages"));
        if (!b) return;
        b.click();
        await frame();
      }
    });
    await page.locator(".msg").nth(n - 1).waitFor();
    const allPainted = await page.evaluate(
      () => new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0))),
    );
    runs.push({ load: Math.round(load), painted: Math.round(painted), all: Math.round(allPainted - t1) });
  }
  console.log(`transcript of ${n} messages (5 navigations, ms since navigation start):`);
  for (const r of runs)
    console.log(`  load event ${r.load}, last message painted ${r.painted}; all ${n} rendered ${r.all} ms after asking`);

  // 10,000 chunks.
  const sid = await mk("stream");
  await idle(sid);
  await page.goto(`/sessions/${sid}`);
  await page.getByText("Runner ready").waitFor({ timeout: 30000 });
  const words = Array.from({ length: 2500 }, (_, i) => `w${String(i).padStart(4, "0")}`).join(" ") + " END";
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Performance.enable");
  await cdp.send("HeapProfiler.collectGarbage");
  const before = Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
  const s0 = Date.now();
  await apiCall(srv.base, token, "POST", `/api/sessions/${sid}/prompt`, { content: `/chunks 10000\n${words}` });
  await page.locator(".msg-assistant").last().getByText("END").waitFor({ timeout: 120000 });
  const streamMs = Date.now() - s0;
  const frames = await page.evaluate(() => performance.getEntriesByType("resource").length);
  await cdp.send("HeapProfiler.collectGarbage");
  const after = Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
  const mb = (b) => (b / 1048576).toFixed(1);
  console.log(
    `10,000 chunks (${words.length + 10} characters): rendered in ${streamMs} ms; JS heap used ${mb(before.JSHeapUsedSize)} MiB before, ${mb(after.JSHeapUsedSize)} MiB after (total ${mb(after.JSHeapTotalSize)} MiB); DOM nodes ${after.Nodes}; ${frames} resources`,
  );
} finally {
  await browser.close();
  await srv.stop();
}
