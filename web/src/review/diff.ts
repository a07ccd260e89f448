// Unified diff text → rows for the unified and side-by-side views.

export type Line = { kind: "ctx" | "add" | "del"; text: string; old?: number; new?: number };
export type Hunk = { header: string; lines: Line[] };

export function parseDiff(diff: string): Hunk[] {
  const hunks: Hunk[] = [];
  let h: Hunk | null = null;
  let o = 0;
  let n = 0;
  for (const raw of diff.split("\n")) {
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/.exec(raw);
    if (m) {
      h = { header: raw, lines: [] };
      hunks.push(h);
      o = +m[1];
      n = +m[2];
      continue;
    }
    if (!h) continue; // the file header (diff --git, index, ---, +++)
    if (raw.startsWith("+")) h.lines.push({ kind: "add", text: raw.slice(1), new: n++ });
    else if (raw.startsWith("-")) h.lines.push({ kind: "del", text: raw.slice(1), old: o++ });
    else if (raw.startsWith(" ")) h.lines.push({ kind: "ctx", text: raw.slice(1), old: o++, new: n++ });
    // "\ No newline at end of file" and the final empty line are not shown
  }
  return hunks;
}

export type Pair = { left?: Line; right?: Line };

/** Side by side: context on both sides; a run of deletions faces the run of additions that follows it. */
export function pairLines(lines: Line[]): Pair[] {
  const out: Pair[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i];
    if (l.kind === "ctx") {
      out.push({ left: l, right: l });
      i++;
      continue;
    }
    const dels: Line[] = [];
    const adds: Line[] = [];
    while (i < lines.length && lines[i].kind === "del") dels.push(lines[i++]);
    while (i < lines.length && lines[i].kind === "add") adds.push(lines[i++]);
    for (let k = 0; k < Math.max(dels.length, adds.length); k++) out.push({ left: dels[k], right: adds[k] });
  }
  return out;
}
