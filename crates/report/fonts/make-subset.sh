#!/usr/bin/env bash
# Rebuilds NotoSansSC-{Regular,Bold}-subset.otf from Debian's fonts-noto-cjk.
# Needs: apt-get (Debian), python3 with fontTools (pip install fonttools==4.68.0).
# Usage: bash make-subset.sh [python]   (python defaults to python3; it must import fontTools)
set -euo pipefail
PY=${1:-python3}
OUT=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
apt-get download fonts-noto-cjk          # 1:20220127+repack1-1 (Noto Sans CJK 2.004)
dpkg -x fonts-noto-cjk_*.deb x
TTC=x/usr/share/fonts/opentype/noto
# Every character of GB2312 (rows 1-9 symbols and the 6,763 hanzi of rows 16-87), one
# code point per line: decode each double-byte code with Python's gb2312 codec.
"$PY" - > gb2312.txt <<'PY'
seen = set()
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            ch = bytes([hi, lo]).decode("gb2312")
        except UnicodeDecodeError:
            continue
        if ord(ch) not in seen:
            seen.add(ord(ch))
            print(f"U+{ord(ch):04X}")
PY
# Layout features: only those for Chinese text set horizontally or vertically (with all
# features, "locl" pulls in the JP/KR/TC glyph variants and doubles the size).
# Face 2 of the collections is Noto Sans CJK SC (face 0 JP, 1 KR, 3 TC, 4 HK).
for W in Regular Bold; do
  "$PY" -m fontTools.subset "$TTC/NotoSansCJK-$W.ttc" --font-number=2 \
    --unicodes="U+0020-007E,U+00A0-00FF,U+2000-206F,U+3000-303F,U+FF00-FFEF" \
    --unicodes-file=gb2312.txt \
    --layout-features='ccmp,liga,kern,halt,palt,vert,vrt2' --name-IDs='*' --name-languages='*' --notdef-outline \
    --output-file="$OUT/NotoSansSC-$W-subset.otf"
done
ls -l "$OUT"/*.otf
