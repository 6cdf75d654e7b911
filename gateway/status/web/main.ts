import 'uplot/dist/uPlot.min.css';
import './style.css';
import { $, setOptions, setText } from './dom.ts';
import { api, openStream, storeToken, storedToken, ApiError, TokenNeeded } from './api.ts';
import { PageModel, type Device, type Reading } from './model.ts';
import { renderDevices, summary } from './devices-view.ts';
import { renderBuffer, renderGateway, renderUpload, type Stats } from './panels-view.ts';
import { MetricChart } from './chart.ts';
import { defaultMetric, numericMetrics } from './format.ts';

/**
 * The status page: everything arrives over the event stream (`GET events`: devices, readings,
 * stats), the chart's history from `GET devices/:id/readings`, and the button posts
 * `upload/now`. Ages ("12 s ago") are recounted every second without asking the gateway.
 */

const model = new PageModel();
let stats: Stats = {};
let closeStream: (() => void) | null = null;

const tbody = $('devices').querySelector('tbody')!;
const groupSelect = $('group') as HTMLSelectElement;
const search = $('search') as HTMLInputElement;
const chartDevice = $('chart-device') as HTMLSelectElement;
const chartMetric = $('chart-metric') as HTMLSelectElement;
const uploadButton = $('upload-now') as HTMLButtonElement;
const chart = new MetricChart($('chart'), $('chart-note'));
/** What the user picked for the chart; until then the first reporting device and its likeliest metric. */
const chosen = { device: '', metric: '' };

function setConnection(text: string, cls: 'live' | 'down' | ''): void {
  const c = $('conn');
  setText(c, text);
  c.className = `conn ${cls}`;
}

function renderAll(): void {
  const now = Date.now();
  const filter = { group: groupSelect.value, search: search.value };
  setOptions(groupSelect, model.groups(), ['', 'all groups']);
  const { shown, total } = renderDevices(tbody, model, filter, now, (id) => chooseChart(id));
  $('no-devices').hidden = model.devices.size > 0;
  setText($('devices-summary'), model.devices.size ? summary(model, shown, total) : '');
  renderPanels(now);
  syncChartChoices();
}

function renderPanels(now: number): void {
  if (stats.gateway_id) {
    $('gw-name').textContent = stats.gateway_id;
    document.title = `iotgw ${stats.gateway_id}`;
  }
  renderGateway($('gateway'), stats, now);
  renderBuffer($('buffer'), stats, now);
  renderUpload($('upload'), uploadButton, stats, now);
}

/** The chart's device and metric lists follow the devices; the first reporting device is charted by default. */
function syncChartChoices(): void {
  const ids = [...model.devices.keys()].sort();
  setOptions(chartDevice, ids);
  chartDevice.value = ids.includes(chosen.device) ? chosen.device : [...model.latest.keys()].sort()[0] ?? ids[0] ?? '';
  const metrics = numericMetrics(model.latest.get(chartDevice.value));
  setOptions(chartMetric, metrics);
  chartMetric.value = metrics.includes(chosen.metric) ? chosen.metric : defaultMetric(metrics) ?? '';
  const { device, metric } = chart.selection;
  if (device !== (chartDevice.value || null) || metric !== (chartMetric.value || null)) void showChart();
}

async function showChart(): Promise<void> {
  try {
    await chart.show(chartDevice.value || null, chartMetric.value || null);
  } catch (err) {
    handleError(err);
  }
}

function chooseChart(id: string): void {
  chosen.device = id;
  syncChartChoices();
  $('chart-title').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

function handleError(err: unknown): void {
  if (err instanceof TokenNeeded) return askForToken(err.code);
  $('chart-note').textContent = `could not load the chart: ${(err as Error).message}`;
}

function onEvent(name: string, data: unknown): void {
  const now = Date.now();
  if (name === 'devices') model.applyDevices(data as { full?: boolean; devices: Device[]; removed?: string[] }, now);
  else if (name === 'readings') {
    const readings = (data as { readings: Reading[] }).readings;
    model.applyReadings(readings);
    for (const r of readings) chart.add(r);
  } else if (name === 'stats') stats = data as Stats;
  renderAll();
}

function connect(): void {
  closeStream?.();
  $('token-panel').hidden = true;
  closeStream = openStream({
    onOpen: () => {
      $('content').hidden = false;
      setConnection('live', 'live');
    },
    onEvent,
    onDown: (reason, retryMs) => setConnection(`connection lost (${reason}); retrying in ${Math.round(retryMs / 1000)} s`, 'down'),
    onTokenNeeded: askForToken,
  });
}

function askForToken(code: string): void {
  closeStream?.();
  closeStream = null;
  const hadToken = storedToken() !== null;
  storeToken(null);
  $('content').hidden = true;
  $('token-panel').hidden = false;
  $('token-why').textContent = code === 'read_token_invalid' && hadToken
    ? 'The read token this browser kept was not accepted (it may have changed). Enter the current one.'
    : 'This gateway protects its data with a read token (http.read_token in its configuration). Enter it once; this browser keeps it.';
  setConnection('read token needed', 'down');
  ($('token-input') as HTMLInputElement).focus();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('token-input') as HTMLInputElement;
  storeToken(input.value.trim());
  input.value = '';
  connect();
});

uploadButton.addEventListener('click', async () => {
  const result = $('upload-result');
  uploadButton.dataset.busy = '1';
  uploadButton.disabled = true;
  result.textContent = 'uploading…';
  try {
    const r = await api<{ ok: boolean; readings: number; parts: number; error: { reason: string } | null; windows: unknown[] }>('upload/now', { method: 'POST' });
    result.textContent = r.error
      ? `upload failed: ${r.error.reason}`
      : r.windows.length === 0 ? 'nothing to upload: no closed window is waiting' : `uploaded ${r.readings} readings in ${r.parts} documents`;
  } catch (err) {
    if (err instanceof TokenNeeded) return askForToken(err.code);
    result.textContent = err instanceof ApiError && err.code === 'upload_disabled' ? 'upload is disabled on this gateway (no mongodb.uri)' : `upload failed: ${(err as Error).message}`;
  } finally {
    delete uploadButton.dataset.busy;
    renderPanels(Date.now());
  }
});

groupSelect.addEventListener('change', renderAll);
search.addEventListener('input', renderAll);
chartDevice.addEventListener('change', () => {
  chosen.device = chartDevice.value;
  syncChartChoices();
});
chartMetric.addEventListener('change', () => {
  chosen.metric = chartMetric.value;
  syncChartChoices();
});

// Ages and uptime move on their own; the stream sends only changes.
setInterval(() => {
  if (!$('content').hidden) renderAll();
}, 1000);

connect();
