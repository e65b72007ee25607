#!/usr/bin/env bash
# Install dropsynth into ./.venv, with the system OpenGL libraries it needs
# (EGL + Mesa's llvmpipe for headless rendering) when they are missing.
# Usage: bash scripts/setup.sh [--test] [--utility] [--consumers] [--cycles]
#   --test adds the test dependencies, --utility the utility benchmark's (torch, ultralytics),
#   --consumers FiftyOne, Datumaro, supervision and OpenCV (the consumer tests),
#   --cycles Blender Cycles (bpy: Python 3.11 only; it pins numpy < 2; with the X11
#   client libraries bpy links against, installed through apt-get when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

need_gl=()
# /sbin is not on an ordinary user's PATH on Debian.
libs=$( (command -v ldconfig >/dev/null && ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)
for pair in "libEGL.so.1:libegl1" "libGL.so.1:libgl1" "libXrender.so.1:libxrender1"; do
  lib=${pair%%:*}; pkg=${pair##*:}
  case "$libs" in *"$lib "*) ;; *) need_gl+=("$pkg") ;; esac
done
# Mesa's EGL vendor library and software rasterizer (llvmpipe), for machines without a GPU driver.
[ -e /usr/share/glvnd/egl_vendor.d/50_mesa.json ] || need_gl+=(libegl-mesa0)
ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || ls /usr/lib/*/dri/llvmpipe_dri.so >/dev/null 2>&1 \
  || need_gl+=(libgl1-mesa-dri)
if [ ${#need_gl[@]} -gt 0 ]; then
  echo "setup: installing system GL libraries: ${need_gl[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_gl[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
# Debian's python3 has no venv/ensurepip until python3-venv is installed.
if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
  ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  echo "setup: installing python${ver}-venv"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "python${ver}-venv" \
    >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
# A venv left broken by an earlier failed attempt (python but no pip) is made again.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  rm -rf .venv
  "$PY" -m venv .venv
fi
# pip's output is kept in a log and shown only if it fails: setuptools notes
# on every editable install of a package-dir layout ("Editable installation
# ... folders with the same name as your package"), which is not for the user.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "setup: failed: $*" >&2; exit 1; }; }
quiet .venv/bin/python -m pip install -q --upgrade pip "setuptools>=77" wheel
extras=()
for arg in "$@"; do
  case "$arg" in
    --test) extras+=(test) ;;
    --utility) extras+=(utility) ;;
    --consumers) extras+=(consumers) ;;
    --cycles) extras+=(cycles) ;;
    *) echo "setup: unknown option $arg (use --test, --utility, --consumers, --cycles)" >&2; exit 2 ;;
  esac
done
if [[ " ${extras[*]} " == *" utility "* ]] && ! .venv/bin/python -c "import torch, torchvision" >/dev/null 2>&1; then
  # A matching torch/torchvision pair; on x86_64 with Python 3.11 pip takes both from this machine's wheel cache.
  quiet .venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
fi
if [[ " ${extras[*]} " == *" cycles "* ]]; then
  if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: --cycles needs Python 3.11 (bpy 5.0 is built for it only); run with PYTHON=python3.11" >&2; exit 2
  fi
  bash scripts/cycles_libs.sh
fi
spec="."
[ ${#extras[@]} -gt 0 ] && spec=".[$(IFS=,; echo "${extras[*]}")]"
quiet .venv/bin/python -m pip install -q -e "$spec"
echo "setup: dropsynth installed in .venv ($(.venv/bin/dropsynth --version))"
