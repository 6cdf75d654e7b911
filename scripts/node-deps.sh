# Sourced by scripts/start and scripts/install-deps.sh: `ensure_node_modules [--force]` installs
# the Node packages of package-lock.json with `npm ci` unless node_modules already holds exactly
# them. The proof is a stamp with the lockfile's SHA-256, written only once `npm ci` finished: an
# install cut short (a killed `npm start`: npm ci empties node_modules first) is redone at the
# next start, and a tree that is current is never emptied again. File times could not tell
# either: a checkout or a merge makes the lockfile look newer than a complete tree.
ensure_node_modules() {
  local want have
  want=$(sha256sum package-lock.json | cut -c1-64)
  have=$(cat node_modules/.iotgw-lock-sha256 2>/dev/null || true)
  if [ "${1:-}" = "--force" ] || [ "$want" != "$have" ]; then
    npm ci --no-audit --no-fund
    echo "$want" > node_modules/.iotgw-lock-sha256
  fi
}
