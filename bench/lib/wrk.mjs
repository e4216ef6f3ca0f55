// Runs wrk and reads its figures. Every run uses a Lua script whose done() prints one JSON line
// (prefixed @@BENCH@@); wrk's text output is parsed as a fallback and kept for the record.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTracked } from './proc.mjs';

const SCRIPTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts');
export const REPORT_LUA = path.join(SCRIPTS, 'report.lua');
export const MIXED_LUA = path.join(SCRIPTS, 'mixed.lua');

/**
 * opts: { url, threads=2, connections=50, durationS=5, headers=[], script, scriptArgs=[],
 *         timeoutS }
 * Resolves to { rps, requests, durationS, latencyMs: {p50,p90,p99,mean,max}, errors, kinds?, raw }.
 */
export async function runWrk(opts) {
  const { url, threads = 2, connections = 50, durationS = 5, headers = [], script = REPORT_LUA, scriptArgs = [], timeoutS } = opts;
  const t = Math.max(1, Math.min(threads, connections));
  const args = ['-t', String(t), '-c', String(connections), '-d', `${Math.max(1, Math.round(durationS))}s`];
  if (timeoutS) args.push('--timeout', `${timeoutS}s`);
  for (const h of headers) args.push('-H', h);
  args.push('-s', script, url);
  if (scriptArgs.length) args.push('--', ...scriptArgs.map(String));
  const r = await runTracked('wrk', 'wrk', args, { timeoutMs: (durationS + 30) * 1000 });
  if (r.error) throw new Error(`wrk could not run: ${r.error.message}`);
  const parsed = parseWrk(r.stdout);
  if (!parsed) throw new Error(`wrk gave no figures (status ${r.status}): ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  parsed.args = args;
  return parsed;
}

const us2ms = (v) => (v == null ? null : Math.round(v) / 1000);

function fromJson(j) {
  const durationS = j.duration_us / 1e6;
  const lat = j.latency_us ?? {};
  const out = {
    requests: j.requests,
    durationS,
    rps: durationS > 0 ? j.requests / durationS : 0,
    latencyMs: { p50: us2ms(lat.p50), p90: us2ms(lat.p90), p99: us2ms(lat.p99), mean: us2ms(lat.mean), max: us2ms(lat.max) },
    errors: j.errors,
  };
  if (j.kinds) {
    out.kinds = {};
    for (const [k, v] of Object.entries(j.kinds)) {
      out.kinds[k] = { n: v.n, p50: us2ms(v.p50), p90: us2ms(v.p90), p99: us2ms(v.p99), mean: us2ms(v.mean), max: us2ms(v.max) };
    }
    out.badStatus = j.bad_status;
    out.unmatched = j.unmatched;
  }
  return out;
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000 };
function textMs(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s ?? '');
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

/** Parses wrk's output: the @@BENCH@@ JSON line when present, else wrk's own text. */
export function parseWrk(stdout) {
  const line = stdout.split('\n').find((l) => l.startsWith('@@BENCH@@'));
  if (line) {
    try {
      return fromJson(JSON.parse(line.slice('@@BENCH@@'.length)));
    } catch {
      /* fall through to the text */
    }
  }
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!rps) return null;
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(stdout);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  const pct = (p) => textMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(stdout)?.[1]);
  const lat = /^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(stdout);
  return {
    requests: total ? Number(total[1]) : null,
    durationS: total ? textMs(`${total[2]}${total[3]}`) / 1000 : null,
    rps: Number(rps[1]),
    latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), mean: textMs(lat?.[1]), max: textMs(lat?.[3]) },
    errors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
      status: Number(non2xx?.[1] ?? 0),
    },
  };
}

export function errorCount(result) {
  const e = result?.errors ?? {};
  return (e.connect ?? 0) + (e.read ?? 0) + (e.write ?? 0) + (e.timeout ?? 0) + (e.status ?? 0);
}
