// Hono: the app has fetch(), so it is served as a fetch handler.
//   npx tsgunicorn -k async examples/hono.js:app
import { Hono } from 'hono';

export const app = new Hono();
app.get('/', (c) => c.text(`Hello from Hono in worker ${process.pid}\n`));
app.get('/json', (c) => c.json({ ok: true }));
