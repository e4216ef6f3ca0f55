// Express (or Connect): the app is a request listener, used as it is.
//   npx tsgunicorn -w 2 examples/express.js:app
import express from 'express';

export const app = express();
app.use(express.json());

app.get('/', (req, res) => res.send(`Hello from Express in worker ${process.pid}\n`));
app.post('/echo', (req, res) => res.json({ received: req.body }));
