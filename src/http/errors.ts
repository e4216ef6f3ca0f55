import { STATUS_CODES, type ServerResponse } from 'node:http';

/** A small HTML error page, shaped like the one Gunicorn sends, with Connection: close. */
export function errorPage(status: number, detail = ''): string {
  const reason = STATUS_CODES[status] ?? 'Error';
  return (
    `<html>\n  <head>\n    <title>${reason}</title>\n  </head>\n  <body>\n` +
    `    <h1><p>${reason}</p></h1>\n    ${detail}\n  </body>\n</html>\n`
  );
}

export function sendError(res: ServerResponse, status: number, detail = ''): void {
  const body = errorPage(status, detail);
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
