/**
 * Beyond Gunicorn: --max-worker-memory. A worker checks its own resident set size about once a
 * second; past the limit it logs one line and leaves through the graceful stop path (as after
 * --max-requests): the master starts its replacement at once, in-flight requests finish, and
 * requests arriving on its keep-alive connections are answered with `Connection: close`. Unlike
 * PM2's max_memory_restart, no request is dropped.
 */
import type { Logger } from '../log/logger.js';

const MB = 1024 * 1024;

export interface MemoryLimit {
  stop(): void;
}

/**
 * Calls `recycle` once, when the RSS first exceeds `limitMb` (0: never). The RSS counts every
 * thread of the process (gthread's pool included), which is what the kernel's OOM killer counts.
 */
export function watchMemory(limitMb: number, log: Logger, recycle: () => void, everyMs = 1000): MemoryLimit {
  if (!(limitMb > 0)) return { stop() {} };
  const limit = limitMb * MB;
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss <= limit) return;
    clearInterval(timer);
    log.info(
      `Autorestarting worker (pid: ${process.pid}): memory usage ${Math.round(rss / MB)} MB exceeds max_worker_memory ${limitMb} MB.`,
    );
    recycle();
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
