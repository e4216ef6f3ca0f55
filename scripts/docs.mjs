#!/usr/bin/env node
// Regenerates the settings reference in README.md from the settings table (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { withSettingsDocs } = await import(join(root, 'dist/src/config/docs.js'));
const file = join(root, 'README.md');
writeFileSync(file, withSettingsDocs(readFileSync(file, 'utf8')));
console.log('README.md settings reference updated');
