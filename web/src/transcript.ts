import type { Message, Part } from "./api";

type Chunk = { content: string; offset: number };

/** The length of a message's text: its text parts, in UTF-16 code units. */
export function textLen(m: Message): number {
  let n = 0;
  for (const p of m.parts ?? []) if (p.type === "text") n += (p as any).text?.length ?? 0;
  return n;
}

/**
 * A session's transcript as the browser assembles it from REST and socket
 * frames. Text only grows: every merge keeps the longer text, and a chunk is
 * placed by its offset (the message's text length before it), so a chunk
 * already seen is dropped and one that leaves a gap waits while the
 * transcript is reloaded. Messages are replaced, never mutated, so a view
 * can skip the ones that did not change.
 */
export class Transcript {
  order: string[] = [];
  byId = new Map<string, Message>();
  private waiting = new Map<string, Chunk[]>();

  constructor(private onGap: () => void) {}

  list(): Message[] {
    return this.order.map((id) => this.byId.get(id)!).filter(Boolean);
  }

  hasGap(): boolean {
    return this.waiting.size > 0;
  }

  /** Takes a whole message (REST, message, message.updated), keeping the longer text. */
  upsert(m: Message) {
    m = { ...m, parts: Array.isArray(m.parts) ? m.parts : [] };
    const old = this.byId.get(m.id);
    if (!old) {
      this.byId.set(m.id, m);
      this.order.push(m.id);
    } else if (textLen(m) >= textLen(old) || isFinal(m)) {
      this.byId.set(m.id, m);
    } else {
      // Keep our longer text; take the other parts (tool updates) from m.
      this.byId.set(m.id, { ...m, parts: mergeParts(m.parts!, old.parts!), content: old.content });
    }
    this.drain(m.id);
  }

  /** Replaces the transcript with a REST load, keeping text that arrived since. */
  load(msgs: Message[]) {
    const keep = new Set(msgs.map((m) => m.id));
    for (const id of this.order) if (!keep.has(id)) this.byId.delete(id);
    this.order = [];
    const old = this.byId;
    this.byId = new Map();
    for (const m of msgs) {
      const o = old.get(m.id);
      if (o) {
        this.byId.set(m.id, o);
        this.order.push(m.id);
        this.upsert(m);
      } else this.upsert(m);
    }
  }

  chunk(messageId: string, content: string, offset: number) {
    let m = this.byId.get(messageId);
    if (!m) {
      if (offset !== 0) return this.wait(messageId, { content, offset });
      m = { id: messageId, role: "assistant", content: "", parts: [], createdAt: Date.now() / 1000 };
      this.byId.set(messageId, m);
      this.order.push(messageId);
    }
    const have = textLen(m);
    const end = offset + content.length;
    if (end <= have) return; // seen already
    if (offset > have) return this.wait(messageId, { content, offset });
    const add = content.slice(have - offset);
    const parts = (m.parts ?? []).slice();
    const last = parts[parts.length - 1] as any;
    if (last && last.type === "text" && last.streaming) parts[parts.length - 1] = { ...last, text: last.text + add };
    else parts.push({ type: "text", text: add, streaming: true });
    this.byId.set(messageId, { ...m, parts, content: (m.content ?? "") + add });
    this.drain(messageId);
  }

  /** message.part.updated (agentops.v2): one part changed. */
  part(messageId: string, index: number, part: Part) {
    const m = this.byId.get(messageId);
    if (!m) {
      this.onGap();
      return;
    }
    // The server leaves out an empty text (a new part, before its first
    // chunk): it is "" here, so streaming can append to it.
    if (part.type === "text" && typeof (part as any).text !== "string") part = { ...part, text: "" } as Part;
    const parts = (m.parts ?? []).slice();
    const old = parts[index] as any;
    if (old && old.type === "text" && part.type === "text" && (part as any).text.length < old.text.length) {
      parts[index] = { ...part, text: old.text }; // keep streamed text we already have
    } else parts[index] = part;
    this.byId.set(messageId, { ...m, parts });
  }

  remove(ids: string[]) {
    const gone = new Set(ids);
    for (const id of ids) {
      this.byId.delete(id);
      this.waiting.delete(id);
    }
    this.order = this.order.filter((id) => !gone.has(id));
  }

  private wait(id: string, c: Chunk) {
    const w = this.waiting.get(id) ?? [];
    w.push(c);
    this.waiting.set(id, w);
    this.onGap();
  }

  private drain(id: string) {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    w.sort((a, b) => a.offset - b.offset);
    for (const c of w) this.chunk(id, c.content, c.offset);
  }
}

function isFinal(m: Message): boolean {
  return (m.parts ?? []).some((p) => p.type === "finish");
}

function mergeParts(fresh: Part[], mine: Part[]): Part[] {
  const out = fresh.slice();
  for (let i = 0; i < mine.length; i++) {
    const a = out[i] as any,
      b = mine[i] as any;
    if (b?.type === "text" && (!a || (a.type === "text" && a.text.length < b.text.length))) out[i] = b;
  }
  return out;
}
