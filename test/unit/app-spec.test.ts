import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { parseAppSpec, parseLiteralArgs } from '../../src/app/spec.js';
import { TsgunicornError } from '../../src/errors.js';

/** The arguments parsed from `mod:f(<args>)`. */
function args(text: string): unknown[] | null {
  return parseAppSpec(`mod:f(${text})`).call;
}

function rejects(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TsgunicornError, `expected a TsgunicornError, got ${String(err)}`);
    assert.equal(err.code, 'E_APP_SPEC');
    assert.equal(err.message, message);
    return true;
  });
}

describe('parseAppSpec: module and attribute', () => {
  it('parses MODULE:ATTR', () => {
    assert.deepEqual(parseAppSpec('./app.js:app'), { raw: './app.js:app', module: './app.js', attr: ['app'], call: null });
  });

  it('uses the default export when there is no colon', () => {
    assert.deepEqual(parseAppSpec('examples/hello'), { raw: 'examples/hello', module: 'examples/hello', attr: null, call: null });
  });

  it('keeps scoped package paths whole', () => {
    assert.deepEqual(parseAppSpec('@scope/pkg/sub:handler'), {
      raw: '@scope/pkg/sub:handler',
      module: '@scope/pkg/sub',
      attr: ['handler'],
      call: null,
    });
  });

  it('splits a dotted attribute path', () => {
    assert.deepEqual(parseAppSpec('mod:api.v1.handler').attr, ['api', 'v1', 'handler']);
  });

  it('accepts $ and _ and digits after the first character', () => {
    assert.deepEqual(parseAppSpec('mod:$app._v2').attr, ['$app', '_v2']);
  });

  it('parses a factory call with no arguments', () => {
    assert.deepEqual(parseAppSpec('app:create_app()'), { raw: 'app:create_app()', module: 'app', attr: ['create_app'], call: [] });
  });

  it('parses a call on a dotted path, tolerating whitespace', () => {
    const spec = parseAppSpec('app: factories.make ( 1 , 2 )  ');
    assert.deepEqual(spec.attr, ['factories', 'make']);
    assert.deepEqual(spec.call, [1, 2]);
  });

  it("splits at the first ':' so arguments may contain colons", () => {
    const spec = parseAppSpec('app:make({"a": "b:c"}, \'x:y\')');
    assert.equal(spec.module, 'app');
    assert.deepEqual(spec.attr, ['make']);
    assert.deepEqual(spec.call, [{ a: 'b:c' }, 'x:y']);
  });

  it("does not mistake a ')' inside a string for the end of the call", () => {
    assert.deepEqual(args('")", \'(\''), [')', '(']);
  });
});

