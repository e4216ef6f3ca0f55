// Koa: served through its callback(), as it is.
//   npx tsgunicorn examples/koa.js:app
import Koa from 'koa';

export const app = new Koa();
app.use(async (ctx) => {
  ctx.body = `Hello from Koa in worker ${process.pid}\n`;
});
