/**
 * `tsgunicorn [OPTIONS] APP_MODULE`: resolve the settings, then check, print, or serve.
 * Every error a user can cause ends here as one line and a non-zero status.
 */
import { loadApp } from './app/index.js';
import { parseAppSpec } from './app/spec.js';
import { Arbiter } from './arbiter/arbiter.js';
import { daemonize, teeStartupErrors } from './arbiter/daemon.js';
import { applyProcessSettings } from './config/apply.js';
import { formatSettings, resolveConfig, type ResolvedConfig } from './config/resolve.js';
import { AppLoadError, ConfigError, ExitStatus, TsgunicornError, UsageError, oneLine } from './errors.js';
import { resolveBindHost } from './listeners/create.js';
import { createLogger, type Logger } from './log/logger.js';
import { resolveWorkerClass } from './worker/classes/names.js';

function die(message: string, status: number): never {
  process.stderr.write(`tsgunicorn: error: ${message}\n`);
  process.exit(status);
}

/** Statuses for errors found before the master starts: usage and config errors are 2, as argparse. */
function statusOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof ConfigError) return ExitStatus.USAGE;
  if (err instanceof TsgunicornError && (err.code === 'E_APP_SPEC' || err.code === 'E_CONFIG_FILE')) return ExitStatus.USAGE;
  if (err instanceof AppLoadError) return ExitStatus.APP_LOAD;
  if (err instanceof TsgunicornError && err.code === 'E_APP_IMPORT') return ExitStatus.WORKER_BOOT;
  return ExitStatus.CONFIG;
}

async function resolve(argv: string[], cwd: string): Promise<ResolvedConfig> {
  const resolved = await resolveConfig({ argv, env: process.env, cwd });
  const s = resolved.settings;
  if (!s.app && !s.print_config) throw new UsageError('No application module specified.');
  if (s.app) parseAppSpec(s.app);
  resolveWorkerClass(s.worker_class, s.threads);
  // Host names are checked here so that a bad one is a usage error, before anything starts.
  for (const b of s.bind) await resolveBindHost(b);
  applyProcessSettings(s, cwd);
  return resolved;
}

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'ctl') return (await import('./cli-ctl.js')).main(argv.slice(1));
  // The config file is searched, and a reload (HUP) searches again, from where we were started.
  const cwd = process.cwd();
  let resolved: ResolvedConfig;
  try {
    resolved = await resolve(argv, cwd);
  } catch (err) {
    die(oneLine(err), statusOf(err));
  }
  const s = resolved.settings;

  if (s.print_config || s.check_config) {
    if (s.print_config) process.stdout.write(`${formatSettings(s)}\n`);
    if (!s.app) process.exit(s.check_config ? ExitStatus.CONFIG : ExitStatus.OK);
    try {
      await loadApp(s.app, s.chdir, createLogger({ errorlog: '-', loglevel: 'critical' }));
    } catch (err) {
      die(oneLine(err), ExitStatus.CONFIG);
    }
    process.exit(ExitStatus.OK);
  }

  // -D: the command starts the daemon and exits here, once the daemon is up (src/arbiter/daemon.ts).
  if (s.daemon) await daemonize({ errorlog: s.errorlog, cwd });

  let log: Logger;
  try {
    log = createLogger({ errorlog: s.errorlog, loglevel: s.loglevel, json: s.log_json });
  } catch (err) {
    die(new ConfigError('errorlog', s.errorlog, oneLine(err)).message, ExitStatus.USAGE);
  }
  log = teeStartupErrors(log);

  if (s.preload_app) {
    try {
      await loadApp(s.app!, s.chdir, log);
    } catch (err) {
      log.error(oneLine(err));
      process.exit(statusOf(err));
    }
  }

  const arbiter = new Arbiter(s, log, { argv, env: process.env, cwd });
  let status: number;
  try {
    status = await arbiter.run();
  } catch (err) {
    log.error(oneLine(err));
    status = err instanceof ConfigError ? ExitStatus.USAGE : ExitStatus.CONFIG;
  }
  process.exit(status);
}
