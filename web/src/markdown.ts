import DOMPurify from "dompurify";
import { Marked } from "marked";

// Agent output is untrusted. marked turns markdown into HTML (raw HTML in
// it included); DOMPurify then keeps only harmless markup: no scripts, no
// event handlers, no javascript: URLs, no forms or frames. The server's CSP
// is the second wall.
const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const l = (lang ?? "").split(/\s/)[0].toLowerCase();
      return `<pre class="code"><code${l ? ` data-lang="${esc(l)}"` : ""}>${highlight(text)}</code></pre>\n`;
    },
  },
});

const purify = DOMPurify(window);
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const CONFIG = {
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed", "svg", "math"],
  FORBID_ATTR: ["style", "id", "name"],
  ALLOW_DATA_ATTR: true,
};

export function renderMarkdown(src: string): string {
  const html = marked.parse(src, { async: false }) as string;
  return purify.sanitize(html, CONFIG) as unknown as string;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// A small highlighter for any C-like or shell-like language: comments,
// strings, numbers and common keywords. Enough to read code at a glance
// without shipping a grammar per language.
const TOKEN =
  /(\/\/[^\n]*|#(?![!\[])[^\n]*|\/\*[\s\S]*?\*\/)|("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|\b(\d[\d_.xXa-fA-F]*)\b|\b(func|function|return|if|else|for|while|const|let|var|type|interface|struct|package|import|from|export|class|def|fn|pub|impl|match|switch|case|break|continue|true|false|null|nil|None|True|False|async|await|go|defer|select|chan|map|new|try|catch|finally|throw|raise|with|as|in|of|echo|then|fi|do|done|esac)\b/g;

export function highlight(code: string): string {
  let out = "";
  let last = 0;
  for (const m of code.matchAll(TOKEN)) {
    out += esc(code.slice(last, m.index));
    const cls = m[1] ? "c" : m[2] ? "s" : m[3] ? "n" : "k";
    out += `<span class="tok-${cls}">${esc(m[0])}</span>`;
    last = m.index! + m[0].length;
  }
  return out + esc(code.slice(last));
}