describe('parseAppSpec: literal arguments', () => {
  it('parses double- and single-quoted strings', () => {
    assert.deepEqual(args(`"dq", 'sq', "it's", 'say "hi"'`), ['dq', 'sq', "it's", 'say "hi"']);
  });

  it('decodes backslash escapes', () => {
    assert.deepEqual(args(String.raw`"a\nb\tc\rd\\e\'f\"g\u00e9\u2603"`), ['a\nb\tc\rd\\e\'f"g\u00e9\u2603']);
  });

  it('parses integers, decimals, exponents, signs and hex', () => {
    assert.deepEqual(args('0, 42, -7, +3, 1.5, .25, 2., 1e3, -2.5E-2, 0x1F, -0x10'), [
      0, 42, -7, 3, 1.5, 0.25, 2, 1000, -0.025, 31, -16,
    ]);
  });

  it('parses JS constants', () => {
    assert.deepEqual(args('true, false, null'), [true, false, null]);
  });

  it("parses Python's True, False and None", () => {
    assert.deepEqual(args('True, False, None'), [true, false, null]);
  });

  it('parses arrays and objects, nested', () => {
    assert.deepEqual(args(`[1, [2, []], {}], {name: 'x', "quoted key": [true, {deep: {n: null}}], $k_1: -1}`), [
      [1, [2, []], {}],
      { name: 'x', 'quoted key': [true, { deep: { n: null } }], $k_1: -1 },
    ]);
  });

  it('allows trailing commas in arguments, arrays and objects', () => {
    assert.deepEqual(args(`1, [2, 3,], {a: 4,},`), [1, [2, 3], { a: 4 }]);
  });

  it('allows whitespace anywhere between tokens', () => {
    assert.deepEqual(args(` \n [ 1 ,\t2 ] , { a : 'b' } \n`), [[1, 2], { a: 'b' }]);
  });

  it('stores a "__proto__" key as data, not as the prototype', () => {
    const [obj] = args('{"__proto__": {"polluted": true}}') as [Record<string, unknown>];
    assert.equal(Object.getPrototypeOf(obj), Object.prototype);
    assert.deepEqual(Object.keys(obj), ['__proto__']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('parseLiteralArgs', () => {
  it('parses the inside of the parentheses', () => {
    assert.deepEqual(parseLiteralArgs(`'x', 2, [None],`), ['x', 2, [null]]);
  });

  it('returns [] for empty or blank text', () => {
    assert.deepEqual(parseLiteralArgs(''), []);
    assert.deepEqual(parseLiteralArgs('  '), []);
  });

  it('rejects non-literals with a column into the text', () => {
    rejects(() => parseLiteralArgs('1, x'), `Invalid arguments "1, x": unexpected name 'x' at column 4 (arguments must be literals)`);
    rejects(() => parseLiteralArgs('1)'), `Invalid arguments "1)": unexpected ')' at column 2 (expected ',')`);
  });
});

describe('parseAppSpec: rejected inputs', () => {
  const cases: Array<[string, string]> = [
    ['', 'empty module name'],
    [':app', 'empty module name'],
    ['  :app', 'empty module name'],
    ['mod:', "empty attribute after ':'"],
    ['mod:  ', "empty attribute after ':'"],
    ['mod:()', "missing attribute name before '('"],
    ['mod:1abc', "'1abc' is not a valid attribute name"],
    ['mod:a..b', "'' is not a valid attribute name"],
    ['mod:a.', "'' is not a valid attribute name"],
    ['mod:a b', "'a b' is not a valid attribute name"],
    ['mod:a-b', "'a-b' is not a valid attribute name"],
    ['mod:a()x', "unexpected 'x' at column 8 after the argument list"],
    ['mod:a()()', "unexpected '(' at column 8 after the argument list"],
    ['mod:f(x)', "unexpected name 'x' at column 7 (arguments must be literals)"],
    ['mod:f(undefined)', "unexpected name 'undefined' at column 7 (arguments must be literals)"],
    ['mod:f(1+1)', "unexpected '+' at column 8 (expected ',' or ')')"],
    ['mod:f(1abc)', "unexpected 'a' at column 8 (expected ',' or ')')"],
    ['mod:f(-)', "unexpected '-' at column 7"],
    ['mod:f(`t`)', "unexpected '`' at column 7"],
    ['mod:f(g())', "unexpected name 'g' at column 7 (arguments must be literals)"],
    ['mod:f(a=1)', "unsupported keyword argument 'a' at column 7"],
    ['mod:f(1, key = "v")', "unsupported keyword argument 'key' at column 10"],
    ['mod:f(,)', "unexpected ',' at column 7"],
    ['mod:f(1,,2)', "unexpected ',' at column 9"],
    ['mod:f(\'abc)', 'unterminated string starting at column 7'],
    ['mod:f("abc\\', 'unterminated string starting at column 7'],
    ['mod:f("\\x41")', "unknown escape '\\x' at column 8"],
    ['mod:f("\\u12")', 'invalid \\u escape at column 8'],
    ['mod:f(', "missing ')' at end of input"],
    ['mod:f(1', "missing ')' at end of input"],
    ['mod:f(1,', "missing ')' at end of input"],
    ['mod:f([1, 2)', "unexpected ')' at column 12 (expected ',' or ']')"],
    ['mod:f([1, 2', "missing ']' at end of input"],
    ['mod:f({a: 1)', "unexpected ')' at column 12 (expected ',' or '}')"],
    ['mod:f(1))', "unexpected ')' at column 9 after the argument list"],
    ['mod:f(1])', "unexpected ']' at column 8 (expected ',' or ')')"],
    ['mod:f({a 1})', "expected ':' after property name, found '1' at column 10"],
    ['mod:f({1: 2})', "expected a property name, found '1' at column 8"],
    ['mod:f({[a]: 2})', "expected a property name, found '[' at column 8"],
  ];

  for (const [spec, problem] of cases) {
    it(`rejects ${JSON.stringify(spec)}`, () => {
      rejects(() => parseAppSpec(spec), `Invalid app spec ${JSON.stringify(spec)}: ${problem}`);
    });
  }

  it('rejects absurdly deep nesting with an error, not a stack overflow', () => {
    const spec = `mod:f(${'['.repeat(101)}${']'.repeat(101)})`;
    rejects(() => parseAppSpec(spec), `Invalid app spec ${JSON.stringify(spec)}: arguments nested deeper than 100 levels at column 107`);
    assert.equal(JSON.stringify(args(`${'['.repeat(100)}${']'.repeat(100)}`)), `[${'['.repeat(100)}${']'.repeat(100)}]`);
  });
});
