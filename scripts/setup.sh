#!/usr/bin/env bash
# Installs the system libraries Curvature links against (OpenBLAS, LAPACKE, FFTW, zlib) when
# they are missing, with apt-get (through sudo when not root). Sourced by demo.sh/test.sh.
set -euo pipefail

curvature_missing_packages() {
  local missing=()
  for pkg in libopenblas-dev liblapacke-dev libfftw3-dev zlib1g-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

curvature_install_dependencies() {
  local missing
  missing=$(curvature_missing_packages)
  [ -z "$missing" ] && return 0
  echo "Installing system libraries: $missing" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to install: $missing" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing
}

curvature_install_dependencies
