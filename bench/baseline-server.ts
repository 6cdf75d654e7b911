/**
 * The baseline: the least any Node HTTP intake must do on this machine. Plain `node:http` reads
 * the body, `JSON.parse`s it and answers 202 with a small JSON body (like the gateway's). The
 * same process answers WebSocket messages at `/ws` (`ws`, no compression) with `{"ack": seq}`
 * after a `JSON.parse`, the ceiling for the gateway's WebSocket intake. Nothing is stored.
 *
 * Run by bench/run.ts in a child process: `node --import tsx bench/baseline-server.ts [--port N]`
 * prints `ready <port>` and serves until SIGTERM.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' }).end('{}');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"invalid_json"}}');
      return;
    }
    const n = Array.isArray(body) ? body.length : 1;
    res.writeHead(202, { 'content-type': 'application/json' }).end(`{"accepted":${n},"duplicates":0}`);
  });
});
server.keepAliveTimeout = 65_000;

const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    let seq: unknown = null;
    let n = 1;
    try {
      const msg = JSON.parse(data.toString());
      seq = msg?.seq ?? null;
      if (Array.isArray(msg?.readings)) n = msg.readings.length;
    } catch {
      ws.send('{"nack":null,"error":{"code":"invalid_json"}}');
      return;
    }
    ws.send(JSON.stringify({ ack: seq, accepted: n }));
  });
});

server.listen(port, '127.0.0.1', () => {
  const addr = server.address() as { port: number };
  process.stdout.write(`ready ${addr.port}\n`);
});
const stop = (): void => {
  for (const c of wss.clients) c.terminate();
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
