// Baseline for PM2 cluster mode (`pm2 start ... -i 2`): the same app on plain node:http.
// PM2's cluster mode is node:cluster underneath, so each instance just listens on PORT.
const http = require('node:http');

import('./app.mjs').then(({ app }) => {
  http.createServer(app).listen(Number(process.env.PORT) || 8000, process.env.HOST || '127.0.0.1');
});
