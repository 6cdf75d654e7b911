#!/usr/bin/env bash
# Installs (or upgrades, or removes) iotgw on a Debian / Raspberry Pi OS host. Idempotent: run it
# again after `git pull` to upgrade. See docs/operations.md.
#
#   sudo deploy/install.sh                 install or upgrade, enable and (re)start the service
#   sudo deploy/install.sh --no-start      install and enable, start later
#   sudo deploy/install.sh --uninstall     remove the service and /opt/iotgw; keep config, data, Redis settings
#   sudo deploy/install.sh --uninstall --purge   also remove /etc/iotgw, /var/lib/iotgw, the Redis drop-in, the user
#   deploy/install.sh --root DIR           install into DIR as if it were / (packaging, tests): files only;
#                                          useradd, chown, systemctl and redis-cli are printed, never run
#   --skip-npm                             do not run `npm ci --omit=dev` (tests; packaging with vendored modules)
#   --offline                              no registry: copy this checkout's node_modules (as installed here)
#                                          instead of `npm ci`, and build dist/ from it
set -euo pipefail

ROOT=""
MODE=install
PURGE=0
START=1
NPM=1
OFFLINE=0
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    --root=*) ROOT="${1#--root=}" ;;
    --uninstall) MODE=uninstall ;;
    --purge) PURGE=1 ;;
    --no-start) START=0 ;;
    --skip-npm) NPM=0 ;;
    --offline) OFFLINE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ "$PURGE" = 1 ] && [ "$MODE" != uninstall ]; then echo "install.sh: --purge goes with --uninstall" >&2; exit 2; fi
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT="$(cd "$ROOT" && pwd)"
  [ "$ROOT" = / ] && ROOT=""
fi

APP=/opt/iotgw
ETC=/etc/iotgw
DATA=/var/lib/iotgw
UNIT_DIR=/etc/systemd/system
REDIS_DROPIN_DIR=$UNIT_DIR/redis-server.service.d
REDIS_SNIPPET=/etc/redis/iotgw.conf
BIN_LINK=/usr/local/bin/iotgw
USER_NAME=iotgw

say() { printf 'iotgw-install: %s\n' "$*"; }
# System commands: run for real on a live system, printed in --root mode.
sys() {
  if [ -n "$ROOT" ]; then printf 'iotgw-install: would run: %s\n' "$*"; else "$@"; fi
}
have_unit() { [ -z "$ROOT" ] && systemctl list-unit-files "$1" >/dev/null 2>&1 && systemctl list-unit-files "$1" | grep -q "^$1"; }

# Writes $2 (a path under /) from file $1 atomically: a temp file in the same directory, then rename.
# Returns 0 when the content changed, 1 when it was already identical.
put() {
  local src="$1" dest="$ROOT$2" mode="$3" tmp
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then chmod "$mode" "$dest"; return 1; fi
  tmp="$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")"
  cat "$src" >"$tmp"
  chmod "$mode" "$tmp"
  sync "$tmp" 2>/dev/null || true
  mv -f "$tmp" "$dest"
  return 0
}

# Writes $2 from $1 only if $2 does not exist (operator's config is never overwritten), atomically.
put_once() {
  local src="$1" dest="$ROOT$2" mode="$3" tmp
  if [ -e "$dest" ]; then say "kept existing $2"; return 0; fi
  mkdir -p "$(dirname "$dest")"
  tmp="$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")"
  cat "$src" >"$tmp"
  chmod "$mode" "$tmp"
  sync "$tmp" 2>/dev/null || true
  # -n: if someone created the file meanwhile, theirs wins.
  mv -n "$tmp" "$dest"
  rm -f "$tmp"
  say "wrote starter $2"
}

node_bin() {
  local n
  n="$(command -v node || true)"
  if [ -z "$n" ]; then echo "install.sh: node (>= 20) not found; install Node.js 20 first" >&2; exit 1; fi
  local major
  major="$("$n" -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then echo "install.sh: node $major found at $n; iotgw needs >= 20" >&2; exit 1; fi
  readlink -f "$n"
}

install_app() {
  local stage="$ROOT$APP.new" old="$ROOT$APP.old"
  rm -rf "$stage" "$old"
  mkdir -p "$stage"
  local item
  for item in bin dist gateway deploy docs package.json package-lock.json tsconfig.json README.md LICENSE; do
    [ -e "$SRC/$item" ] && cp -a "$SRC/$item" "$stage/"
  done
  chmod 0755 "$stage/bin/iotgw.js"
  if [ "$OFFLINE" = 1 ]; then
    [ -d "$SRC/node_modules" ] || { echo "install.sh: --offline needs $SRC/node_modules (run npm ci there first)" >&2; exit 1; }
    say "--offline: copying $SRC/node_modules instead of npm ci"
    cp -a "$SRC/node_modules" "$stage/"
    mkdir -p "$stage/scripts" && cp -a "$SRC/scripts/build.mjs" "$stage/scripts/"
    (cd "$stage" && node scripts/build.mjs --quiet)
  elif [ "$NPM" = 1 ]; then
    say "npm ci --omit=dev in $APP (native modules may build on a Pi: this takes a few minutes)"
    (cd "$stage" && npm ci --omit=dev --no-audit --no-fund)
    # The compiled daemon (dist/iotgw.mjs) saves ~25 MB of RSS over running the sources through tsx.
    mkdir -p "$stage/scripts" && cp -a "$SRC/scripts/build.mjs" "$stage/scripts/"
    (cd "$stage" && node scripts/build.mjs --quiet)
  fi
  # Swap the new tree in; the old one stays runnable until the service restarts.
  if [ -d "$ROOT$APP" ]; then mv "$ROOT$APP" "$old"; fi
  mv "$stage" "$ROOT$APP"
  rm -rf "$old"
  mkdir -p "$ROOT$(dirname "$BIN_LINK")"
  ln -sfn "$APP/bin/iotgw.js" "$ROOT$BIN_LINK"
  say "installed $APP from $SRC"
}

