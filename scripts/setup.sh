#!/usr/bin/env bash
# Installs everything the toolkit needs on a fresh Debian/Ubuntu machine (or a venv you activated):
# Debian packages (libsndfile1 for fairseq2, Apertium for offline translation, pdsh and ssh for
# multi-node launches, libaio-dev for DeepSpeed's NVMe offload, g++ for the CPU ops DeepSpeed
# compiles on first use), then the Python packages of
# requirements.txt and the toolkit itself.
# Safe to rerun: installed packages are skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_packages=(libsndfile1 apertium apertium-eng-spa pdsh openssh-client openssh-server libaio-dev g++)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

python3 -m pip install -q -r requirements.txt
python3 -m pip install -q --no-deps -e .
