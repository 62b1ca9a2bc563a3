#!/usr/bin/env bash
# Install what the project needs into .venv (created if missing). Idempotent: re-running with
# nothing changed only checks a stamp. Usage: scripts/setup.sh [run|dev]
#   run  the package with its viewers (napari, Jupyter widgets), the MRD reader, the image exports
#        (nibabel, pydicom, highdicom) and their runtime
#        dependencies (torch pinned by constraints.txt), plus the Debian packages napari needs:
#        Xvfb and Qt's xcb/OpenGL libraries (without a display the viewer renders under Xvfb)
#   dev  also the test tools (pytest-qt, pytest-xvfb, ...), the fastmri reference package
#        (installed without its dependencies), BART (the reference for coil maps and
#        classical reconstructions) and Chromium (the browser the notebook test drives)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-dev}
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

stamp=.venv/.lfmri-setup-$mode
digest=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    echo "setup: installing Python packages ($mode)"
    # torch first, pinned: an unpinned resolve would pull a multi-GB CUDA build.
    "${pip[@]}" install -c constraints.txt torch
    if [ "$mode" = dev ]; then
        "${pip[@]}" install -c constraints.txt -e ".[dev,viewer,mrd,nifti,dicom,animation]"
        # The reference implementation for conformance tests; its own dependency list asks
        # for torchvision and lightning, which the tested modules do not use.
        "${pip[@]}" install --no-deps "fastmri==0.3.0"
    else
        "${pip[@]}" install -c constraints.txt -e ".[viewer,mrd,nifti,dicom,animation]"
    fi
    echo "$digest" > "$stamp"
fi

# napari needs an X server with OpenGL (Xvfb when there is no display) and Qt's xcb libraries
# in both modes; BART and Chromium only serve the tests.
debs=(xvfb xauth libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libdbus-1-3 libfontconfig1
      libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
      libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-cursor0)
if [ "$mode" = dev ]; then
    debs+=(bart chromium)
fi
missing=()
for deb in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "ok installed" || missing+=("$deb")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing Debian packages: ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: warning: missing Debian packages for the viewer and its tests: ${missing[*]} (need root and apt-get)" >&2
    fi
fi
