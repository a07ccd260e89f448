// Unit tests of the transcript merge (web/src/transcript.ts): text placed
// by chunk offsets, never lost or doubled, whatever order REST loads and
// socket frames arrive in. The TypeScript is bundled with esbuild (Vite's
// own compiler) into a temporary module.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "transcript.ts");
let dir, Transcript, textLen;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "transcript-test-"));
  const out = join(dir, "transcript.mjs");
  await build({ entryPoints: [src], bundle: true, format: "esm", outfile: out, logLevel: "silent" });
  ({ Transcript, textLen } = await import(pathToFileURL(out).href));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const text = (t, id) => t.byId.get(id).parts.filter((p) => p.type === "text").map((p) => p.text).join("");
const msg = (id, s, extra = {}) => ({ id, role: "assistant", content: s, parts: s ? [{ type: "text", text: s, streaming: true }] : [], createdAt: 1, ...extra });

test("chunks append at their offsets; repeats are dropped", () => {
  let gaps = 0;
  const t = new Transcript(() => gaps++);
  t.chunk("m", "Hello", 0);
  t.chunk("m", ", wor", 5);
  t.chunk("m", "Hello", 0); // a repeat
  t.chunk("m", "o, world", 4); // overlaps what we have
  assert.equal(text(t, "m"), "Hello, world");
  assert.equal(gaps, 0);
});

test("a gap waits for the reload, then the waiting chunks apply once", () => {
  let gaps = 0;
  const t = new Transcript(() => gaps++);
  t.upsert(msg("m", "abc"));
  t.chunk("m", "ghi", 6); // "def" is missing
  assert.equal(text(t, "m"), "abc");
  assert.equal(gaps, 1);
  assert.ok(t.hasGap());
  t.load([msg("m", "abcdef")]); // the REST reload has caught up
  assert.equal(text(t, "m"), "abcdefghi");
  assert.ok(!t.hasGap());
});

test("a lagging REST load never shortens streamed text", () => {
  const t = new Transcript(() => {});
  t.upsert({ id: "u", role: "user", content: "hi", parts: [], createdAt: 1 });
  t.chunk("m", "streamed text", 0);
  t.load([{ id: "u", role: "user", content: "hi", parts: [], createdAt: 1 }, msg("m", "stream")]);
  assert.equal(text(t, "m"), "streamed text");
  assert.deepEqual(t.list().map((m) => m.id), ["u", "m"]);
});

test("a finalized message replaces the streamed one; removed messages go", () => {
  const t = new Transcript(() => {});
  t.chunk("m", "partial", 0);
  t.upsert({ ...msg("m", "the final text"), parts: [{ type: "text", text: "the final text" }, { type: "finish", reason: "end_turn" }] });
  assert.equal(text(t, "m"), "the final text");
  t.remove(["m"]);
  assert.equal(t.list().length, 0);
});

test("a text chunk after a tool part starts a new text part (as the server does)", () => {
  const t = new Transcript(() => {});
  t.chunk("m", "Let me look.", 0);
  t.upsert({ ...msg("m", "Let me look."), parts: [{ type: "text", text: "Let me look." }, { type: "tool-call", callId: "c1", toolName: "read", status: "running" }] });
  t.chunk("m", " Done.", 12);
  const parts = t.byId.get("m").parts;
  assert.deepEqual(parts.map((p) => p.type), ["text", "tool-call", "text"]);
  assert.equal(textLen(t.byId.get("m")), 18);
});

test("message.part.updated (agentops.v2) changes one part and keeps longer streamed text", () => {
  const t = new Transcript(() => {});
  t.chunk("m", "abcdef", 0);
  t.part("m", 1, { type: "tool-call", callId: "c", toolName: "grep", status: "completed", result: { ok: true } });
  t.part("m", 0, { type: "text", text: "abc", streaming: true }); // older than what streamed
  const parts = t.byId.get("m").parts;
  assert.equal(parts[0].text, "abcdef");
  assert.equal(parts[1].status, "completed");
});

test("a new text part sent without its (empty) text starts empty, and chunks append to it", () => {
  const t = new Transcript(() => {});
  t.chunk("m", "", 0);
  t.part("m", 0, { type: "tool-call", callId: "c", toolName: "grep", status: "running" });
  t.part("m", 1, { type: "text", streaming: true });
  assert.equal(t.byId.get("m").parts[1].text, "");
  t.part("m", 1, { type: "text", text: "done", streaming: false });
  assert.equal(t.byId.get("m").parts[1].text, "done");
});

test("offsets count UTF-16 code units, as the server does", () => {
  const t = new Transcript(() => {});
  t.chunk("m", "😀a", 0); // the emoji is 2 code units
  t.chunk("m", "b", 3);
  assert.equal(text(t, "m"), "😀ab");
});
