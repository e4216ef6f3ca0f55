import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { helpText } from '../../src/config/cli-options.js';
import { SETTINGS, SETTING_NAMES, canonicalName, defaults, settingDef } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

describe('the settings table', () => {
  test('holds every setting the foundation promises, with Gunicorn flags', () => {
    const flags: Record<string, string[]> = {
      bind: ['-b', '--bind'],
      workers: ['-w', '--workers'],
      worker_class: ['-k', '--worker-class'],
      threads: ['--threads'],
      worker_connections: ['--worker-connections'],
      backlog: ['--backlog'],
      timeout: ['-t', '--timeout'],
      graceful_timeout: ['--graceful-timeout'],
      keepalive: ['--keep-alive'],
      max_requests: ['--max-requests'],
      max_requests_jitter: ['--max-requests-jitter'],
      config: ['-c', '--config'],
      chdir: ['--chdir'],
      raw_env: ['-e', '--env'],
      pidfile: ['-p', '--pid'],
      proc_name: ['-n', '--name'],
      loglevel: ['--log-level'],
      errorlog: ['--error-logfile', '--log-file'],
      accesslog: ['--access-logfile'],
      check_config: ['--check-config'],
      print_config: ['--print-config'],
      preload_app: ['--preload'],
    };
    for (const [name, f] of Object.entries(flags)) {
      assert.ok(name in SETTINGS, `missing ${name}`);
      assert.deepEqual(settingDef(name as keyof typeof SETTINGS).flags, f, name);
    }
  });

  test("defaults are Gunicorn's", () => {
    const d = defaults({});
    assert.deepEqual(d.bind, ['127.0.0.1:8000']);
    assert.equal(d.workers, 1);
    assert.equal(d.worker_class, 'sync');
    assert.equal(d.threads, 1);
    assert.equal(d.worker_connections, 1000);
    assert.equal(d.timeout, 30);
    assert.equal(d.graceful_timeout, 30);
    assert.equal(d.keepalive, 2);
    assert.equal(d.backlog, 2048);
    assert.equal(d.max_requests, 0);
    assert.equal(d.loglevel, 'info');
    assert.equal(d.errorlog, '-');
    assert.equal(d.accesslog, null);
  });

  test('PORT and WEB_CONCURRENCY change the defaults', () => {
    const d = defaults({ PORT: '5000', WEB_CONCURRENCY: '6' });
    assert.deepEqual(d.bind, ['0.0.0.0:5000']);
    assert.equal(d.workers, 6);
  });

  test('every setting has a section, a doc line and a documented default', () => {
    for (const name of SETTING_NAMES) {
      const s = settingDef(name);
      assert.ok(s.section && s.doc && s.defaultDoc, name);
      assert.ok(!s.doc.includes('\n'), `${name}: doc must be one line`);
    }
  });

  test('validators name the setting and the value', () => {
    assert.throws(() => settingDef('workers').validate('abc', 'workers'), (e: unknown) => e instanceof ConfigError && /workers: "abc"/.test(e.message));
    assert.throws(() => settingDef('workers').validate('0', 'workers'), /at least 1/);
    assert.equal(settingDef('workers').validate('4', 'workers'), 4);
    assert.equal(settingDef('workers').validate(4, 'workers'), 4);
    assert.throws(() => settingDef('bind').validate(['nonsense:port'], 'bind'), /bind: "nonsense:port"/);
    assert.deepEqual(settingDef('bind').validate('unix:/tmp/x.sock', 'bind'), ['unix:/tmp/x.sock']);
    assert.throws(() => settingDef('worker_class').validate('fast', 'worker_class'), /worker_class: "fast": unknown worker class/);
    assert.equal(settingDef('worker_class').validate('gevent', 'worker_class'), 'gevent');
    assert.equal(settingDef('worker_class').validate('./my-class.js', 'worker_class'), './my-class.js');
    assert.throws(() => settingDef('raw_env').validate(['NOEQUALS'], 'raw_env'), /KEY=VALUE/);
    assert.deepEqual(settingDef('raw_env').validate({ A: 1, B: 'x' }, 'raw_env'), ['A=1', 'B=x']);
    assert.equal(settingDef('preload_app').validate('yes', 'preload_app'), true);
    assert.throws(() => settingDef('preload_app').validate('maybe', 'preload_app'), /true or false/);
    assert.equal(settingDef('loglevel').validate('WARNING', 'loglevel'), 'warning');
  });

  test('config-file keys: snake_case, camelCase and aliases', () => {
    assert.equal(canonicalName('worker_class'), 'worker_class');
    assert.equal(canonicalName('workerClass'), 'worker_class');
    assert.equal(canonicalName('maxRequestsJitter'), 'max_requests_jitter');
    assert.equal(canonicalName('wsgi_app'), 'app');
    assert.equal(canonicalName('nonsense'), undefined);
  });

  test('--help is generated from the table, grouped by section', () => {
    const help = helpText();
    for (const name of SETTING_NAMES) {
      const s = settingDef(name);
      if (!s.flags) continue;
      for (const flag of s.flags) assert.ok(help.includes(flag), `${flag} missing from --help`);
    }
    assert.match(help, /Worker Processes:/);
    assert.match(help, /Server Socket:/);
  });
});
