// Unit tests of the review panel's diff parsing and side-by-side pairing
// (web/src/review/diff.ts), the highlighter's per-line output
// (web/src/review/highlight.ts) and the JSON editor's locator
// (web/src/jsonpos.ts), bundled with esbuild like transcript.test.mjs.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");
let dir, diff, hl, pos;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "review-test-"));
  const load = async (name, entry) => {
    const out = join(dir, name + ".mjs");
    await build({ entryPoints: [join(src, entry)], bundle: true, format: "esm", outfile: out, logLevel: "silent" });
    return import(pathToFileURL(out).href);
  };
  diff = await load("diff", "review/diff.ts");
  hl = await load("highlight", "review/highlight.ts");
  pos = await load("jsonpos", "jsonpos.ts");
});

after(() => rmSync(dir, { recursive: true, force: true }));

const DIFF = `diff --git a/x.go b/x.go
index 1..2 100644
--- a/x.go
+++ b/x.go
@@ -1,4 +1,5 @@ package x
 package x
-func A() {}
-func B() {}
+func A() int { return 1 }
+func B() int { return 2 }
+func C() {}
 // end
@@ -10,2 +11,2 @@
-a
+b
\\ No newline at end of file
`;

test("a unified diff parses into hunks with both line numbers", () => {
  const hunks = diff.parseDiff(DIFF);
  assert.equal(hunks.length, 2);
  const [h] = hunks;
  assert.deepEqual(
    h.lines.map((l) => [l.kind, l.old ?? null, l.new ?? null]),
    [
      ["ctx", 1, 1],
      ["del", 2, null],
      ["del", 3, null],
      ["add", null, 2],
      ["add", null, 3],
      ["add", null, 4],
      ["ctx", 4, 5],
    ],
  );
  assert.deepEqual(hunks[1].lines.map((l) => l.text), ["a", "b"], "the no-newline marker is not a line");
});

test("side by side: deletions face the additions that follow, context on both sides", () => {
  const rows = diff.pairLines(diff.parseDiff(DIFF)[0].lines);
  assert.deepEqual(
    rows.map((r) => [r.left?.kind ?? "-", r.right?.kind ?? "-"]),
    [
      ["ctx", "ctx"],
      ["del", "add"],
      ["del", "add"],
      ["-", "add"],
      ["ctx", "ctx"],
    ],
  );
});

test("highlighting keeps one valid line of HTML per line, even inside a multi-line comment", () => {
  const lines = ["/* a", "b */ func x() {", '  s := "<b>"'];
  const out = hl.highlightLines(lines, "go");
  assert.equal(out.length, 3);
  for (const l of out) assert.equal((l.match(/<span/g) ?? []).length, (l.match(/<\/span>/g) ?? []).length, l);
  assert.match(out[1], /^<span class="hljs-comment">b \*\/<\/span>/, "the comment goes on across the line break");
  assert.ok(!out[2].includes("<b>"), "text is escaped");
  assert.deepEqual(hl.highlightLines(["<i>"], undefined), ["&#60;i&#62;"]);
  assert.equal(hl.languageOf("web/src/App.tsx"), "typescript");
  assert.equal(hl.languageOf("README"), undefined);
});

test("the JSON locator finds a step by the server's path, or its nearest ancestor", () => {
  const text = JSON.stringify({ steps: [{ id: "a", type: "bash", command: "x" }, { id: "b", type: "conditional", then: [{ id: "c", type: "bash" }] }] }, null, 2);
  const at = (p) => {
    const s = pos.locate(text, p);
    return s && text.slice(s.start, s.end);
  };
  assert.equal(at("steps[0].command"), '"x"');
  assert.match(at("steps[1].then[0].command"), /^\{\s*"id": "c"/, "a missing field points at its step");
  assert.equal(pos.lineOf(text, pos.locate(text, "steps[1].then[0]").start), 12);
  assert.equal(pos.locate("{not json", "steps"), null);
});
