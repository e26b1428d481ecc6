#!/usr/bin/env bash
# Installs everything the toolkit needs on a fresh Debian/Ubuntu machine (or a venv you activated):
# Debian packages (libsndfile1 for fairseq2, Apertium for offline translation, pdsh and ssh for
# multi-node launches, libaio-dev for DeepSpeed's NVMe offload, g++ for the CPU ops DeepSpeed
# compiles on first use), Slurm with its accounting (slurmctld, slurmd, the clients, slurmdbd, munge,
# MariaDB: the tests start a private cluster from them, see tests/fixtures/slurm.py; nothing is
# started here), then the Python packages of requirements.txt and the toolkit itself.
# Safe to rerun: installed packages are skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_packages=(libsndfile1 apertium apertium-eng-spa pdsh openssh-client openssh-server libaio-dev g++)
# Without recommends: they would pull in a mail server and documentation.
slurm_packages=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
missing() {
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done
}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
updated=0
install() {  # install [apt-get options] -- packages...
  local options=()
  while [ "$1" != "--" ]; do options+=("$1"); shift; done
  shift
  (($#)) || return 0
  ((updated)) || { $sudo apt-get update -qq; updated=1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${options[@]}" "$@"
}
mapfile -t todo < <(missing "${apt_packages[@]}")
install -- "${todo[@]}"
mapfile -t todo < <(missing "${slurm_packages[@]}")
install --no-install-recommends -- "${todo[@]}"

python3 -m pip install -q -r requirements.txt
python3 -m pip install -q --no-deps -e .
