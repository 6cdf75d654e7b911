/**
 * firmware/platformio.ini (and site.example.ini) read the way PlatformIO reads them: Python's
 * configparser (sections, `=`/`:` delimiters, indented continuation lines, `;`/`#` comments,
 * lower-cased keys, duplicates are errors), then PlatformIO's `${section.key}` references.
 * A bare `%` is refused: configparser's interpolation would choke on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const fw = join(dirname(fileURLToPath(import.meta.url)), '..', 'firmware');

type Ini = Map<string, Map<string, string>>;

class IniError extends Error {}

/** A configparser-compatible reader (strict=True, allow_no_value=True, inline comments after whitespace). */
function parseIni(text: string, into: Ini = new Map(), file = 'ini'): Ini {
  // Duplicates count within one file only; a later file overrides (that is what extra_configs does).
  const seenHere = new Set<string>();
  const keysHere = new Set<string>();
  let sectionName = '';
  let section: Map<string, string> | null = null;
  let lastKey: string | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const stripped = raw.trim();
    if (stripped === '' || stripped.startsWith(';') || stripped.startsWith('#')) {
      // configparser ends a multi-line value at a comment only if it is not indented; a blank
      // line ends nothing we rely on, so treat both as separators.
      if (stripped === '') lastKey = null;
      return;
    }
    const value = stripInline(raw);
    if (/^\s/.test(raw) && section && lastKey !== null) {
      section.set(lastKey, `${section.get(lastKey)}\n${value.trim()}`.replace(/^\n/, ''));
      return;
    }
    const header = /^\[([^\]]+)\]\s*$/.exec(value);
    if (header) {
      const name = header[1];
      if (seenHere.has(name)) throw new IniError(`${where}: section [${name}] appears twice`);
      seenHere.add(name);
      sectionName = name;
      section = into.get(name) ?? new Map();
      into.set(name, section);
      lastKey = null;
      return;
    }
    if (!section) throw new IniError(`${where}: text before the first [section]`);
    const m = /^([^=:]+?)\s*(?:[=:]\s*(.*))?$/.exec(value.trim());
    if (!m) throw new IniError(`${where}: cannot parse "${raw}"`);
    const key = m[1].toLowerCase();
    if (keysHere.has(`${sectionName}\0${key}`)) throw new IniError(`${where}: key ${key} set twice in [${sectionName}]`);
    keysHere.add(`${sectionName}\0${key}`);
    section.set(key, (m[2] ?? '').trim());
    lastKey = key;
  });
  return into;
}

/** Removes a `;` or `#` comment that follows whitespace (configparser inline_comment_prefixes). */
function stripInline(line: string): string {
  const m = /\s[;#]/.exec(line);
  return m ? line.slice(0, m.index) : line;
}

/** PlatformIO's `${section.key}` (and `${sysenv.X}`); returns the unresolved references. */
function unresolved(ini: Ini): string[] {
  const bad: string[] = [];
  for (const [name, sec] of ini) {
    for (const [key, value] of sec) {
      for (const ref of value.matchAll(/\$\{([^}]+)\}/g)) {
        const [s, k] = ref[1].split('.', 2);
        if (s === 'sysenv' || s === 'this' || s === 'platformio') continue;
        if (!ini.get(s)?.has(k)) bad.push(`[${name}] ${key}: \${${ref[1]}}`);
      }
    }
  }
  return bad;
}

function barePercents(ini: Ini): string[] {
  const bad: string[] = [];
  for (const [name, sec] of ini) for (const [key, value] of sec) if (value.replace(/%%/g, '').includes('%')) bad.push(`[${name}] ${key}`);
  return bad;
}

const read = (f: string) => readFileSync(join(fw, f), 'utf8');

