import { accessSync, constants, existsSync, statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type CheckContext, type CheckResult, errText, formatBytes, result } from '../types.ts';

const MIN_FREE = 256 * 1024 * 1024;

/** data_dir is a writable directory with room for the buffer. */
export function checkDataDir(ctx: CheckContext): CheckResult {
  const dir = ctx.config.data_dir;
  const name = 'data dir';
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return result(name, 'warn', `${dir} does not exist yet`, 'systemd creates it (StateDirectory=iotgw); by hand: sudo install -d -o iotgw -g iotgw -m 0750 ' + dir);
    return result(name, 'fail', `${dir}: ${errText(err)}`, `check permissions of ${dir}`);
  }
  if (!st.isDirectory()) return result(name, 'fail', `${dir} is not a directory`, `move the file away or point data_dir elsewhere: sudo mv ${dir} ${dir}.bak`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return result(name, 'fail', `${dir} is not writable by uid ${process.getuid?.()}`, `run doctor as the service user (sudo -u iotgw iotgw doctor) or: sudo chown -R iotgw:iotgw ${dir}`);
  }
  const fs = statfsSync(dir);
  const free = Number(fs.bavail) * Number(fs.bsize);
  const total = Number(fs.blocks) * Number(fs.bsize);
  const detail = `${dir}: ${formatBytes(free)} free of ${formatBytes(total)}`;
  if (free < MIN_FREE) return result(name, 'fail', `${detail}: too little to buffer an outage`, 'free space on the card (journalctl --vacuum-size=100M, apt-get clean) or move data_dir to a larger disk');
  const bound = ctx.config.buffer.max_bytes;
  if (free < bound) return result(name, 'warn', `${detail}: less than buffer.max_bytes (${formatBytes(bound)}), so the card fills before the buffer bound applies`, `lower buffer.max_bytes below ${formatBytes(free * 0.8)} in /etc/iotgw/config.yaml`);
  return result(name, 'ok', detail);
}

/** The SQLite buffer opens, passes quick_check, and runs in WAL mode. Read-only: safe while the daemon runs. */
export function checkSqlite(ctx: CheckContext): CheckResult {
  const path = ctx.config.sqlite.path;
  const name = 'sqlite';
  if (!existsSync(path)) {
    const dir = dirname(path);
    if (!existsSync(dir)) return result(name, 'note', `${path} not created yet, nor its directory ${dir}`, 'the daemon creates the file on first start; see the data dir line');
    if (statSync(dir).isDirectory()) return result(name, 'note', `${path} not created yet (the daemon creates it on first start)`);
    return result(name, 'fail', `${path}: ${dir} is not a directory`, 'fix data_dir / sqlite.path in /etc/iotgw/config.yaml');
  }
  let db: Database.Database | null = null;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: ctx.timeoutMs });
    const check = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
    const problems = check.map((r) => r.quick_check).filter((r) => r !== 'ok');
    if (problems.length) {
      return result(name, 'fail', `${path}: quick_check found ${problems.length} problem(s): ${problems[0]}`, 'stop iotgw, keep a copy of the file, then: sqlite3 buffer.db ".recover" | sqlite3 recovered.db');
    }
    const mode = String(db.pragma('journal_mode', { simple: true }));
    const size = statSync(path).size;
    if (mode !== 'wal') return result(name, 'warn', `${path}: quick_check ok, journal_mode ${mode} (expected wal)`, 'the daemon sets WAL when it opens the file; restart iotgw');
    return result(name, 'ok', `${path}: quick_check ok, journal_mode wal, ${formatBytes(size)}`);
  } catch (err) {
    return result(name, 'fail', `${path}: ${errText(err)}`, 'check ownership (sudo chown iotgw:iotgw ' + path + ') and that it is a SQLite file');
  } finally {
    db?.close();
  }
}
