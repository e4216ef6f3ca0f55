// Fastify: the instance is served through its router once ready().
//   npx tsgunicorn examples/fastify.js:app
import Fastify from 'fastify';

export const app = Fastify();
app.get('/', async () => `Hello from Fastify in worker ${process.pid}\n`);
