/**
 * GET /render?content=...&theme=light|dark: the page Temporal UI frames to show a workflow's markdown (its current
 * details, summary and details), which Temporal's UI server renders itself. Here a small subset: headings, lists,
 * paragraphs, **bold**, *emphasis*, `code` and http(s) links, with every other character escaped (no raw HTML), under
 * the UI server's sandboxing Content-Security-Policy.
 */
import { randomBytes } from 'node:crypto';
import { type ServerResponse } from 'node:http';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function inline(text: string): string {
  const codes: string[] = [];
  // Code spans first, so nothing inside them is formatted.
  let html = escapeHtml(text).replace(/`([^`]+)`/g, (_, code: string) => `\uE000${codes.push(code) - 1}\uE001`);
  html = html
    .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*\s][^*]*?)\*/g, '$1<em>$2</em>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
  return html.replace(/\uE000(\d+)\uE001/g, (_, index: string) => `<code>${codes[Number(index)]}</code>`);
}

export function renderMarkdown(markdown: string): string {
  const blocks: string[] = [];
  let paragraph: string[] = [];
  let list: string[] = [];
  const flush = () => {
    if (paragraph.length) blocks.push(`<p>${paragraph.map(inline).join('<br>')}</p>`);
    if (list.length) blocks.push(`<ul>${list.map((item) => `<li>${inline(item)}</li>`).join('')}</ul>`);
    paragraph = [];
    list = [];
  };
  for (const line of markdown.split(/\r?\n/)) {
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*[-*+]\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      blocks.push(`<h${heading[1]!.length}>${inline(heading[2]!)}</h${heading[1]!.length}>`);
    } else if (item) {
      if (paragraph.length) flush();
      list.push(item[1]!);
    } else if (line.trim() === '') flush();
    else {
      if (list.length) flush();
      paragraph.push(line);
    }
  }
  flush();
  return blocks.join('\n');
}

const CSS = `body{margin:0;padding:1rem;font-family:sans-serif;white-space:pre-line}
body[data-theme=light]{background:#fff;color:#121416}body[data-theme=dark]{background:#141414;color:#f8fafc}
code{font-family:monospace;padding:.125rem .25rem;border-radius:.25rem;background:#e8efff;color:#121416}
ul{white-space:normal}a{text-decoration:underline}body[data-theme=light] a{color:#444ce7}body[data-theme=dark] a{color:#8098f9}`;

export function sendRenderedMarkdown(response: ServerResponse, url: URL): void {
  const nonce = randomBytes(16).toString('hex');
  const theme = url.searchParams.get('theme') === 'dark' ? 'dark' : 'light';
  const page = `<!DOCTYPE html><html><head><title>Rendered Markdown</title><base target="_blank"><meta charset="utf-8">
<style nonce="${nonce}">${CSS}</style></head><body data-theme="${theme}"><main>${renderMarkdown(url.searchParams.get('content') ?? '')}</main></body></html>`;
  response.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `base-uri 'self'; default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; frame-ancestors 'self'; form-action 'none'; sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox;`,
  });
  response.end(page);
}
