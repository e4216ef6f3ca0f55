// The one app every Node contender serves (tsgunicorn loads `app`; the bare cluster and PM2
// servers pass it to http.createServer). Routes:
//   /          hello world
//   /io/MS     waits MS milliseconds (a timer: I/O, no CPU), then hello
//   /cpu/MS    burns about MS milliseconds of CPU (a fixed amount of work, calibrated by the
//              harness and passed in BENCH_CPU_ITERS_PER_MS), then hello
// A request header `X-Id` is echoed back, so the mixed-load Lua script can pair responses with
// requests and time each kind separately.

const ITERS_PER_MS = Number(process.env.BENCH_CPU_ITERS_PER_MS) || 200_000;
const BODY = 'Hello, world!\n';

/** Fixed work, not a wall-clock spin: two threads sharing one core take twice as long. */
export function burnIterations(n) {
  let x = 1;
  for (let i = 0; i < n; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}

export function burn(ms, itersPerMs = ITERS_PER_MS) {
  return burnIterations(Math.round(ms * itersPerMs));
}

/**
 * Iterations of burnIterations() per millisecond on this machine: the best of many ~10 ms
 * samples, so that a sample the scheduler interrupted (other load on the cores) does not count.
 */
export function calibrate() {
  let n = 100_000;
  for (;;) {
    const t0 = performance.now();
    burnIterations(n);
    const dt = performance.now() - t0;
    if (dt >= 10) break;
    n *= 2;
  }
  let best = Infinity;
  for (let i = 0; i < 25; i++) {
    const t0 = performance.now();
    burnIterations(n);
    best = Math.min(best, performance.now() - t0);
  }
  return Math.round(n / best);
}

function hello(req, res, extra) {
  const id = req.headers['x-id'];
  if (id !== undefined) res.setHeader('X-Id', id);
  if (extra !== undefined) res.setHeader('X-Work', String(extra));
  res.setHeader('Content-Type', 'text/plain');
  res.end(BODY);
}

export function app(req, res) {
  const url = req.url;
  if (url === '/') return hello(req, res);
  const m = /^\/(io|cpu)\/(\d+)/.exec(url);
  if (m === null) {
    res.statusCode = 404;
    return res.end('not found\n');
  }
  const ms = Number(m[2]);
  if (m[1] === 'io') setTimeout(() => hello(req, res), ms);
  else hello(req, res, burn(ms));
}

export default app;

if (process.argv[2] === '--calibrate') console.log(calibrate());
