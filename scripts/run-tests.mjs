#!/usr/bin/env node
// Runs node's test runner over the compiled tests. Node 20 takes directories, Node 22+ takes
// globs; listing the files ourselves works the same on both. Suites: unit and integration by
// default; `faults` (issue 6's fault suite, `npm run test:faults`) only when named.
import { readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const suites = process.argv.slice(2);
const base = join(root, 'dist', 'test');
const dirs = (suites.length ? suites : ['unit', 'integration']).map((s) => join(base, s));

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = dirs.flatMap((d) => walk(d, []));
if (files.length === 0) {
  console.error('no test files found under', dirs.join(', '));
  process.exit(1);
}
// The fault suite loads the machine and reads its own timings: one file at a time.
const serial = suites.includes('faults') ? ['--test-concurrency=1'] : [];
const r = spawnSync(process.execPath, ['--test', ...serial, ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
