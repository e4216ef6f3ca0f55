/**
 * sync: one request at a time per worker, Connection: close on every response, as Gunicorn's
 * sync worker. The worker stops accepting the moment it takes a connection and starts again when
 * that connection is closed, so a busy worker is never handed a connection another could serve.
 * Max concurrent requests = workers.
 */
import type net from 'node:net';
import { HttpServing } from '../../http/server.js';
import type { WorkerClass, WorkerClassContext } from './types.js';

export async function create(ctx: WorkerClassContext): Promise<WorkerClass> {
  const app = await ctx.loadApp();
  const serving = new HttpServing(ctx, app, { closeEach: true, keepAliveTimeoutMs: 0 });

  const onClose = () => ctx.gate.resume();

  return {
    handleConnection(socket: net.Socket) {
      ctx.gate.pause();
      serving.attach(socket, onClose);
    },
    shutdown: () => serving.drain(),
    load: () => ({ connections: serving.connections.size, requests: serving.requests }),
  };
}
