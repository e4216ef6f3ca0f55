import type { RequestListener } from 'node:http';
import type { Logger } from '../log/logger.js';
import { adaptApp } from './adapt.js';
import { loadAppValue } from './load.js';
import { parseAppSpec } from './spec.js';

/** MODULE:ATTR to a Node request listener, whatever kind of app the module holds. */
export async function loadApp(raw: string, chdir: string, log: Logger): Promise<RequestListener> {
  const spec = parseAppSpec(raw);
  const value = await loadAppValue(spec, chdir);
  const app = await adaptApp(value, raw, (err) => log.exception('Error handling request', err));
  return app.listener;
}
