#!/usr/bin/env bash
# Installs the system libraries Curvature links against (OpenBLAS, LAPACKE, FFTW, zlib) and MPICH (loaded at run time) when
# they are missing, with apt-get (through sudo when not root). Sourced by demo.sh/test.sh.
set -euo pipefail

curvature_missing_packages() {
  local missing=()
  for pkg in libopenblas-dev liblapacke-dev libfftw3-dev zlib1g-dev mpich pkg-config; do
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

# The Python exporter's tests (python/tests) need torch, torchvision, numpy, safetensors and
# pytest, and the package itself (pip install ./python). test.sh calls this; pip installs
# what is missing (about 3 minutes in a fresh environment, mostly torch). With
# CURVATURE_PYTHON_TESTS=1 a failed installation is an error; otherwise the Python tests
# are skipped with a warning (CURVATURE_PYTHON_READY=0).
curvature_pip_install() {
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q "$@"
}

curvature_install_python() {
  CURVATURE_PYTHON_READY=0
  if ! command -v python3 >/dev/null 2>&1; then
    echo "warning: python3 not found; the Python exporter tests are skipped" >&2
    return 0
  fi
  local imports="import torch, torchvision, numpy, safetensors, pytest"
  if ! python3 -c "$imports" >/dev/null 2>&1; then
    echo "Installing the Python test dependencies (torch, torchvision, numpy, safetensors, pytest)" >&2
    curvature_pip_install torch torchvision numpy safetensors pytest ||
      curvature_pip_install --break-system-packages torch torchvision numpy safetensors pytest || true
  fi
  if python3 -c "$imports" >/dev/null 2>&1 &&
     { curvature_pip_install --no-deps --no-build-isolation ./python ||
       curvature_pip_install --no-deps ./python ||
       curvature_pip_install --no-deps --break-system-packages ./python; }; then
    CURVATURE_PYTHON_READY=1
  elif [ "${CURVATURE_PYTHON_TESTS:-0}" = "1" ]; then
    echo "error: could not install the Python test dependencies (CURVATURE_PYTHON_TESTS=1)" >&2
    exit 1
  else
    echo "warning: could not install the Python test dependencies; the Python exporter tests are skipped" >&2
  fi
  export CURVATURE_PYTHON_READY
}

# Debian's Chromium, for the cockpit dashboard's headless browser check
# (scripts/browser-check.sh, run by test.sh); installed when missing.
curvature_install_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  echo "Installing chromium (headless browser check of the cockpit dashboard)" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to install chromium" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq chromium
}
