// A real third-party WebSocket server (Node's `ws` package) for wsdial's tests.
//
// usage: node ws_server.js [--no-context-takeover] [--client-no-context-takeover]
//                          [--client-max-window-bits N] [--server-max-window-bits N]
// Binds 127.0.0.1:0 and prints the port on the first line of stdout.
// permessage-deflate is on (`perMessageDeflate`, every message compressed: no
// threshold); `--no-context-takeover` is `serverNoContextTakeover`. On every
// connection it first sends a JSON hello with the `Sec-WebSocket-Extensions`
// it answered, then echoes every message, text as text and binary as binary;
// the text `?stats` is answered with the bytes read from the socket and the
// payload bytes of the messages received (compression shows as fewer of the
// first). Ends when stdin closes.
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const deflate = { threshold: 0 };
while (args.length) {
  const a = args.shift();
  if (a === '--no-context-takeover') deflate.serverNoContextTakeover = true;
  else if (a === '--client-no-context-takeover') deflate.clientNoContextTakeover = true;
  else if (a === '--client-max-window-bits') deflate.clientMaxWindowBits = +args.shift();
  else if (a === '--server-max-window-bits') deflate.serverMaxWindowBits = +args.shift();
  else throw new Error(`unknown argument ${a}`);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: deflate,
  maxPayload: 64 * 1024 * 1024,
});

wss.on('headers', (headers, req) => {
  const line = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  req.extensions = line ? line.slice(line.indexOf(':') + 1).trim() : null;
});

wss.on('connection', (ws, req) => {
  let payloadIn = 0;
  ws.send(JSON.stringify({ type: 'hello', path: req.url, extensions: req.extensions }));
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === '?stats') {
      ws.send(JSON.stringify({ type: 'stats', bytes_in: req.socket.bytesRead, payload_in: payloadIn }));
      return;
    }
    payloadIn += data.length;
    ws.send(data, { binary: isBinary });
  });
});

wss.on('listening', () => {
  process.stdout.write(`${wss.address().port}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
