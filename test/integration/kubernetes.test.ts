/**
 * examples/kubernetes/tsgunicorn.yaml: its numbers agree with each other (the args as tsgunicorn
 * itself reads them), and the container's args, run for real with loopback addresses, serve the
 * paths its probes ask for.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/resolve.js';
import { parseBind } from '../../src/listeners/bind.js';
import { parseMetricsAddress } from '../../src/metrics/address.js';
import { request } from '../helpers/edge.js';
import { FIXTURES, ROOT, sleep, start, tempDir } from '../helpers/server.js';
import { parseYamlDocuments } from '../helpers/yaml.js';

const MANIFEST = path.join(ROOT, 'examples', 'kubernetes', 'tsgunicorn.yaml');
const docs = parseYamlDocuments(readFileSync(MANIFEST, 'utf8')) as any[];
const deployment = docs.find((d) => d?.kind === 'Deployment');
const service = docs.find((d) => d?.kind === 'Service');
const pod = deployment?.spec?.template?.spec;
const container = pod?.containers?.[0];

/** Kubernetes quantities as plain numbers (bytes, or CPUs). */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|m)?$/.exec(String(q));
  assert.ok(m, `quantity ${q}`);
  const scale: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, m: 1e-3 };
  return Number(m[1]) * (m[2] ? scale[m[2]]! : 1);
}

/** A probe's port: a number, or the name of one of the container's ports. */
function portOf(port: string | number): number {
  if (typeof port === 'number') return port;
  const p = (container.ports as any[]).find((x) => x.name === port);
  assert.ok(p, `the container has a port named ${port}`);
  return p.containerPort;
}

async function settingsOfContainer() {
  const env = Object.fromEntries(((container.env ?? []) as any[]).map((e) => [e.name, String(e.value)]));
  return (await resolveConfig({ argv: container.args, env, cwd: tempDir() })).settings;
}

describe('examples/kubernetes', () => {
  test('one Deployment and one Service that select its pods', () => {
    assert.ok(deployment && service && container, 'a Deployment with a container, and a Service');
    const labels = deployment.spec.template.metadata.labels;
    for (const sel of [deployment.spec.selector.matchLabels, service.spec.selector]) {
      for (const [k, v] of Object.entries(sel)) assert.equal(labels[k], v, `selector ${k}=${v} matches the pod template`);
    }
    assert.match(container.command[0], /node_modules\/\.bin\/tsgunicorn$/, 'tsgunicorn itself is PID 1, so TERM reaches the master');
  });

  test('the args, as tsgunicorn reads them, agree with the ports, probes, grace period and memory limit', async () => {
    const s = await settingsOfContainer();

    // Probes: readiness on /readyz, liveness on /healthz, both on the --metrics-bind port.
    const metrics = parseMetricsAddress(s.metrics_bind!);
    assert.equal(metrics.kind, 'tcp');
    if (metrics.kind !== 'tcp') return;
    assert.notEqual(metrics.host, '127.0.0.1', 'the kubelet probes the pod IP: the metrics server must not listen on loopback only');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(portOf(container.readinessProbe.httpGet.port), metrics.port);
    assert.equal(portOf(container.livenessProbe.httpGet.port), metrics.port);

    // The Service sends traffic to the app's --bind port, not to the metrics server.
    assert.equal(s.bind.length, 1);
    const app = parseBind(s.bind[0]!);
    assert.equal(app.kind, 'tcp');
    if (app.kind !== 'tcp') return;
    assert.equal(portOf(service.spec.ports[0].targetPort), app.port);
    assert.notEqual(app.port, metrics.port);

    // KILL comes terminationGracePeriodSeconds after preStop begins: preStop, then the workers'
    // --graceful-timeout, must both fit, with room for the master to exit.
    const preStop = Number(container.lifecycle.preStop.sleep?.seconds ?? 0);
    assert.ok(preStop > 0, 'a preStop pause lets endpoints drain before TERM');
    assert.ok(s.graceful_timeout > 0);
    assert.ok(
      pod.terminationGracePeriodSeconds > preStop + s.graceful_timeout,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${preStop} + --graceful-timeout ${s.graceful_timeout}`,
    );

    // Workers are recycled (--max-worker-memory) before the container's limit calls the OOM killer.
    assert.ok(s.max_worker_memory > 0);
    assert.ok(s.workers * s.max_worker_memory * 2 ** 20 < quantity(container.resources.limits.memory));
    assert.ok(quantity(container.resources.requests.memory) <= quantity(container.resources.limits.memory));
    assert.ok(quantity(container.resources.requests.cpu) <= quantity(container.resources.limits.cpu));
  });

  test("the container's args serve the probes' paths: /healthz 200, /readyz 200 once workers serve, 503 on TERM; exit 0", async (t) => {
    const s = await settingsOfContainer();
    // The same args with loopback addresses and a test app in place of the image's.
    const args = (container.args as string[]).map((a) => {
      if (a.startsWith('--bind=')) return '--bind=127.0.0.1:0';
      if (a.startsWith('--metrics-bind=')) return '--metrics-bind=127.0.0.1:0';
      if (a === s.app) return `${path.join(FIXTURES, 'apps', 'app.cjs')}:app`;
      return a;
    });
    assert.equal(args.filter((a, i) => a !== container.args[i]).length, 3, 'bind, metrics-bind and the app were swapped');
    const srv = start(args);
    t.after(() => srv.kill());
    const [m] = await srv.waitFor(/Serving metrics at: (http:\/\/\S+)\/metrics/, 15_000);
    const base = new URL(m![1]!);
    const probe = async (p: string) =>
      (await request({ host: base.hostname, port: Number(base.port), path: p, timeoutMs: 5000 }).catch(() => null))?.status ?? 0;

    assert.equal(await probe(container.livenessProbe.httpGet.path), 200);
    const readiness = container.readinessProbe.httpGet.path;
    const deadline = Date.now() + 20_000;
    while ((await probe(readiness)) !== 200) {
      assert.ok(Date.now() < deadline, `${readiness} never 200:\n${srv.output}`);
      await sleep(100);
    }
    srv.proc.kill('SIGTERM');
    // Out of the endpoints as soon as the stop begins (0: the metrics server has closed with the master).
    let status = 200;
    while (status === 200 && !srv.done) {
      await sleep(20);
      status = await probe(readiness);
    }
    assert.notEqual(status, 200, `${readiness} during the stop`);
    assert.deepEqual(await srv.exited, { code: 0, signal: null }, srv.output);
  });
});
