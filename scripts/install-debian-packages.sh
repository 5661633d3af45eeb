#!/usr/bin/env bash
# Install the Debian packages ogi-archive needs: LibreOffice (DOC/WPS -> DOCX),
# Tesseract with simplified Chinese (OCR of scans), poppler-utils (PDF rendering for OCR),
# Chromium (headless browser tests of the web UI) and fonts to render Chinese.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail
PACKAGES=(
  libreoffice-writer-nogui
  tesseract-ocr tesseract-ocr-chi-sim
  poppler-utils
  chromium
  fonts-noto-cjk
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
