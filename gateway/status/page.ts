/**
 * The installer's status page: which boards this gateway knows, their state, and whether data
 * is leaving for Atlas. Plain HTML plus a little script that polls the JSON API, so it works from
 * a phone on the site's Wi-Fi without any build step.
 */
export function statusPage(gatewayId: string): string {
  const id = gatewayId.replace(/[^A-Za-z0-9._:-]/g, '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>iotgw ${id}</title>
<style>
body{font:15px system-ui,sans-serif;margin:1rem;color:#222}h1{font-size:1.3rem}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left}
.online{color:#080}.stale{color:#b70}.offline{color:#b00}.discovered{color:#06c}
#summary span{margin-right:1.2rem}
</style></head><body>
<h1>iotgw gateway <code>${id}</code></h1>
<p id="summary">loading…</p>
<table><thead><tr><th>device</th><th>group</th><th>state</th><th>last reading</th><th>per min</th><th>address</th><th>firmware</th></tr></thead>
<tbody id="devices"></tbody></table>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
async function refresh() {
  try {
    const [d, s] = await Promise.all([fetch('devices').then((r) => r.json()), fetch('stats').then((r) => r.json())]);
    const up = s.upload || {};
    document.getElementById('summary').innerHTML =
      '<span>store: <b>' + esc(s.store.mode) + '</b></span><span>readings/min: <b>' + esc(s.traffic.readings_last_minute) + '</b></span>' +
      '<span>upload: <b>' + (up.enabled ? esc(up.last_success || 'not yet') : 'disabled') + '</b></span>' +
      (up.last_error ? '<span class="offline">last upload error: ' + esc(up.last_error.reason || up.last_error) + '</span>' : '');
    document.getElementById('devices').innerHTML = (d.devices || []).map((x) =>
      '<tr><td>' + esc(x.device_id) + '</td><td>' + esc(x.group_id) + '</td><td class="' + esc(x.state) + '">' + esc(x.state || '') +
      '</td><td>' + esc(x.last_reading) + '</td><td>' + esc(x.readings_last_minute ?? '') + '</td><td>' + esc((x.addresses || []).join(' ')) +
      '</td><td>' + esc(x.firmware ?? '') + '</td></tr>').join('') || '<tr><td colspan="7">no devices yet: power a board on</td></tr>';
  } catch (e) { document.getElementById('summary').textContent = 'gateway not reachable: ' + e; }
}
refresh(); setInterval(refresh, 3000);
</script></body></html>`;
}
