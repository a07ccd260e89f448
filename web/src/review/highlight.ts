// Syntax highlighting for the review panel: highlight.js's core with the
// languages agents most often touch (registered one by one so the chunk
// stays small). It escapes the text it is given; we only insert its output.
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

const langs: Record<string, any> = { bash, css, go, javascript, json, markdown, python, rust, sql, typescript, xml, yaml };
for (const [name, l] of Object.entries(langs)) hljs.registerLanguage(name, l);

const BY_EXT: Record<string, string> = {
  sh: "bash",
  bash: "bash",
  css: "css",
  go: "go",
  js: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  jsx: "javascript",
  json: "json",
  md: "markdown",
  py: "python",
  rs: "rust",
  sql: "sql",
  ts: "typescript",
  tsx: "typescript",
  html: "xml",
  xml: "xml",
  svg: "xml",
  yml: "yaml",
  yaml: "yaml",
};

export function languageOf(path: string): string | undefined {
  const base = path.split("/").pop() ?? "";
  if (base === "Dockerfile" || base === "Makefile") return "bash";
  const ext = base.includes(".") ? base.split(".").pop()!.toLowerCase() : "";
  return BY_EXT[ext];
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Highlighted HTML for each line; lines are highlighted as one text so that strings and comments spanning lines stay right. */
export function highlightLines(lines: string[], lang: string | undefined): string[] {
  if (!lang) return lines.map(esc);
  const html = hljs.highlight(lines.join("\n"), { language: lang, ignoreIllegals: true }).value;
  return splitHtml(html);
}

// Splits highlight.js output at newlines, closing the spans open at the end
// of a line and reopening them on the next, so each line is valid HTML.
function splitHtml(html: string): string[] {
  const out: string[] = [];
  const open: string[] = [];
  let cur = "";
  const re = /(<span[^>]*>)|(<\/span>)|(\n)|([^<\n]+)/g;
  for (const m of html.matchAll(re)) {
    if (m[1]) {
      open.push(m[1]);
      cur += m[1];
    } else if (m[2]) {
      open.pop();
      cur += m[2];
    } else if (m[3]) {
      out.push(cur + "</span>".repeat(open.length));
      cur = open.join("");
    } else cur += m[4];
  }
  out.push(cur + "</span>".repeat(open.length));
  return out;
}
