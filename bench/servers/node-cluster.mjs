// Baseline: bare node:http behind node:cluster, no tsgunicorn.
//   PORT=8000 WORKERS=2 SCHED=rr|none node bench/servers/node-cluster.mjs
// SCHED=rr is node's default on Linux (the primary accepts and hands sockets round-robin);
// SCHED=none lets the kernel share accept() between the workers (SCHED_NONE).
import cluster from 'node:cluster';
import http from 'node:http';
import { app } from './app.mjs';

const port = Number(process.env.PORT) || 8000;
const host = process.env.HOST || '127.0.0.1';
const workers = Number(process.env.WORKERS) || 2;

if (cluster.isPrimary) {
  cluster.schedulingPolicy = process.env.SCHED === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  for (let i = 0; i < workers; i++) cluster.fork();
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  http.createServer(app).listen(port, host);
}
