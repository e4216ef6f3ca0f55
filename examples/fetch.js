// A Web-standard fetch handler: any object with fetch(Request) returning a Response.
// Hono, itty-router and friends export exactly this shape.
//   npx tsgunicorn -k async examples/fetch.js
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === 'POST') {
      return Response.json({ path: url.pathname, body: await request.text() });
    }
    return new Response(`Hello from a fetch handler, you asked for ${url.pathname}\n`, {
      headers: { 'content-type': 'text/plain' },
    });
  },
};
