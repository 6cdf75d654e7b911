import { ago, count, bytes, firmware, rssi } from './format.ts';
import { el } from './dom.ts';
import type { Device, PageModel, Filter } from './model.ts';

/** Past this many rows the table shows the first ones and says how to narrow it: a phone stays fast. */
const MAX_ROWS = 300;

const STATE_SYMBOL: Record<Device['state'], string> = { online: '●', stale: '◐', offline: '○', discovered: '◇' };
const STATE_HELP: Record<Device['state'], string> = {
  online: 'reporting as expected',
  stale: 'missed its expected readings',
  offline: 'silent for a long time, or said goodbye',
  discovered: 'announced over mDNS, no reading yet',
};

/** Renders the device table (a card per device on a phone); `onChart` is called by a row's Chart button. */
export function renderDevices(tbody: HTMLElement, model: PageModel, filter: Filter, now: number, onChart: (id: string) => void): { shown: number; total: number } {
  const list = model.visible(filter, now);
  const rows = list.slice(0, MAX_ROWS).map((d) => row(d, model, now, onChart));
  // Rows are rebuilt every second (ages move): keep a keyboard user's focus on the same button.
  const focused = tbody.contains(document.activeElement) ? document.activeElement?.closest('tr')?.dataset.device : undefined;
  tbody.replaceChildren(...rows);
  if (focused) rows.find((r) => r.dataset.device === focused)?.querySelector('button')?.focus();
  return { shown: rows.length, total: list.length };
}

function row(d: Device, model: PageModel, now: number, onChart: (id: string) => void): HTMLTableRowElement {
  const latest = model.latest.get(d.device_id);
  const isNew = model.isNew(d.device_id, now);
  const fw = firmware(d.firmware);
  const state = el('span', { class: `state state-${d.state}`, title: STATE_HELP[d.state] }, `${STATE_SYMBOL[d.state] ?? ''} ${d.state}`);
  const id = el('td', { 'data-label': 'Device', class: 'id-cell' }, el('strong', {}, d.device_id));
  if (isNew) id.append(' ', el('span', { class: 'badge' }, d.last_reading ? 'new' : 'just appeared'));
  if (d.device_type) id.append(el('span', { class: 'sub', title: 'device type' }, d.device_type));
  const button = el('button', { type: 'button', class: 'link', 'aria-label': `Chart ${d.device_id}` }, 'Chart');
  button.addEventListener('click', () => onChart(d.device_id));
  const tr = el('tr', { 'data-device': d.device_id, 'data-state': d.state },
    el('td', { 'data-label': 'State', class: 'state-cell' }, state),
    id,
    el('td', { 'data-label': 'Group' }, d.group_id ?? '—'),
    el('td', { 'data-label': 'Address' }, d.addresses.length ? d.addresses.join(', ') : '—'),
    el('td', { 'data-label': 'Firmware' }, fw.version, ...(fw.update ? [el('span', { class: 'sub' }, fw.update)] : [])),
    el('td', { 'data-label': 'Last reading', class: 'nowrap', title: d.last_reading ?? 'no reading yet' }, ago(d.last_reading, now)),
    el('td', { 'data-label': 'Per min', class: 'num', title: 'readings in the last minute' }, count(d.readings_last_minute)),
    el('td', { 'data-label': 'RSSI', class: 'num nowrap' }, rssi(latest?.wifi_rssi)),
    el('td', { 'data-label': 'Free heap', class: 'num nowrap' }, typeof latest?.heap_free === 'number' ? bytes(latest.heap_free) : '—'),
    el('td', { 'data-label': '', class: 'chart-cell' }, button),
  );
  if (isNew) tr.classList.add('new');
  return tr;
}

export function summary(model: PageModel, shown: number, total: number): string {
  const c = model.stateCounts();
  const parts = [`${c.online} online`, `${c.stale} stale`, `${c.offline} offline`, `${c.discovered} discovered`];
  const limited = shown < total ? ` (showing ${shown} of ${total}: narrow with search)` : '';
  return `${model.devices.size} devices: ${parts.join(', ')}${limited}`;
}
