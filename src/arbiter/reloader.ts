/**
 * --reload (development): the master watches the source files under --chdir, and the files named
 * by --reload-extra-file, and replaces the workers when one changes — as HUP replaces them for
 * new code, new workers first, but without reading the configuration again.
 *
 * One non-recursive fs.watch (inotify) per directory, added as directories appear: node_modules
 * and dot directories are never walked, so a project with a large node_modules costs a handful of
 * watches. Events are debounced, so an editor's write-rename-chmod sequence is one reload.
 *
 * An app that does not load (a syntax error) does not halt the master as it would without
 * --reload: the failure is logged with where it happened, the generation that failed is not
 * respawned, and the next change (or HUP) tries again. Workers of the previous generation, if
 * any, go on serving the code they loaded meanwhile.
 */
import { watch, readdirSync, statSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log/logger.js';

export const SOURCE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts', '.json'] as const;
const SOURCE = new Set<string>(SOURCE_EXTENSIONS);
/** inotify watches are a per-user resource (fs.inotify.max_user_watches); do not take them all. */
const MAX_DIRECTORIES = 5000;

function skipped(name: string): boolean {
  return name === 'node_modules' || name.startsWith('.');
}

export interface ReloaderOptions {
  /** The tree to watch (--chdir, absolute). */
  root: string;
  /** --reload-extra-file, as given. */
  extraFiles: readonly string[];
  /** Where tsgunicorn was started: extra files are relative to it, as in Gunicorn. */
  cwd: string;
  log: Logger;
  /** Called once per debounced batch, with the changed files. */
  onChange: (files: string[]) => void;
  debounceMs?: number;
}

export class Reloader {
  private readonly dirs = new Map<string, FSWatcher>();
  private readonly extraDirs = new Map<string, FSWatcher>();
  private readonly extra = new Set<string>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private warnedLimit = false;
  /** The generation whose workers failed to boot: it is not respawned until a change (or HUP) starts a new one. */
  failedGeneration = -1;

  constructor(private readonly opts: ReloaderOptions) {
    this.addTree(opts.root);
    for (const f of opts.extraFiles) this.addExtra(path.resolve(opts.cwd, f));
  }

  /** The number of directories watched. */
  get watched(): number {
    return this.dirs.size + this.extraDirs.size;
  }

  /** A worker of `generation` could not load the app: wait for the next change instead of halting. */
  bootFailed(generation: number): void {
    if (this.failedGeneration === generation) return;
    this.failedGeneration = generation;
    this.opts.log.error('Worker failed to boot; fix the app and save: workers are started again on the next change (--reload).');
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of [...this.dirs.values(), ...this.extraDirs.values()]) w.close();
    this.dirs.clear();
    this.extraDirs.clear();
  }

  private addTree(dir: string): void {
    if (this.closed || this.dirs.has(dir)) return;
    if (this.dirs.size >= MAX_DIRECTORIES) {
      if (!this.warnedLimit) this.opts.log.warning(`--reload watches at most ${MAX_DIRECTORIES} directories; ${dir} and others are not watched`);
      this.warnedLimit = true;
      return;
    }
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (event, name) => this.onEvent(dir, event, name));
    } catch (err) {
      this.opts.log.debug(`--reload cannot watch ${dir}: ${(err as Error).message}`);
      return;
    }
    watcher.on('error', () => this.unwatch(dir));
    this.dirs.set(dir, watcher);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    // Symbolic links are not followed (a link to / would watch the world).
    for (const e of entries) if (e.isDirectory() && !skipped(e.name)) this.addTree(path.join(dir, e.name));
  }

  private unwatch(dir: string): void {
    for (const [d, w] of this.dirs) {
      if (d === dir || d.startsWith(dir + path.sep)) {
        w.close();
        this.dirs.delete(d);
      }
    }
  }

  private addExtra(file: string): void {
    this.extra.add(file);
    const dir = path.dirname(file);
    if (this.extraDirs.has(dir)) return;
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name && this.extra.has(path.join(dir, name.toString()))) this.changed(path.join(dir, name.toString()));
      });
      w.on('error', () => {});
      this.extraDirs.set(dir, w);
    } catch (err) {
      this.opts.log.warning(`--reload-extra-file ${file}: cannot watch ${dir} (${(err as Error).message})`);
    }
  }

  private onEvent(dir: string, event: string, name: string | Buffer | null): void {
    if (!name) return;
    const base = name.toString();
    const full = path.join(dir, base);
    if (event === 'rename' && !skipped(base)) {
      // A directory created (or moved in) is watched too; one removed stops its watchers.
      let isDir = false;
      try {
        isDir = statSync(full).isDirectory();
      } catch {
        if (this.dirs.has(full)) this.unwatch(full);
      }
      if (isDir) {
        this.addTree(full);
        return;
      }
    }
    // Dot files are editors' (swap files, Emacs's .#name.js lock links), not the app's.
    if (!base.startsWith('.') && SOURCE.has(path.extname(base))) this.changed(full);
  }

  private changed(file: string): void {
    if (this.closed) return;
    this.pending.add(file);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const files = [...this.pending];
      this.pending.clear();
      for (const f of files) this.opts.log.info(`Worker reloading: ${f} modified`);
      this.opts.onChange(files);
    }, this.opts.debounceMs ?? 200);
    this.timer.unref();
  }
}
