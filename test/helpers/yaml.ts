/**
 * Just enough YAML to read the example manifests (examples/kubernetes/): block maps and
 * sequences by indentation, `---` between documents, comments, plain, quoted and numeric scalars,
 * and one-line flow sequences. Anything else throws, so a manifest that outgrows this subset
 * fails its test loudly instead of being misread. (A YAML package would be a dependency for one
 * test.)
 */

type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

interface Line {
  indent: number;
  text: string;
  no: number;
}

/** Cuts a comment: `#` at the start or after white space, outside quotes. */
function stripComment(s: string): string {
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return s.slice(0, i);
  }
  return s;
}

function splitFlow(inner: string): string[] {
  const parts: string[] = [];
  let quote = '';
  let cur = '';
  for (const c of inner) {
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ',') {
      parts.push(cur);
      cur = '';
      continue;
    } else if (c === '[' || c === '{') throw new Error(`nested flow collections are not supported: [${inner}]`);
    cur += c;
  }
  if (cur.trim()) parts.push(cur);
  return parts.map((p) => p.trim());
}

function scalar(raw: string, no: number): Value {
  const s = raw.trim();
  if (s.startsWith('"')) return JSON.parse(s) as string;
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new Error(`line ${no}: unterminated quote`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new Error(`line ${no}: a flow sequence must end on its line`);
    return splitFlow(s.slice(1, -1)).map((p) => scalar(p, no));
  }
  if (s.startsWith('{') || s.startsWith('|') || s.startsWith('>') || s.startsWith('&') || s.startsWith('*')) {
    throw new Error(`line ${no}: not in the supported subset: ${s}`);
  }
  if (s === '' || s === '~' || s === 'null') return null;
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s;
}

/** `key: rest`, the key plain or quoted; null when the line is not a map entry. */
function entry(text: string): [string, string] | null {
  const m = /^("[^"]*"|'[^']*'|[^\s"'#:][^:]*?):(?:\s+(.*)|$)/.exec(text);
  if (!m) return null;
  const key = m[1]!.startsWith('"') || m[1]!.startsWith("'") ? m[1]!.slice(1, -1) : m[1]!;
  return [key, m[2] ?? ''];
}

class Parser {
  private i = 0;
  constructor(private readonly lines: Line[]) {}

  parse(): Value {
    if (this.lines.length === 0) return null;
    const v = this.block(this.lines[0]!.indent);
    if (this.i < this.lines.length) throw new Error(`line ${this.lines[this.i]!.no}: unexpected indentation`);
    return v;
  }

  private block(indent: number): Value {
    const first = this.lines[this.i]!;
    return first.text === '-' || first.text.startsWith('- ') ? this.seq(indent) : this.map(indent);
  }

  private seq(indent: number): Value[] {
    const out: Value[] = [];
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      const item = line.text === '-' || line.text.startsWith('- ');
      // A sequence under a key may stand at the key's column; the next key ends it.
      if (line.indent < indent || (line.indent === indent && !item)) break;
      if (line.indent > indent) throw new Error(`line ${line.no}: unexpected indentation`);
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        this.i++;
        out.push(this.nested(indent));
      } else if (entry(rest) && !rest.startsWith('"') && !rest.startsWith("'")) {
        // `- key: value` opens a map whose entries line up with `key`.
        const inner = indent + line.text.length - rest.length;
        this.lines[this.i] = { indent: inner, text: rest, no: line.no };
        out.push(this.map(inner));
      } else {
        this.i++;
        out.push(scalar(rest, line.no));
      }
    }
    return out;
  }

  private map(indent: number): { [k: string]: Value } {
    const out: { [k: string]: Value } = {};
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new Error(`line ${line.no}: unexpected indentation`);
      const kv = entry(line.text);
      if (!kv) throw new Error(`line ${line.no}: expected "key: value": ${line.text}`);
      const [key, rest] = kv;
      if (key in out) throw new Error(`line ${line.no}: duplicate key ${key}`);
      this.i++;
      out[key] = rest === '' ? this.nested(indent) : scalar(rest, line.no);
    }
    return out;
  }

  /** The block under `key:` or `-`: deeper lines, or a sequence at the same column under a key. */
  private nested(indent: number): Value {
    const next = this.lines[this.i];
    if (!next) return null;
    if (next.indent > indent) return this.block(next.indent);
    if (next.indent === indent && next.text.startsWith('- ')) return this.seq(indent);
    return null;
  }
}

/** Every document of a multi-document YAML text. */
export function parseYamlDocuments(text: string): Value[] {
  const docs: Line[][] = [[]];
  text.split('\n').forEach((raw, n) => {
    if (/^---\s*$/.test(raw)) return void docs.push([]);
    if (raw.includes('\t')) throw new Error(`line ${n + 1}: tabs are not allowed in YAML indentation`);
    const content = stripComment(raw).trimEnd();
    if (content.trim() === '') return;
    docs[docs.length - 1]!.push({ indent: content.length - content.trimStart().length, text: content.trim(), no: n + 1 });
  });
  return docs.filter((d) => d.length > 0).map((d) => new Parser(d).parse());
}
