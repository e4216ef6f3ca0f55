/**
 * Reading the JavaScript stack of a stuck isolate through Node's inspector: V8 interrupts running
 * JavaScript to pause it, so this works in the middle of a `for (;;)`. The worker's watchdog
 * thread does it to the worker's main thread; the gthread pool does it to a stuck app thread,
 * from the worker's main thread, through the inspector's NodeWorker domain.
 */
import type { Session } from 'node:inspector';

/** Frames logged: the app's own are at the top; deeper ones are Node's and tsgunicorn's. */
const MAX_FRAMES = 20;

export interface CallFrame {
  functionName: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
  url: string;
}

/** "    at fn (file:line:col)" lines, as an Error's stack prints them. */
export function formatFrames(frames: CallFrame[], urls: ReadonlyMap<string, string> = new Map()): string[] {
  return frames.slice(0, MAX_FRAMES).map((f) => {
    const where = f.url || urls.get(f.location.scriptId) || '<anonymous>';
    return `    at ${f.functionName || '<anonymous>'} (${where}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1})`;
  });
}

interface Reply {
  id?: number;
  method?: string;
  params?: { callFrames?: CallFrame[]; scriptId?: string; url?: string };
  error?: { message: string };
}

/**
 * Pauses the worker thread `threadId` (a child of this thread), reads its stack and resumes it.
 * Attaches to the thread only now, so threads that never get stuck run without an inspector
 * session. It must be resumed before the session goes: a thread paused in the debugger waits
 * for the inspector and cannot be terminated.
 */
export async function stackOfThread(threadId: number, timeoutMs = 1000): Promise<string[]> {
  // Imported here: a Node built without the inspector throws on import, and should lose only this.
  const inspector = await import('node:inspector');
  const session: Session = new inspector.Session();
  session.connect();
  const urls = new Map<string, string>();
  const replies = new Map<number, (r: Reply) => void>();
  let seq = 0;
  let sessionId = '';
  let onPaused: (frames: CallFrame[]) => void = () => {};
  const paused = new Promise<CallFrame[]>((resolve) => (onPaused = resolve));
  let onAttached: () => void = () => {};
  const attached = new Promise<void>((resolve) => (onAttached = resolve));
  const send = async (method: string): Promise<void> => {
    const r = await new Promise<Reply>((resolve) => {
      replies.set(++seq, resolve);
      session.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id: seq, method }) });
    });
    if (r.error) throw new Error(`${method}: ${r.error.message}`);
  };
  session.on('NodeWorker.receivedMessageFromWorker', (m) => {
    const params = m.params as { sessionId: string; message: string };
    if (params.sessionId !== sessionId) return;
    const msg = JSON.parse(params.message) as Reply;
    if (msg.id !== undefined) replies.get(msg.id)?.(msg);
    else if (msg.method === 'Debugger.scriptParsed') urls.set(msg.params!.scriptId!, msg.params!.url!);
    else if (msg.method === 'Debugger.paused') onPaused(msg.params!.callFrames ?? []);
  });
  session.on('NodeWorker.attachedToWorker', (m) => {
    // The inspector numbers workers its own way; the title carries the threadId
    // ("[worker 2]", followed by the thread's name on newer Node).
    const params = m.params as { sessionId: string; workerInfo: { title: string } };
    if (sessionId || Number(/^\[worker (\d+)\]/.exec(params.workerInfo.title)?.[1]) !== threadId) return;
    sessionId = params.sessionId;
    onAttached();
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the inspector within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const read = async () => {
      session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
      await attached;
      await send('Debugger.enable');
      await send('Debugger.pause');
      return formatFrames(await paused, urls);
    };
    const reading = read();
    // Past the deadline the session is gone and a late step fails: nobody waits for it then.
    reading.catch(() => {});
    return await Promise.race([reading, late]);
  } finally {
    clearTimeout(timer);
    if (sessionId) await Promise.race([send('Debugger.resume').catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
    session.disconnect();
  }
}
