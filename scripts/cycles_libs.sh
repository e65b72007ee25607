#!/usr/bin/env bash
# The system libraries Blender's bpy module links against (X11 client
# libraries, GL), installed through apt-get when missing (as root or with sudo).
set -euo pipefail
libs=$( (command -v ldconfig >/dev/null && ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)
need=()
for pair in "libX11.so.6:libx11-6" "libXi.so.6:libxi6" "libXfixes.so.3:libxfixes3" "libXext.so.6:libxext6" \
            "libXrender.so.1:libxrender1" "libSM.so.6:libsm6" "libICE.so.6:libice6" \
            "libxkbcommon.so.0:libxkbcommon0" "libGL.so.1:libgl1"; do
  lib=${pair%%:*}; pkg=${pair##*:}
  case "$libs" in *"$lib "*) ;; *) need+=("$pkg") ;; esac
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing the libraries bpy needs: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
