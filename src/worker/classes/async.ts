/**
 * async: the Node event loop serves any number of requests at once; a worker holds at most
 * --worker-connections open connections and stops accepting while it is at the cap, so the
 * others (or the kernel backlog) take the rest. Max concurrent requests = workers ×
 * worker_connections.
 */
import type net from 'node:net';
import { HttpServing } from '../../http/server.js';
import type { WorkerClass, WorkerClassContext } from './types.js';

export async function create(ctx: WorkerClassContext): Promise<WorkerClass> {
  const app = await ctx.loadApp();
  const { keepalive, worker_connections: cap } = ctx.settings;
  const serving = new HttpServing(ctx, app, { closeEach: keepalive === 0, keepAliveTimeoutMs: keepalive * 1000 });

  const onClose = () => {
    if (serving.connections.size < cap) ctx.gate.resume();
  };

  return {
    handleConnection(socket: net.Socket) {
      serving.attach(socket, onClose);
      if (serving.connections.size >= cap) ctx.gate.pause();
    },
    shutdown: () => serving.drain(),
    load: () => ({ connections: serving.connections.size, requests: serving.requests }),
  };
}
