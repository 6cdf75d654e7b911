/**
 * Parses `avahi-browse --parsable --resolve` lines:
 *   `+;eth0;IPv4;name;_iotgw-dev._tcp;local`                          (new)
 *   `=;eth0;IPv4;name;_iotgw-dev._tcp;local;host.local;10.0.0.5;80;"id=esp-1" "fw=1.0"` (resolved)
 *   `-;eth0;IPv4;name;_iotgw-dev._tcp;local`                          (removed)
 * Fields are `;`-separated with `\DDD` (decimal) escapes; TXT strings are double-quoted.
 */
export type AvahiEvent =
  | { kind: 'new' | 'removed'; iface: string; protocol: string; name: string; type: string; domain: string }
  | { kind: 'resolved'; iface: string; protocol: string; name: string; type: string; domain: string; host: string; address: string; port: number; txt: string[] };

export function parseAvahiLine(line: string): AvahiEvent | null {
  const fields = splitFields(line);
  if (fields.length < 6) return null;
  const [flag, iface, protocol, name, type, domain] = fields;
  if (flag === '+' || flag === '-') return { kind: flag === '+' ? 'new' : 'removed', iface, protocol, name, type, domain };
  if (flag !== '=' || fields.length < 9) return null;
  const port = Number(fields[8]);
  if (!Number.isInteger(port)) return null;
  return { kind: 'resolved', iface, protocol, name, type, domain, host: fields[6], address: fields[7], port, txt: parseTxt(fields.slice(9).join(';')) };
}

/** Splits on unescaped `;` and decodes `\DDD` and `\c` in each field. */
function splitFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      const dec = /^\d{3}/.exec(line.slice(i + 1, i + 4));
      if (dec && !inQuotes) {
        cur += String.fromCharCode(Number(dec[0]));
        i += 3;
      } else {
        cur += inQuotes ? c + line[i + 1] : line[i + 1];
        i += 1;
      }
      continue;
    }
    if (c === '"') inQuotes = !inQuotes;
    if (c === ';' && !inQuotes) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** `"id=esp-1" "fw=1.0"` → ['id=esp-1', 'fw=1.0']. */
export function parseTxt(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) out.push(m[1].replace(/\\(\d{3}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(Number(e)) : e)));
  return out;
}
