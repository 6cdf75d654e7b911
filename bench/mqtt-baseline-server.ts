/**
 * The MQTT baseline: the same broker library as the gateway's embedded broker (aedes, same
 * version) on a plain TCP listener, with a no-op publish handler: a QoS 1 PUBLISH is acknowledged
 * at once and nothing is stored. The ceiling of any aedes-based intake on this machine.
 *
 * Run by bench/mqtt.ts in a child process: `node --import tsx bench/mqtt-baseline-server.ts`
 * prints `ready <port>` and serves until SIGTERM.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const aedes = await Aedes.createBroker({ authorizePublish: (_client, _packet, done) => done(null) });
const server = createServer((socket) => aedes.handle(socket));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`);
});
const stop = (): void => {
  server.close();
  aedes.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
