// The smallest app: a plain node:http request listener.
//   npx tsgunicorn -w 2 examples/hello.js:app
export function app(req, res) {
  res.setHeader('Content-Type', 'text/plain');
  res.end(`Hello from worker ${process.pid}\n`);
}
