/**
 * Stacks the config sources, lowest to highest: environment defaults, the config file,
 * TSGUNICORN_CMD_ARGS, the command line. Every value passes its setting's validator, so an error
 * names the setting and the value whichever source it came from.
 */
import { ConfigError, show } from '../errors.js';
import { parseArgs, type ParsedArgs } from './cli-options.js';
import { loadConfigFile } from './file.js';
import { canonicalName, defaults, settingDef, SETTING_NAMES, type SettingName, type Settings } from './settings.js';
import { shellSplit } from './shellsplit.js';

export const CMD_ARGS_ENV = 'TSGUNICORN_CMD_ARGS';

export interface ResolvedConfig {
  settings: Settings;
  /** The config file that was loaded, if any. */
  configFile: string | null;
  /** Where each setting's value came from, for --print-config and debugging. */
  sources: Record<SettingName, 'default' | 'config file' | typeof CMD_ARGS_ENV | 'command line'>;
}

export interface ResolveInput {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Maps a config file's keys onto settings; an unknown key is an error, not silently ignored. */
export function fromConfigObject(obj: Record<string, unknown>, file: string): Partial<Record<SettingName, unknown>> {
  const out: Partial<Record<SettingName, unknown>> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined) continue;
    const name = canonicalName(key);
    if (!name) throw new ConfigError(key, value, `unknown setting in ${file}`, 'E_CONFIG_UNKNOWN');
    out[name] = value;
  }
  return out;
}

function apply(
  settings: Record<string, unknown>,
  sources: Record<string, string>,
  layer: Partial<Record<SettingName, unknown>>,
  source: string,
): void {
  for (const name of SETTING_NAMES) {
    if (!(name in layer)) continue;
    settings[name] = settingDef(name).validate(layer[name], name);
    sources[name] = source;
  }
}

function withApp(parsed: ParsedArgs): Partial<Record<SettingName, unknown>> {
  return parsed.app === undefined ? parsed.values : { ...parsed.values, app: parsed.app };
}

export async function resolveConfig({ argv, env, cwd }: ResolveInput): Promise<ResolvedConfig> {
  const cli = parseArgs(argv);
  const envArgsText = env[CMD_ARGS_ENV];
  const envArgs = envArgsText ? parseArgs(shellSplit(envArgsText), CMD_ARGS_ENV) : { values: {}, app: undefined };

  const settings = defaults(env) as unknown as Record<string, unknown>;
  const sources = Object.fromEntries(SETTING_NAMES.map((n) => [n, 'default'])) as Record<string, string>;

  // The config file is named by the highest source that names one.
  const named = (cli.values.config ?? envArgs.values.config ?? null) as string | null;
  const file = await loadConfigFile(named, cwd);
  if (file) {
    const layer = fromConfigObject(file.values, file.path);
    delete layer.config; // a config file cannot name another config file
    apply(settings, sources, layer, 'config file');
    settings.config = file.path;
  }
  apply(settings, sources, withApp(envArgs), CMD_ARGS_ENV);
  apply(settings, sources, withApp(cli), 'command line');
  if (file) settings.config = file.path;

  return {
    settings: settings as unknown as Settings,
    configFile: file?.path ?? null,
    sources: sources as ResolvedConfig['sources'],
  };
}

/** Gunicorn's --print-config format: `name = value`, names aligned, sorted. */
export function formatSettings(settings: Settings): string {
  const names = [...SETTING_NAMES].sort();
  const width = Math.max(...names.map((n) => n.length));
  return names
    .map((n) => {
      const value = settings[n];
      const text =
        typeof value === 'string' ? value : value === null ? 'None' : typeof value === 'function' ? `<${n}()>` : show(value);
      return `${n.padEnd(width)} = ${text}`;
    })
    .join('\n');
}