test('the INI reader rejects what configparser rejects and finds bare %', () => {
  assert.throws(() => parseIni('key = 1\n[a]\n'), IniError);
  assert.throws(() => parseIni('[a]\nx = 1\n[a]\n'), IniError);
  assert.throws(() => parseIni('[a]\nx = 1\nX = 2\n'), IniError);
  const ini = parseIni('[a]\nflags =\n    -D A=1\n    -D B=2 ; two\nname: v ; c\nok = 50%%\nbad = 50%\n');
  assert.equal(ini.get('a')!.get('flags'), '-D A=1\n-D B=2');
  assert.equal(ini.get('a')!.get('name'), 'v');
  assert.deepEqual(barePercents(ini), ['[a] bad']);
  assert.deepEqual(unresolved(parseIni('[a]\nx = ${b.y}\n')), ['[a] x: ${b.y}']);
});

test('platformio.ini parses and has the esp32dev and native environments', () => {
  const ini = parseIni(read('platformio.ini'), new Map(), 'platformio.ini');
  assert.deepEqual(barePercents(ini), [], 'a bare % breaks configparser interpolation; write %%');
  assert.deepEqual(unresolved(ini), [], 'every ${section.key} must resolve without site.ini');

  const pio = ini.get('platformio')!;
  assert.ok(pio, '[platformio] section');
  assert.equal(pio.get('default_envs'), 'esp32dev');
  assert.ok(pio.get('extra_configs')!.split(/\s+/).includes('site.ini'), 'site settings come from site.ini');

  const esp = ini.get('env:esp32dev')!;
  assert.ok(esp, '[env:esp32dev]');
  assert.match(esp.get('platform')!, /^espressif32@\d+\.\d+\.\d+$/, 'platform pinned to an exact version');
  assert.equal(esp.get('framework'), 'arduino');
  assert.equal(esp.get('board'), 'esp32dev');
  assert.equal(esp.get('monitor_speed'), '115200');
  const ota = ['min_spiffs.csv', 'default.csv', 'minimal_ota.csv', 'default_8MB.csv', 'default_16MB.csv'];
  assert.ok(ota.includes(esp.get('board_build.partitions')!), 'a partition table with two app slots (OTA)');
  const deps = esp.get('lib_deps')!.split('\n').filter(Boolean);
  assert.ok(deps.some((d) => /wifimanager/i.test(d)), 'WiFiManager for the provisioning portal');
  assert.ok(deps.some((d) => /websockets/i.test(d)), 'a WebSocket client');
  for (const d of deps) assert.match(d, /@\d+\.\d+\.\d+$/, `${d}: pinned to an exact version`);
  assert.match(esp.get('build_flags')!, /\$\{env\.build_flags\}/, 'esp32dev keeps the common flags (C++17)');
  assert.match(esp.get('build_flags')!, /IOTGW_SITE_GATEWAY_HOST="\$\{site\.gateway_host\}"/, 'site settings reach the build');

  const native = ini.get('env:native')!;
  assert.ok(native, '[env:native]');
  assert.equal(native.get('platform'), 'native');
  assert.equal(native.get('test_framework'), 'doctest');

  const common = ini.get('env')!;
  assert.match(common.get('build_flags')!, /-std=gnu\+\+17/, 'C++17 for the core');
  assert.match(common.get('build_unflags')!, /-std=gnu\+\+11/, 'the Arduino default standard is removed');
});

test('site.example.ini only sets keys platformio.ini knows, and site.ini stays out of git', () => {
  const base = parseIni(read('platformio.ini'), new Map(), 'platformio.ini');
  const siteKeys = new Set(base.get('site')!.keys());
  const example = parseIni(read('site.example.ini'), new Map(), 'site.example.ini');
  assert.deepEqual([...example.keys()], ['site']);
  for (const key of example.get('site')!.keys()) assert.ok(siteKeys.has(key), `site.example.ini sets unknown key ${key}`);
  assert.deepEqual(barePercents(example), []);
  // Layered as PlatformIO does with extra_configs: the example overrides the defaults.
  const merged = parseIni(read('site.example.ini'), parseIni(read('platformio.ini')), 'site.example.ini');
  assert.equal(merged.get('site')!.get('gateway_port'), example.get('site')!.get('gateway_port'));
  assert.deepEqual(unresolved(merged), []);
  const ignored = read('.gitignore').split('\n').map((l) => l.trim());
  assert.ok(ignored.includes('site.ini'), 'firmware/.gitignore lists site.ini');
});
