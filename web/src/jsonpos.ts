// Where a value sits in JSON text: the server names a failing step by a path
// into the definition (`steps[2].then[0].command`); the editor needs the
// line it is on. A small scanner that records each value's offsets by path,
// forgiving nothing (it runs only on text JSON.parse accepted).

export type Span = { start: number; end: number };

export function spans(text: string): Map<string, Span> {
  const out = new Map<string, Span>();
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i])) i++;
  };
  const str = () => {
    const s = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(s, i)) as string;
  };
  const value = (path: string) => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") i++;
      else
        for (;;) {
          ws();
          const k = str();
          ws();
          i++; // :
          value(path ? `${path}.${k}` : k);
          ws();
          if (text[i++] === "}") break;
        }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") i++;
      else
        for (let n = 0; ; n++) {
          value(`${path}[${n}]`);
          ws();
          if (text[i++] === "]") break;
        }
    } else if (c === '"') str();
    else while (i < text.length && !",}] \t\r\n".includes(text[i])) i++;
    out.set(path, { start, end: i });
  };
  value("");
  return out;
}

/** The span of the path, or of its nearest ancestor that exists (a missing field points at its step). */
export function locate(text: string, path: string): Span | null {
  let m: Map<string, Span>;
  try {
    JSON.parse(text);
    m = spans(text);
  } catch {
    return null;
  }
  let p = path;
  for (;;) {
    const s = m.get(p);
    if (s) return s;
    if (!p) return null;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    p = cut < 0 ? "" : p.slice(0, cut);
  }
}

export function lineOf(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}
