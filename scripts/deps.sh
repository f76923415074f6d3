#!/usr/bin/env bash
# Installs the Debian packages Shale builds and tests with, when any is missing.
# Needs root or sudo the first time; afterwards it only checks.
set -euo pipefail
# libraft-dev and libuv1-dev: only for examples/replicated (skipped when they are missing).
pkgs=(build-essential cmake pkg-config libzstd-dev libxxhash-dev liburing-dev libcmocka-dev
  libraft-dev libuv1-dev)
missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[[ $(id -u) -ne 0 ]] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
