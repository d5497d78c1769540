#!/usr/bin/env bash
# Installs the Debian 12 packages hookd builds and runs with, if any is missing.
set -euo pipefail

# clang-14 builds the fuzz targets; libFuzzer and clang's sanitizer runtimes
# are in libclang-rt-14-dev (only recommended by clang), and llvm-14 has the
# llvm-symbolizer that puts names in their reports. chromium runs the
# dashboard's tests in a real headless browser (fonts-liberation: the
# sans-serif the dashboard falls back to on Linux, so screenshots read well).
# etcd-server: the cluster tests start their own etcd from it on free ports;
# the package's systemd service is not used. openssl (the command) makes the
# certificates of the cluster's mutual TLS test.
packages=(cmake g++ make pkg-config libcaf-dev librestinio-dev libasio-dev
  nlohmann-json3-dev libssl-dev librocksdb-dev libgtest-dev
  libcurl4-openssl-dev curl ca-certificates python3 clang-format git
  wrk nginx-light clang-14 libclang-rt-14-dev llvm-14 chromium
  fonts-liberation etcd-server openssl)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "hookd: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
