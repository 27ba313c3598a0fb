// Reads a JSON array of Mermaid sources on stdin; prints a JSON array of parse results,
// one {"ok": true, "type": ...} or {"ok": false, "error": ...} per source.
// mermaid's parse sanitizes labels with DOMPurify, which needs a window: jsdom gives one,
// set before mermaid is imported.
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const source of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(source);
    results.push({ ok: true, type: parsed.diagramType });
  } catch (error) {
    results.push({ ok: false, error: String(error.message ?? error) });
  }
}
console.log(JSON.stringify(results));