# Redis: turn AOF on live before a restart with the drop-in, else Redis would start with an empty
# AOF and ignore the existing RDB snapshot, i.e. lose what it holds.
redis_enable_aof_live() {
  if [ -n "$ROOT" ]; then
    sys redis-cli CONFIG SET appendonly yes
    return 0
  fi
  command -v redis-cli >/dev/null || return 0
  redis-cli PING >/dev/null 2>&1 || return 0
  if [ "$(redis-cli CONFIG GET appendonly | sed -n 2p)" != yes ]; then
    say "enabling appendonly on the running Redis before restarting it"
    redis-cli CONFIG SET appendonly yes >/dev/null
    local i
    for i in $(seq 1 600); do
      redis-cli INFO persistence | grep -q '^aof_rewrite_in_progress:0' && ! redis-cli INFO persistence | grep -q '^aof_rewrite_scheduled:1' && break
      sleep 0.5
    done
  fi
}

do_install() {
  if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then echo "install.sh: run as root (sudo), or use --root DIR" >&2; exit 1; fi
  local node
  node="$(node_bin)"
  if [ -n "$ROOT" ] || ! id "$USER_NAME" >/dev/null 2>&1; then
    sys useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
  fi

  install_app

  local tmp
  tmp="$(mktemp)"
  trap 'rm -f "$tmp"' RETURN
  sed "s#^ExecStart=/usr/bin/node #ExecStart=$node #" "$SRC/deploy/systemd/iotgw.service" >"$tmp"
  put "$tmp" "$UNIT_DIR/iotgw.service" 0644 && say "installed $UNIT_DIR/iotgw.service (node: $node)" || true

  local redis_changed=0
  put "$SRC/deploy/redis/iotgw.conf" "$REDIS_SNIPPET" 0644 && redis_changed=1 || true
  put "$SRC/deploy/systemd/redis-server.service.d/iotgw.conf" "$REDIS_DROPIN_DIR/iotgw.conf" 0644 && redis_changed=1 || true
  [ "$redis_changed" = 1 ] && say "installed Redis settings $REDIS_SNIPPET and $REDIS_DROPIN_DIR/iotgw.conf"

  mkdir -p "$ROOT$ETC"
  chmod 0750 "$ROOT$ETC"
  put_once "$SRC/deploy/config.yaml" "$ETC/config.yaml" 0640
  sys chown root:"$USER_NAME" "$ETC" "$ETC/config.yaml"
  mkdir -p "$ROOT$DATA"
  chmod 0750 "$ROOT$DATA"
  sys chown "$USER_NAME:$USER_NAME" "$DATA"

  sys systemctl daemon-reload
  if [ -n "$ROOT" ] || have_unit redis-server.service; then
    if [ "$redis_changed" = 1 ]; then
      redis_enable_aof_live
      sys systemctl restart redis-server.service
    fi
    sys systemctl enable redis-server.service
  else
    say "redis-server is not installed: iotgw buffers in SQLite only (apt-get install redis-server, then re-run this script)"
  fi
  sys systemctl enable iotgw.service
  if [ "$START" = 1 ]; then sys systemctl restart iotgw.service; fi

  cat <<EOF
iotgw-install: done. Next steps:
  1. edit $ETC/config.yaml (mongodb.uri for Atlas, gateway_id), or put secrets in $ETC/environment
  2. sudo iotgw doctor                      one line per check, with a fix for anything broken
  3. sudo systemctl restart iotgw           after any config change
  4. systemctl status iotgw; journalctl -u iotgw -f
  5. open http://$(hostname 2>/dev/null || echo gateway).local:3000/ for the status page
EOF
}

do_uninstall() {
  if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then echo "install.sh: run as root (sudo), or use --root DIR" >&2; exit 1; fi
  if [ -n "$ROOT" ] || have_unit iotgw.service; then sys systemctl disable --now iotgw.service; fi
  rm -f "$ROOT$UNIT_DIR/iotgw.service"
  rm -rf "$ROOT$APP" "$ROOT$APP.new" "$ROOT$APP.old"
  if [ -L "$ROOT$BIN_LINK" ]; then rm -f "$ROOT$BIN_LINK"; fi
  if [ "$PURGE" = 1 ]; then
    rm -f "$ROOT$REDIS_DROPIN_DIR/iotgw.conf" "$ROOT$REDIS_SNIPPET"
    rmdir "$ROOT$REDIS_DROPIN_DIR" 2>/dev/null || true
    rm -rf "$ROOT$ETC" "$ROOT$DATA"
    if [ -n "$ROOT" ] || id "$USER_NAME" >/dev/null 2>&1; then sys userdel "$USER_NAME"; fi
    say "purged config, data, Redis settings and the $USER_NAME user; the running Redis keeps its settings until it restarts, and iotgw: keys stay in it (redis-cli --scan --pattern 'iotgw:*')"
  else
    say "kept $ETC (config), $DATA (buffered readings) and the Redis settings (Redis may hold unuploaded readings); --purge removes them"
  fi
  sys systemctl daemon-reload
  say "uninstalled"
}

if [ "$MODE" = install ]; then do_install; else do_uninstall; fi
