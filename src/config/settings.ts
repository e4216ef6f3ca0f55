/**
 * THE settings table. One entry per setting, keyed by its Gunicorn name. The command line, the
 * config file, TSGUNICORN_CMD_ARGS, --help, --print-config, validation errors and the settings
 * section of the README are all generated from this table: a setting is added here and nowhere
 * else.
 */
import { WORKER_CLASS_CHOICES, validateWorkerClass } from '../worker/classes/names.js';
import * as v from './validators.js';
import { groupSetting, umaskSetting, userSetting } from './privileges.js';
import { dogstatsdTagsSetting, metricsBindSetting, statsdHostSetting } from '../metrics/address.js';
import * as nv from './net-validators.js';

export type Section =
  | 'Config File'
  | 'Server Socket'
  | 'Worker Processes'
  | 'Server Mechanics'
  | 'Security'
  | 'SSL'
  | 'Logging'
  | 'Control'
  | 'Process Naming'
  | 'Server Hooks'
  | 'Debugging';

export interface SettingDef<T> {
  section: Section;
  /** Command-line flags, spelled as Gunicorn spells them. Absent: config file only. */
  flags?: readonly string[];
  /** Placeholder of the flag's argument in --help. Absent: a flag without argument (true when given). */
  meta?: string;
  /** The flag may be repeated; each use adds a value. */
  append?: boolean;
  /** The flag's argument may be left out, meaning this value (Gunicorn's nargs='?' const). */
  implied?: string;
  /** Default value, computed from the environment (WEB_CONCURRENCY, PORT). */
  default: (env: NodeJS.ProcessEnv) => T;
  /** The default as the docs show it. */
  defaultDoc: string;
  validate: v.Validator<T>;
  /** One line for --help and the docs. */
  doc: string;
  /** Other config-file keys for this setting (Gunicorn's names where ours differ). */
  aliases?: readonly string[];
}

const def = <T>(s: SettingDef<T>): SettingDef<T> => s;

/** A server hook: a function from the config file, called with Gunicorn's arguments adapted to Node. */
export type HookFn = (...args: unknown[]) => unknown;
const hook = (signature: string, doc: string) =>
  def({
    section: 'Server Hooks',
    default: () => null as HookFn | null,
    defaultDoc: 'none',
    validate: v.hookFunction,
    doc: `${signature} ${doc}`,
  });

