import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wsRequest } from './support/ws.ts';
import { startGateway, getJson, postJson } from './support/in-process.ts';
import { loadConfig, maskSecrets } from '../gateway/config.ts';

// http.read_token (issue 19, item 1): the read API, the event stream, /metrics and POST /upload/now
// need the token when one is set; health probes, the page's own files and device intake do not.

const TOKEN = 'site-berlin-read-7f3a9c';
const READING = { device_id: 'tok-1', group_id: 'lab', temperature: 20.5 };

async function get(url: string, token?: string): Promise<Response> {
  return fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

test('with a read token, every read of the API needs it; probes, the page files and intake stay open', async () => {
  const g = await startGateway({ 'http.read_token': TOKEN });
  try {
    // Intake never needs the read token: boards do not have it.
    assert.equal((await postJson(`${g.url}/telemetry`, READING)).status, 202);
    assert.equal((await postJson(`${g.url}/health`, { ...READING, device_id: 'tok-2' })).status, 202);
    const ack = await wsRequest(g.gw.port, { ...READING, device_id: 'tok-ws', seq: 1 });
    assert.deepEqual(ack, { ack: 1, accepted: 1 });

    for (const path of ['/devices', '/devices/tok-1', '/devices/tok-1/readings', '/stats', '/redis', '/metrics', '/events', '/groups']) {
      const none = await get(g.url + path);
      assert.equal(none.status, 401, `${path} without a token`);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal((await none.json()).error.code, 'read_token_required');
      const wrong = await get(g.url + path, 'not-the-token');
      assert.equal(wrong.status, 401, `${path} with a wrong token`);
      assert.equal((await wrong.json()).error.code, 'read_token_invalid');
    }
    for (const path of ['/devices', '/stats', '/redis', '/metrics']) {
      assert.equal((await get(g.url + path, TOKEN)).status, 200, `${path} with the token`);
    }
    const devices = await (await get(`${g.url}/devices`, TOKEN)).json();
    assert.deepEqual(devices.devices.map((d: { device_id: string }) => d.device_id).sort(), ['tok-1', 'tok-2', 'tok-ws']);

    // The stream opens with the token (and is closed by the client here).
    const stream = await get(`${g.url}/events`, TOKEN);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    await stream.body?.cancel();

    // The button's action follows the token too.
    const upload = await fetch(`${g.url}/upload/now`, { method: 'POST' });
    assert.equal(upload.status, 401);
    const uploadWithToken = await fetch(`${g.url}/upload/now`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(uploadWithToken.status, 409, 'upload is not configured here: the token passes, and the answer says so');

    for (const path of ['/health', '/healthz', '/readyz', '/', '/healthz/']) {
      assert.equal((await get(g.url + path)).status, 200, `${path} stays open`);
    }
    // No spelling of a path reaches a protected route through an open one.
    for (const path of ['/assets/..%2Fdevices', '/assets/%2e%2e/stats', '/firmware/../devices', '/%64evices', '/devices/', '/stats?x=/healthz']) {
      const r = await get(g.url + path);
      assert.ok(r.status === 401 || r.status === 404, `${path}: ${r.status}`);
      assert.ok(!(await r.text()).includes('tok-1'), `${path} shows no data`);
    }
    const html = await (await get(`${g.url}/`)).text();
    const script = /src="(assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, 'the page names its script');
    assert.equal((await get(`${g.url}/${script}`)).status, 200, 'the page files need no token');
    assert.equal((await get(`${g.url}/assets/nope.js`)).status, 404);
  } finally {
    await g.stop();
  }
});

test('without a read token the read API is open, as the original API was', async () => {
  const g = await startGateway();
  try {
    assert.equal((await postJson(`${g.url}/telemetry`, READING)).status, 202);
    for (const path of ['/devices', '/stats', '/redis', '/metrics']) assert.equal((await getJson(g.url + path)).status, 200, path);
  } finally {
    await g.stop();
  }
});

test('http.read_token: a short or spaced token is refused by name; the effective config masks it; IOTGW_READ_TOKEN sets it', () => {
  assert.throws(() => loadConfig({ env: {}, overrides: { 'http.read_token': 'short' } }), /http\.read_token: must be 8-256 visible ASCII characters/);
  assert.throws(() => loadConfig({ env: {}, overrides: { 'http.read_token': 'has a space in it' } }), /http\.read_token/);
  const cfg = loadConfig({ env: { IOTGW_READ_TOKEN: TOKEN } });
  assert.equal(cfg.http.read_token, TOKEN);
  assert.equal((maskSecrets(cfg).http as { read_token: string }).read_token, '***');
  assert.equal(loadConfig({ env: {} }).http.read_token, null);
});
