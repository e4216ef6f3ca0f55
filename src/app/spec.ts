/**
 * Gunicorn-style app specs: `MODULE[:ATTR]`, where ATTR is a dotted property path optionally
 * followed by a call with literal arguments (`app:create_app()`, `app:make('x', 2)`).
 *
 * Gunicorn evaluates ATTR with Python's `ast` and accepts only literals as arguments; we keep
 * that contract with a small recursive-descent parser so nothing from the command line is ever
 * evaluated as code.
 */

import { TsgunicornError } from '../errors.js';

export interface AppSpec {
  /** The input as given. */
  raw: string;
  /** Path or package name: "./app.js", "app", "examples/hello", "@scope/pkg/sub". */
  module: string;
  /** Property path (["api", "handler"] for "mod:api.handler"); null means the default export. */
  attr: string[] | null;
  /** Literal arguments when ATTR is a call ("mod:create_app()" gives []); null when it is not. */
  call: unknown[] | null;
}

const IDENT = /^[\p{L}_$][\p{L}\p{Nd}_$]*$/u;
const IDENT_CHAR = /[\p{L}\p{Nd}_$]/u;
// Leading sign is part of the literal because Gunicorn users write `f(-1)`; hex for JS users.
const NUMBER = /[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)/y;
const WORDS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['true', true],
  ['false', false],
  ['null', null],
  // Python spellings, so Gunicorn command lines work unchanged.
  ['True', true],
  ['False', false],
  ['None', null],
]);
// \b, \f and \/ are not required by Gunicorn but make JSON pasted into a spec parse as expected.
const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
  '/': '/',
  '\\': '\\',
  "'": "'",
  '"': '"',
};
// A hostile `[[[[...` must produce a clean error, not a stack overflow.
const MAX_DEPTH = 100;

export function parseAppSpec(raw: string): AppSpec {
  const fail = (problem: string): TsgunicornError =>
    new TsgunicornError('E_APP_SPEC', `Invalid app spec ${JSON.stringify(raw)}: ${problem}`);

  // Module names never contain ':' but arguments may, so only the first one separates.
  const colon = raw.indexOf(':');
  const module = (colon === -1 ? raw : raw.slice(0, colon)).trim();
  if (module === '') throw fail('empty module name');
  if (colon === -1) return { raw, module, attr: null, call: null };

  const open = raw.indexOf('(', colon + 1);
  const pathText = raw.slice(colon + 1, open === -1 ? undefined : open).trim();
  if (pathText === '') {
    throw fail(open === -1 ? "empty attribute after ':'" : "missing attribute name before '('");
  }
  const attr = pathText.split('.');
  for (const name of attr) {
    if (!IDENT.test(name)) throw fail(`'${name}' is not a valid attribute name`);
  }
  if (open === -1) return { raw, module, attr, call: null };

  // Columns in messages count from the start of the spec, which is what the user typed.
  const parser = new LiteralParser(raw, open + 1, fail);
  const call = parser.argumentList(')');
  parser.expectEnd();
  return { raw, module, attr, call };
}

/** Parses the text between the parentheses of a call: a comma-separated list of literals. */
export function parseLiteralArgs(text: string): unknown[] {
  const fail = (problem: string): TsgunicornError =>
    new TsgunicornError('E_APP_SPEC', `Invalid arguments ${JSON.stringify(text)}: ${problem}`);
  const parser = new LiteralParser(text, 0, fail);
  return parser.argumentList(null);
}

class LiteralParser {
  private depth = 0;

  constructor(
    private readonly src: string,
    private pos: number,
    private readonly fail: (problem: string) => TsgunicornError,
  ) {}

  /** `close` null means the list runs to the end of the text. */
  argumentList(close: ')' | null): unknown[] {
    const args: unknown[] = [];
    this.sequence(close, () => args.push(this.value()));
    return args;
  }

  expectEnd(): void {
    this.skipWhitespace();
    if (this.pos < this.src.length) {
      throw this.fail(`unexpected ${this.found()} at column ${this.pos + 1} after the argument list`);
    }
  }

  private value(): unknown {
    this.skipWhitespace();
    const ch = this.src[this.pos];
    if (ch === undefined) throw this.fail('unexpected end of input, expected a value');
    if (ch === '"' || ch === "'") return this.string(ch);
    if (ch === '[') return this.nested(() => this.array());
    if (ch === '{') return this.nested(() => this.object());
    NUMBER.lastIndex = this.pos;
    const number = NUMBER.exec(this.src);
    if (number) return this.number(number[0]);
    if (IDENT_CHAR.test(ch)) return this.word();
    throw this.fail(`unexpected ${this.found()} at column ${this.pos + 1}`);
  }