export const SETTINGS = {
  // Config File
  config: def({
    section: 'Config File',
    flags: ['-c', '--config'],
    meta: 'CONFIG',
    default: () => null as string | null,
    defaultDoc: 'searched from the working directory',
    validate: v.optionalString,
    doc: 'Config file (tsgunicorn.config.{js,cjs,mjs,ts,json}, .tsgunicornrc*, or "tsgunicorn" in package.json).',
  }),
  app: def({
    section: 'Config File',
    default: () => null as string | null,
    defaultDoc: 'none',
    validate: v.optionalString,
    doc: 'The app to serve, MODULE:ATTR, when the command line does not name one.',
    aliases: ['wsgi_app'],
  }),

  // Server Socket
  bind: def({
    section: 'Server Socket',
    flags: ['-b', '--bind'],
    meta: 'ADDRESS',
    append: true,
    default: (env) => [env.PORT ? `0.0.0.0:${env.PORT}` : '127.0.0.1:8000'],
    defaultDoc: "['127.0.0.1:8000'], or ['0.0.0.0:$PORT'] when PORT is set",
    validate: v.list(v.bindAddress),
    doc: 'Socket to bind: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N; repeat to bind several.',
  }),
  backlog: def({
    section: 'Server Socket',
    flags: ['--backlog'],
    meta: 'INT',
    default: () => 2048,
    defaultDoc: '2048',
    validate: v.int(1, 65535),
    doc: 'Maximum number of pending connections the kernel queues while every worker is busy.',
  }),

  // Worker Processes
  workers: def({
    section: 'Worker Processes',
    flags: ['-w', '--workers'],
    meta: 'INT',
    default: (env) => (env.WEB_CONCURRENCY ? v.int(1)(env.WEB_CONCURRENCY, 'workers') : 1),
    defaultDoc: '1, or $WEB_CONCURRENCY',
    validate: v.int(1, 1024),
    doc: 'Number of worker processes.',
  }),
  worker_class: def({
    section: 'Worker Processes',
    flags: ['-k', '--worker-class'],
    meta: 'STRING',
    default: () => 'sync',
    defaultDoc: 'sync',
    validate: validateWorkerClass,
    doc: `Worker class: ${WORKER_CLASS_CHOICES}, or the path of a module implementing a worker class.`,
  }),
  threads: def({
    section: 'Worker Processes',
    flags: ['--threads'],
    meta: 'INT',
    default: () => 1,
    defaultDoc: '1',
    validate: v.int(1, 4096),
    doc: 'Threads per worker for the gthread class; above 1 with the sync class, gthread is used.',
  }),
  worker_connections: def({
    section: 'Worker Processes',
    flags: ['--worker-connections'],
    meta: 'INT',
    default: () => 1000,
    defaultDoc: '1000',
    validate: v.int(1),
    doc: 'Maximum open connections per worker (async and gthread classes).',
  }),
  max_requests: def({
    section: 'Worker Processes',
    flags: ['--max-requests'],
    meta: 'INT',
    default: () => 0,
    defaultDoc: '0',
    validate: v.int(0),
    doc: 'Requests a worker serves before it is replaced gracefully; 0 disables recycling.',
  }),
  max_requests_jitter: def({
    section: 'Worker Processes',
    flags: ['--max-requests-jitter'],
    meta: 'INT',
    default: () => 0,
    defaultDoc: '0',
    validate: v.int(0),
    doc: 'Random extra requests (0..N) added to max_requests per worker, so workers do not all restart at once.',
  }),
  max_worker_memory: def({
    section: 'Worker Processes',
    flags: ['--max-worker-memory'],
    meta: 'MB',
    default: () => 0,
    defaultDoc: '0',
    validate: v.int(0),
    doc: 'Beyond Gunicorn: a worker whose resident memory (RSS) passes this many megabytes is replaced gracefully; 0 disables.',
  }),
  timeout: def({
    section: 'Worker Processes',
    flags: ['-t', '--timeout'],
    meta: 'INT',
    default: () => 30,
    defaultDoc: '30',
    validate: v.int(0),
    doc: 'Seconds a worker may stay silent (event loop blocked) before it is killed and replaced (gthread: an app thread, then its worker is recycled); 0 disables.',
  }),
  graceful_timeout: def({
    section: 'Worker Processes',
    flags: ['--graceful-timeout'],
    meta: 'INT',
    default: () => 30,
    defaultDoc: '30',
    validate: v.int(0),
    doc: 'Seconds workers get to finish in-flight requests on a graceful stop before they are killed.',
  }),
  request_timeout: def({
    section: 'Worker Processes',
    flags: ['--request-timeout'],
    meta: 'INT',
    default: () => 60,
    defaultDoc: '60',
    validate: v.int(0),
    doc: 'Beyond Gunicorn: seconds a request may wait for the start of its answer (from its headers to the response head); then it gets 408 if its body is still arriving, 503 if it still waits for a gthread thread, else 500, and its connection closes. Answers already started are not cut. 0 disables.',
  }),
  keepalive: def({
    section: 'Worker Processes',
    flags: ['--keep-alive'],
    meta: 'INT',
    default: () => 2,
    defaultDoc: '2',
    validate: v.int(0),
    doc: 'Seconds an idle keep-alive connection is held open (async and gthread classes); 0 disables keep-alive.',
  }),

  // Server Mechanics
  chdir: def({
    section: 'Server Mechanics',
    flags: ['--chdir'],
    meta: 'CHDIR',
    default: () => process.cwd(),
    defaultDoc: 'the working directory',
    validate: v.nonEmptyString,
    doc: 'Change to this directory before loading the app.',
  }),
  raw_env: def({
    section: 'Server Mechanics',
    flags: ['-e', '--env'],
    meta: 'ENV',
    append: true,
    default: () => [] as string[],
    defaultDoc: '[]',
    validate: v.envList,
    doc: 'Set an environment variable for the app (KEY=VALUE); repeat for several.',
  }),
  pidfile: def({
    section: 'Server Mechanics',
    flags: ['-p', '--pid'],
    meta: 'FILE',
    default: () => null as string | null,
    defaultDoc: 'none',
    validate: v.optionalString,
    doc: 'Write the master pid to this file; it is removed on exit.',
  }),
  preload_app: def({
    section: 'Server Mechanics',
    flags: ['--preload'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: 'Load the app in the master before forking, so a broken app fails fast (workers still load their own copy).',
  }),
  daemon: def({
    section: 'Server Mechanics',
    flags: ['-D', '--daemon'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: 'Detach from the terminal and run in the background (output to --error-logfile, else /dev/null); the command returns once the master is up.',
  }),
  user: def({
    section: 'Server Mechanics',
    flags: ['-u', '--user'],
    meta: 'USER',
    default: () => null as number | null,
    defaultDoc: 'none (the user running tsgunicorn)',
    validate: userSetting,
    doc: 'Switch worker processes to this user (name or uid) after the sockets are bound; the master keeps its own.',
  }),
  group: def({
    section: 'Server Mechanics',
    flags: ['-g', '--group'],
    meta: 'GROUP',
    default: () => null as number | null,
    defaultDoc: "none (the --user's primary group, else unchanged)",
    validate: groupSetting,
    doc: 'Switch worker processes to this group (name or gid).',
  }),
  initgroups: def({
    section: 'Server Mechanics',
    flags: ['--initgroups'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: "Give workers all the supplementary groups of --user, plus --group (else only --group).",
  }),
  umask: def({
    section: 'Server Mechanics',
    flags: ['-m', '--umask'],
    meta: 'INT',
    default: () => 0,
    defaultDoc: '0',
    validate: umaskSetting,
    doc: "Bit mask for the mode of unix socket files the master binds (0 gives srwxrwxrwx): a number, or '0o22', '022', '0x12'.",
  }),

  header_map: def({
    section: 'Server Mechanics',
    flags: ['--header-map'],
    meta: 'STRING',
    default: () => 'drop' as const,
    defaultDoc: 'drop',
    validate: v.choice(['drop', 'refuse', 'dangerous'] as const),
    doc: "Request headers whose name contains '_': drop (removed before the app sees them), refuse (400) or dangerous (kept).",
  }),
  reuse_port: def({
    section: 'Server Mechanics',
    flags: ['--reuse-port'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: "Set SO_REUSEPORT on the master's TCP sockets, so another process may bind the same address meanwhile (Node 22.12+; a notice on older Node).",
  }),
  forwarded_allow_ips: def({
    section: 'Server Mechanics',
    flags: ['--forwarded-allow-ips'],
    meta: 'STRING',
    default: (env) => nv.addressList(env.FORWARDED_ALLOW_IPS ?? '127.0.0.1,::1', 'forwarded_allow_ips'),
    defaultDoc: "'127.0.0.1,::1', or $FORWARDED_ALLOW_IPS",
    validate: nv.addressList,
    doc: "Front ends (comma-separated IPs or CIDR networks, '*' for all) whose secure_scheme_headers set the scheme the app sees; unix-socket peers are always trusted.",
  }),
  secure_scheme_headers: def({
    section: 'Server Mechanics',
    default: () => ({ 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' }) as Record<string, string>,
    defaultDoc: "{ 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' }",
    validate: nv.schemeHeaders,
    doc: 'Headers a trusted front end sets, with the value meaning https (any other value means http; two that disagree are a 400).',
  }),
  proxy_protocol: def({
    section: 'Server Mechanics',
    flags: ['--proxy-protocol'],
    meta: 'MODE',
    implied: 'auto',
    default: () => 'off' as nv.ProxyProtocolMode,
    defaultDoc: 'off',
    validate: nv.proxyProtocol,
    doc: 'Read a PROXY protocol header at the start of each connection: off, v1, v2 or auto (the flag alone); the client address replaces the peer\'s.',
  }),
  proxy_allow_ips: def({
    section: 'Server Mechanics',
    flags: ['--proxy-allow-from'],
    meta: 'STRING',
    default: () => ['127.0.0.1', '::1'],
    defaultDoc: "'127.0.0.1,::1'",
    validate: nv.addressList,
    doc: "Peers (comma-separated IPs or CIDR networks, '*' for all) allowed to send a PROXY header; others get 403. Unix-socket peers are always allowed.",
    aliases: ['proxy_allow_from'],
  }),

  // Security
  limit_request_line: def({
    section: 'Security',
    flags: ['--limit-request-line'],
    meta: 'INT',
    default: () => 4094,
    defaultDoc: '4094',
    validate: v.int(0),
    doc: 'Maximum size of the request line (method, target, version) in bytes, else 400; 0 is unlimited, values above 8190 mean 8190.',
  }),
  limit_request_fields: def({
    section: 'Security',
    flags: ['--limit-request-fields'],
    meta: 'INT',
    default: () => 100,
    defaultDoc: '100',
    validate: v.int(0),
    doc: 'Maximum number of header fields in a request, else 431; 0 or values above 32768 mean 32768.',
  }),
  limit_request_field_size: def({
    section: 'Security',
    flags: ['--limit-request-field_size'],
    meta: 'INT',
    default: () => 8190,
    defaultDoc: '8190',
    validate: v.int(0),
    doc: 'Maximum size of one header field (name, value and separators) in bytes, else 431; 0 means the default, 8190, as in Gunicorn 26.',
  }),
  header_timeout: def({
    section: 'Security',
    flags: ['--header-timeout'],
    meta: 'INT',
    default: () => 30,
    defaultDoc: '30',
    validate: v.seconds,
    doc: 'Seconds a client gets to send the request headers (and its PROXY header and TLS handshake) before the connection is closed (408); 0 disables. Slowloris guard.',
  }),

  // SSL
  keyfile: def({
    section: 'SSL',
    flags: ['--keyfile'],
    meta: 'FILE',
    default: () => null as string | null,
    defaultDoc: 'none',
    validate: v.optionalString,
    doc: 'TLS private key file (PEM); without it the key is read from --certfile.',
  }),
  certfile: def({
    section: 'SSL',
    flags: ['--certfile'],
    meta: 'FILE',
    default: () => null as string | null,
    defaultDoc: 'none',
    validate: v.optionalString,
    doc: 'TLS certificate file (PEM, with its chain); setting it (or --keyfile) serves HTTPS.',
  }),
  ca_certs: def({
    section: 'SSL',
    flags: ['--ca-certs'],
    meta: 'FILE',
    default: () => null as string | null,
    defaultDoc: 'none',
    validate: v.optionalString,
    doc: 'CA certificates (PEM) that client certificates are verified against.',
  }),
  cert_reqs: def({
    section: 'SSL',
    flags: ['--cert-reqs'],
    meta: 'INT',
    default: () => 0,
    defaultDoc: '0',
    validate: nv.certReqs,
    doc: 'Client certificates: 0 not asked for, 1 optional (req.socket.authorized tells), 2 required (handshake fails without a valid one).',
  }),
  ciphers: def({
    section: 'SSL',
    flags: ['--ciphers'],
    meta: 'STRING',
    default: () => null as string | null,
    defaultDoc: "Node's default list",
    validate: v.optionalString,
    doc: 'TLS cipher suites, as an OpenSSL cipher list.',
  }),

  // Logging
  loglevel: def({
    section: 'Logging',
    flags: ['--log-level'],
    meta: 'LEVEL',
    default: () => 'info' as const,
    defaultDoc: 'info',
    validate: v.choice(['debug', 'info', 'warning', 'error', 'critical'] as const),
    doc: 'Error log level: debug, info, warning, error or critical.',
  }),
  errorlog: def({
    section: 'Logging',
    flags: ['--error-logfile', '--log-file'],
    meta: 'FILE',
    default: () => '-',
    defaultDoc: "'-' (stderr)",
    validate: v.nonEmptyString,
    doc: "Error log file; '-' is stderr.",
  }),
  accesslog: def({
    section: 'Logging',
    flags: ['--access-logfile'],
    meta: 'FILE',
    default: () => null as string | null,
    defaultDoc: 'none (off)',
    validate: v.optionalString,
    doc: "Access log file; '-' is stdout.",
  }),
  access_log_format: def({
    section: 'Logging',
    flags: ['--access-logformat'],
    meta: 'STRING',
    default: () => '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    defaultDoc: 'Gunicorn\'s: %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    validate: v.nonEmptyString,
    doc: 'Access log line format, with Gunicorn\'s atoms (h l u t r m U q H s B b f a T D M L p {header}i {header}o {var}e).',
  }),
  access_log_json: def({
    section: 'Logging',
    flags: ['--access-log-json'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: "Write the access log as one JSON object per request (the format's fields plus pid and request_id) instead of lines; to stdout unless --access-logfile names a file.",
  }),
  log_json: def({
    section: 'Logging',
    flags: ['--log-json'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: "Write the error log as JSON lines (level, time, pid, msg) instead of Gunicorn's text lines.",
  }),
  capture_output: def({
    section: 'Logging',
    flags: ['--capture-output'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: "Send the app's stdout and stderr to the error log file (when --error-logfile names a file).",
  }),
  statsd_host: def({
    section: 'Logging',
    flags: ['--statsd-host'],
    meta: 'STATSD_ADDR',
    default: () => null as string | null,
    defaultDoc: 'none (off)',
    validate: statsdHostSetting,
    doc: "StatsD server to send Gunicorn's metrics to: HOST:PORT (UDP; port 8125 if left out) or unix:PATH (a datagram socket).",
  }),
  statsd_prefix: def({
    section: 'Logging',
    flags: ['--statsd-prefix'],
    meta: 'STATSD_PREFIX',
    default: () => '',
    defaultDoc: "''",
    validate: v.string,
    doc: 'Prefix for StatsD metric names (a trailing "." is added if missing).',
  }),
  dogstatsd_tags: def({
    section: 'Logging',
    flags: ['--dogstatsd-tags'],
    meta: 'DOGSTATSD_TAGS',
    default: () => '',
    defaultDoc: "''",
    validate: dogstatsdTagsSetting,
    doc: 'Comma-separated DogStatsD tags added to every StatsD metric, e.g. env:prod,service:api.',
  }),
  metrics_bind: def({
    section: 'Logging',
    flags: ['--metrics-bind'],
    meta: 'ADDRESS',
    default: () => null as string | null,
    defaultDoc: 'none (off)',
    validate: metricsBindSetting,
    doc: 'Serve Prometheus metrics (GET /metrics, totals over all workers) and the probes /healthz and /readyz from the master at HOST:PORT or unix:PATH.',
  }),

  // Control
  control_socket: def({
    section: 'Control',
    flags: ['--control-socket'],
    meta: 'PATH',
    default: () => null as string | null,
    defaultDoc: 'tsgunicorn-MASTERPID.ctl in the pidfile\'s directory, else $XDG_RUNTIME_DIR, else the temp directory',
    validate: v.optionalString,
    doc: 'Unix socket (mode 0600) on which the master takes `tsgunicorn ctl` commands.',
  }),
  control_socket_disable: def({
    section: 'Control',
    flags: ['--no-control-socket'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: 'Do not open the control socket.',
  }),

  // Process Naming
  proc_name: def({
    section: 'Process Naming',
    flags: ['-n', '--name'],
    meta: 'STRING',
    default: () => null as string | null,
    defaultDoc: 'the app spec',
    validate: v.optionalString,
    doc: 'Name shown in process titles: "tsgunicorn: master [NAME]".',
  }),

  // Server Hooks (config file only: they are functions)
  on_starting: hook('(server)', 'In the master, before the sockets are bound.'),
  on_reload: hook('(server)', 'In the master, when HUP reloads the configuration.'),
  when_ready: hook('(server)', 'In the master, once the sockets are bound, before the first workers are forked.'),
  pre_fork: hook('(server, worker)', 'In the master, just before a worker is forked (worker.pid is not known yet).'),
  post_fork: hook('(server, worker)', 'In the worker, just after it started, before it loads the app.'),
  post_worker_init: hook('(worker)', 'In the worker, after the app is loaded and before it serves.'),
  worker_int: hook('(worker)', 'In the worker, when it gets INT or QUIT.'),
  worker_abort: hook('(worker)', 'In the worker, when the master aborts it after a timeout (runs if its event loop is free).'),
  pre_exec: hook('(server)', 'In the master, just before USR2 starts a new master.'),
  pre_request: hook('(worker, req)', 'In the worker, before the app sees a request (req is the Node IncomingMessage).'),
  post_request: hook('(worker, req, res)', 'In the worker, after the response to a request has been sent.'),
  child_exit: hook('(server, worker)', 'In the master, after a worker exited.'),
  worker_exit: hook('(server, worker)', 'In the worker, just before it exits.'),
  nworkers_changed: hook('(server, newValue, oldValue)', 'In the master, when the number of workers changes (TTIN, TTOU, reload).'),
  on_exit: hook('(server)', 'In the master, just before it exits.'),
  ssl_context: hook(
    '(config, default_ssl_context_factory)',
    'In each worker, with TLS on: returns the TLS options (or a tls.SecureContext); the factory returns the defaults built from the SSL settings.',
  ),

  // Debugging
  reload: def({
    section: 'Debugging',
    flags: ['--reload'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: 'Development: replace the workers when a source file under --chdir changes; an app that fails to load keeps the master up until the next change.',
  }),
  reload_extra_files: def({
    section: 'Debugging',
    flags: ['--reload-extra-file'],
    meta: 'FILES',
    append: true,
    default: () => [] as string[],
    defaultDoc: '[]',
    validate: v.list(v.nonEmptyString),
    doc: 'With --reload, also watch this file (any type; relative to the directory tsgunicorn is started from); repeat for several.',
  }),
  check_config: def({
    section: 'Debugging',
    flags: ['--check-config'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: 'Check the configuration and that the app loads, then exit 0 (good) or 1 (bad).',
  }),
  print_config: def({
    section: 'Debugging',
    flags: ['--print-config'],
    default: () => false,
    defaultDoc: 'false',
    validate: v.bool,
    doc: 'Print the fully resolved settings and exit (implies --check-config).',
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;
export type Settings = { -readonly [K in SettingName]: ReturnType<(typeof SETTINGS)[K]['validate']> };

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export function settingDef(name: SettingName): SettingDef<unknown> {
  return SETTINGS[name] as SettingDef<unknown>;
}

/** Every setting at its default for the given environment. */
export function defaults(env: NodeJS.ProcessEnv): Settings {
  const out: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) out[name] = settingDef(name).default(env);
  return out as Settings;
}

/** The name a config-file key refers to: snake_case, camelCase or an alias. */
export function canonicalName(key: string): SettingName | undefined {
  const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, '_');
  if (snake in SETTINGS) return snake as SettingName;
  for (const name of SETTING_NAMES) {
    if (settingDef(name).aliases?.includes(snake)) return name;
  }
  return undefined;
}
