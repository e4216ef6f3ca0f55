/**
 * Messages between a gthread worker's main thread (which owns the sockets and parses HTTP) and
 * its app threads (which run the app, one request at a time each). Per request: one `req` (with
 * the start of its body, or all of a small one), then for a large body more chunks and one `end`
 * in; one `head`, body chunks, one `end` out. Both directions are flow controlled, so a large
 * upload or download never sits whole in memory.
 */

export interface ThreadData {
  app: string;
  chdir: string;
  errorlog: string;
  loglevel: string;
  /** --log-json */
  json?: boolean;
  /**
   * The thread's heartbeat: the thread stamps Date.now() here every BEAT_MS while its event loop
   * turns. Shared memory (as the worker's own watchdog), so the main thread reads it without a
   * message, and a thread stuck in a loop, which can answer none, is seen by what it stopped writing.
   */
  beat: Float64Array;
}

/** How often an app thread's event loop marks its heartbeat. */
export const BEAT_MS = 250;

/** Main thread to app thread. */
export type ToThread =
  | {
      t: 'req';
      id: number;
      method: string;
      url: string;
      httpVersionMajor: number;
      httpVersionMinor: number;
      rawHeaders: string[];
      remoteAddress?: string;
      remotePort?: number;
      remoteFamily?: string;
      localAddress?: string;
      localPort?: number;
      encrypted: boolean;
      /** http or https, as decided in the main thread (TLS, trusted forwarded headers): req.scheme. */
      scheme: 'http' | 'https';
      /** False for requests that carry no body, so the app sees it complete at once. */
      body: boolean;
      /** The body bytes that arrived before the request was handed to a thread. */
      bodyStart: Uint8Array[];
      /** Set when bodyStart is the whole body: its trailers. Else `data` and `end` follow. */
      trailers: string[] | null;
    }
  | { t: 'data'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number; rawTrailers: string[] }
  /** The client went away. */
  | { t: 'abort'; id: number }
  /** The main thread wrote n response bytes to the client: more may come. */
  | { t: 'ack'; id: number; n: number };

/** App thread to main thread. */
export type FromThread =
  | { t: 'ready' }
  | { t: 'load-error'; kind: 'import' | 'load'; message: string; stack?: string }
  /**
   * Response progress, batched per turn of the thread's event loop: the common response (head,
   * one body chunk, end) crosses in a single message.
   */
  | { t: 'res'; id: number; head: ResponseHead | null; chunks: Uint8Array[]; end: boolean }
  | { t: 'info'; id: number; status: 100 | 103; headers: Record<string, string | string[]> }
  /** The app is not reading the request body fast enough: pause the client. */
  | { t: 'pause'; id: number }
  | { t: 'resume'; id: number };

export interface ResponseHead {
  status: number;
  reason: string;
  headers: string[];
  /** The app asked for the connection to close. */
  close: boolean;
}

/** Response bytes in flight to the main thread before the app's writes wait. */
export const RESPONSE_WINDOW = 1 << 20;