  private number(text: string): number {
    this.pos += text.length;
    // Number() rejects a signed hex literal such as "-0x10", so apply the sign separately.
    const magnitude = Number(text.replace(/^[+-]/, ''));
    return text.startsWith('-') ? -magnitude : magnitude;
  }

  private word(): unknown {
    const start = this.pos;
    while (this.pos < this.src.length && IDENT_CHAR.test(this.src[this.pos]!)) this.pos++;
    const word = this.src.slice(start, this.pos);
    if (WORDS.has(word)) return WORDS.get(word);
    this.skipWhitespace();
    if (this.src[this.pos] === '=' && this.src[this.pos + 1] !== '=') {
      throw this.fail(`unsupported keyword argument '${word}' at column ${start + 1}`);
    }
    throw this.fail(`unexpected name '${word}' at column ${start + 1} (arguments must be literals)`);
  }

  private string(quote: string): string {
    const start = this.pos++;
    let out = '';
    for (;;) {
      const ch = this.src[this.pos];
      if (ch === undefined) throw this.fail(`unterminated string starting at column ${start + 1}`);
      this.pos++;
      if (ch === quote) return out;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const esc = this.src[this.pos];
      if (esc === undefined) throw this.fail(`unterminated string starting at column ${start + 1}`);
      if (esc === 'u') {
        const hex = this.src.slice(this.pos + 1, this.pos + 5);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
          throw this.fail(`invalid \\u escape at column ${this.pos}`);
        }
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 5;
      } else if (Object.hasOwn(ESCAPES, esc)) {
        out += ESCAPES[esc];
        this.pos++;
      } else {
        throw this.fail(`unknown escape '\\${esc}' at column ${this.pos}`);
      }
    }
  }

  private array(): unknown[] {
    this.pos++; // '['
    const items: unknown[] = [];
    this.sequence(']', () => items.push(this.value()));
    return items;
  }

  private object(): Record<string, unknown> {
    this.pos++; // '{'
    const obj: Record<string, unknown> = {};
    this.sequence('}', () => {
      const key = this.key();
      this.skipWhitespace();
      if (this.src[this.pos] !== ':') {
        throw this.fail(`expected ':' after property name, found ${this.found()} at column ${this.pos + 1}`);
      }
      this.pos++;
      // defineProperty, like JSON.parse, so a "__proto__" key is data and never a prototype.
      Object.defineProperty(obj, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
    });
    return obj;
  }

  private key(): string {
    this.skipWhitespace();
    const ch = this.src[this.pos];
    if (ch === '"' || ch === "'") return this.string(ch);
    const start = this.pos;
    while (this.pos < this.src.length && IDENT_CHAR.test(this.src[this.pos]!)) this.pos++;
    const key = this.src.slice(start, this.pos);
    if (!IDENT.test(key)) {
      this.pos = start;
      throw this.fail(`expected a property name, found ${this.found()} at column ${start + 1}`);
    }
    return key;
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) {
      throw this.fail(`arguments nested deeper than ${MAX_DEPTH} levels at column ${this.pos + 1}`);
    }
    const result = parse();
    this.depth--;
    return result;
  }

  /** Comma-separated items up to `close` (consumed), trailing comma allowed. */
  private sequence(close: string | null, item: () => void): void {
    this.skipWhitespace();
    if (this.atClose(close)) return;
    for (;;) {
      if (close !== null && this.pos >= this.src.length) throw this.fail(`missing '${close}' at end of input`);
      item();
      this.skipWhitespace();
      if (this.atClose(close)) return;
      if (this.src[this.pos] !== ',') {
        if (close !== null && this.pos >= this.src.length) throw this.fail(`missing '${close}' at end of input`);
        const expected = close === null ? "','" : `',' or '${close}'`;
        throw this.fail(`unexpected ${this.found()} at column ${this.pos + 1} (expected ${expected})`);
      }
      this.pos++;
      this.skipWhitespace();
      if (this.atClose(close)) return;
    }
  }

  /** Consumes `close` when it is next; null matches the end of the text. */
  private atClose(close: string | null): boolean {
    if (close === null) return this.pos >= this.src.length;
    if (this.src[this.pos] !== close) return false;
    this.pos++;
    return true;
  }

  private found(): string {
    const ch = this.src[this.pos];
    return ch === undefined ? 'end of input' : `'${ch}'`;
  }

  private skipWhitespace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }
}
