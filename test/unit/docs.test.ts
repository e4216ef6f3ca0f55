import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { settingsMarkdown, withSettingsDocs } from '../../src/config/docs.js';
import { SETTING_NAMES } from '../../src/config/settings.js';

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'README.md');

test('the README settings reference is generated from the table and up to date (npm run docs)', () => {
  const readme = readFileSync(README, 'utf8');
  assert.equal(withSettingsDocs(readme), readme, 'README.md is stale: run `npm run docs`');
  const md = settingsMarkdown();
  for (const name of SETTING_NAMES) assert.ok(md.includes(`| \`${name}\` |`), `${name} is not documented`);
});
