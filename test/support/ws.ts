import WebSocket from 'ws';

/**
 * One message on a new `/ws` connection and the gateway's answer to it (an ack or a nack), parsed.
 * `headers` go on the upgrade, as a board sends its device key.
 */
export async function wsRequest(port: number, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers });
  try {
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const answer = new Promise<any>((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
    ws.send(JSON.stringify(body));
    return await answer;
  } finally {
    ws.close();
  }
}
