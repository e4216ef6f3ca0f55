/**
 * The command line, generated from the settings table with commander. Parsing yields the raw
 * values the user typed (nothing for flags not given), so the resolver can stack the sources.
 */
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { SETTINGS, SETTING_NAMES, settingDef, type SettingName, type Section } from './settings.js';

export interface ParsedArgs {
  values: Partial<Record<SettingName, unknown>>;
  app: string | undefined;
}

export const SECTION_ORDER: Section[] = [
  'Config File',
  'Server Socket',
  'Worker Processes',
  'Server Mechanics',
  'Security',
  'SSL',
  'Logging',
  'Control',
  'Process Naming',
  'Server Hooks',
  'Debugging',
];

function buildProgram(): { program: Command; attrToSetting: Map<string, SettingName> } {
  const program = new Command('tsgunicorn')
    .usage('[OPTIONS] [APP_MODULE]')
    .description('Gunicorn for Node.js: serve APP_MODULE (MODULE:ATTR) from a supervised pool of worker processes.')
    .argument('[APP_MODULE]', 'the app, as MODULE:ATTR (ATTR defaults to the default export)')
    .version(VERSION, '-v, --version', 'Print the version and exit.')
    .helpOption('-h, --help', 'Show this help and exit.')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });

  const attrToSetting = new Map<string, SettingName>();
  for (const section of SECTION_ORDER) {
    program.optionsGroup(`${section}:`);
    for (const name of SETTING_NAMES) {
      const s = settingDef(name);
      if (s.section !== section || !s.flags) continue;
      const flags = s.flags.join(', ') + (s.meta ? (s.implied ? ` [${s.meta}]` : ` <${s.meta}>`) : '');
      const opt = new Option(flags, `${s.doc} [default: ${s.defaultDoc}]`);
      if (s.implied) opt.preset(s.implied);
      if (s.append) opt.argParser((value: string, previous: unknown) => [...((previous as string[]) ?? []), value]);
      // Several flags may spell one setting (--error-logfile, --log-file); commander names the
      // attribute after the long flag it lists first.
      program.addOption(opt);
      // A `--no-X` flag (--no-control-socket) shares commander's attribute with `--X`; it sets its own setting.
      if (opt.negate) attrToSetting.set(`!${opt.attributeName()}`, name);
      else attrToSetting.set(opt.attributeName(), name);
    }
  }
  return { program, attrToSetting };
}

/**
 * A flag whose argument may be left out (--proxy-protocol [MODE]) followed by a word that is not
 * one of its values (the APP_MODULE, say) takes its implied value instead of swallowing the word.
 */
function withImpliedValues(argv: readonly string[]): string[] {
  const out = [...argv];
  for (let i = 0; i < out.length - 1; i++) {
    for (const name of SETTING_NAMES) {
      const s = settingDef(name);
      if (!s.implied || !s.flags?.includes(out[i]!) || out[i + 1]!.startsWith('-')) continue;
      try {
        s.validate(out[i + 1], name);
      } catch {
        out[i] = `${out[i]}=${s.implied}`;
      }
    }
  }
  return out;
}

/**
 * Parses one argument list (the command line, or TSGUNICORN_CMD_ARGS split like a shell).
 * Help and version requests print and exit here, as every CLI does.
 */
export function parseArgs(argv: readonly string[], source = 'command line'): ParsedArgs {
  const { program, attrToSetting } = buildProgram();
  try {
    program.parse(withImpliedValues(argv), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        process.exit(0);
      }
      const msg = err.message.replace(/^error: /, '');
      throw new UsageError(source === 'command line' ? msg : `${source}: ${msg}`);
    }
    throw err;
  }
  const opts = program.opts();
  const values: Partial<Record<SettingName, unknown>> = {};
  for (const [attr, value] of Object.entries(opts)) {
    const negated = attrToSetting.get(`!${attr}`);
    if (negated && value === false) values[negated] = true;
    const name = attrToSetting.get(attr);
    if (name && value !== undefined && value !== false) values[name] = value;
  }
  return { values, app: program.args[0] };
}

/** The --help text, for the docs. */
export function helpText(): string {
  return buildProgram().program.helpInformation();
}

export { SETTINGS };
