#!/usr/bin/env bash
# Real photos, outside every training and benchmark set: degrades them with
# ipt degrade and compares, in one run, ipt's restorations (default: the
# built-in models) against the classical tools a user would otherwise reach
# for:
#
#   scripts/real_photos.sh [WEIGHTS]     # WEIGHTS: builtin (default) or a file
#
# - SR ×4: ipt sr against MATLAB bicubic (ipt eval --weights bicubic) and
#   OpenCV's cv2.resize INTER_CUBIC and INTER_LANCZOS4; PSNR on Y, border
#   shaved by 4, as the paper.
# - denoise σ50: ipt denoise against OpenCV's non-local means
#   (fastNlMeansDenoisingColored, search 21, template 7) at the h that scores
#   best on these very photos (the baseline's most favourable setting), and the
#   noisy input; PSNR on RGB.
# - derain: ipt derain against the rainy input; PSNR on Y.
#
# The photos are scikit-image's sample data (astronaut, chelsea, coffee,
# motorcycle_left, rocket) and matplotlib's grace_hopper, from Debian's
# python3-skimage and python3-matplotlib; OpenCV is python3-opencv. Each is
# cropped to a multiple of 12 pixels. Seeds are fixed, so reruns give the same
# figures. Needs Go, /usr/bin/python3 with cv2, and those packages.
set -euo pipefail
cd "$(dirname "$0")/.."
weights=${1:-builtin}
threads=${THREADS:-2}
py=/usr/bin/python3
sk=/usr/lib/python3/dist-packages/skimage/data
photos="$sk/astronaut.png $sk/chelsea.png $sk/coffee.png $sk/motorcycle_left.png $sk/rocket.jpg
/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
"$py" -c 'import cv2' 2>/dev/null || { echo "real_photos: needs python3-opencv (apt-get install python3-opencv)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/real_photos.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ipt=$tmp/ipt
go build -o "$ipt" .
mkdir -p "$tmp/sr/HR" "$tmp/sr/LR_bicubic/X4" "$tmp/clean"

# Crop each photo to a multiple of 12 and write it as PNG.
"$py" - "$tmp/clean" $photos <<'EOF'
import cv2, os, sys
out = sys.argv[1]
for p in sys.argv[2:]:
    im = cv2.imread(p, cv2.IMREAD_COLOR)
    if im is None:
        sys.exit("real_photos: cannot read " + p)
    h, w = im.shape[0] // 12 * 12, im.shape[1] // 12 * 12
    name = os.path.splitext(os.path.basename(p))[0]
    cv2.imwrite(os.path.join(out, name + ".png"), im[:h, :w])
EOF

json_num() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }
score() { "$ipt" compare --json --shave "${3:-0}" "$1" "$2" > "$tmp/c.json"; json_num "$4" "$tmp/c.json"; }

echo "== SR ×4, PSNR Y (shave 4): ipt ($weights) | MATLAB bicubic | OpenCV cubic | OpenCV Lanczos"
for f in "$tmp"/clean/*.png; do
  n=$(basename "$f" .png)
  cp "$f" "$tmp/sr/HR/$n.png"
  "$ipt" degrade --task sr4 "$f" -o "$tmp/sr/LR_bicubic/X4/${n}x4.png"
  "$ipt" sr -x4 -q --weights "$weights" --threads "$threads" "$tmp/sr/LR_bicubic/X4/${n}x4.png" -o "$tmp/$n-sr.png"
  "$py" - "$tmp/sr/LR_bicubic/X4/${n}x4.png" "$tmp/$n" <<'EOF'
import cv2, sys
lr = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
h, w = lr.shape[:2]
cv2.imwrite(sys.argv[2] + "-cubic.png", cv2.resize(lr, (4 * w, 4 * h), interpolation=cv2.INTER_CUBIC))
cv2.imwrite(sys.argv[2] + "-lanczos.png", cv2.resize(lr, (4 * w, 4 * h), interpolation=cv2.INTER_LANCZOS4))
EOF
done
"$ipt" eval --task sr4 --weights "$weights" --data "$tmp/sr" --threads "$threads" --json > "$tmp/e-ipt.json"
"$ipt" eval --task sr4 --weights bicubic --data "$tmp/sr" --json > "$tmp/e-bic.json"
for f in "$tmp"/clean/*.png; do
  n=$(basename "$f" .png)
  bic=$(grep -o "\"name\":\"$n.png\"[^}]*" "$tmp/e-bic.json" | grep -o '"psnr_y":[-0-9.e+]*' | cut -d: -f2)
  printf '  %-16s %7.2f %7.2f %7.2f %7.2f\n' "$n" "$(score "$tmp/$n-sr.png" "$f" 4 psnr_y)" "$bic" \
    "$(score "$tmp/$n-cubic.png" "$f" 4 psnr_y)" "$(score "$tmp/$n-lanczos.png" "$f" 4 psnr_y)"
done
printf '  %-16s %7.2f %7.2f\n' "mean" "$(json_num mean_psnr_y "$tmp/e-ipt.json")" "$(json_num mean_psnr_y "$tmp/e-bic.json")"

echo "== denoise σ50, PSNR RGB: ipt ($weights) | OpenCV NLM (best h) | noisy input"
for f in "$tmp"/clean/*.png; do
  n=$(basename "$f" .png)
  "$ipt" degrade --task dn50 --seed 1 "$f" -o "$tmp/$n-noisy.png"
  "$ipt" denoise -sigma 50 -q --weights "$weights" --threads "$threads" "$tmp/$n-noisy.png" -o "$tmp/$n-dn.png"
done
# NLM at several h; the h with the best mean PSNR over the photos is kept.
best_h=""; best=0
for h in 20 25 30 35 40; do
  sum=0
  for f in "$tmp"/clean/*.png; do
    n=$(basename "$f" .png)
    "$py" -c "import cv2,sys; cv2.imwrite(sys.argv[2], cv2.fastNlMeansDenoisingColored(cv2.imread(sys.argv[1]), None, $h, $h, 7, 21))" \
      "$tmp/$n-noisy.png" "$tmp/$n-nlm$h.png"
    sum=$(awk -v s="$sum" -v p="$(score "$tmp/$n-nlm$h.png" "$f" 0 psnr_rgb)" 'BEGIN{print s+p}')
  done
  if awk -v s="$sum" -v b="$best" 'BEGIN{exit !(s>b)}'; then best=$sum; best_h=$h; fi
done
echo "  (NLM h = hColor = $best_h, of 20..40)"
for f in "$tmp"/clean/*.png; do
  n=$(basename "$f" .png)
  printf '  %-16s %7.2f %7.2f %7.2f\n' "$n" "$(score "$tmp/$n-dn.png" "$f" 0 psnr_rgb)" \
    "$(score "$tmp/$n-nlm$best_h.png" "$f" 0 psnr_rgb)" "$(score "$tmp/$n-noisy.png" "$f" 0 psnr_rgb)"
done

echo "== derain, PSNR Y: ipt ($weights) | rainy input"
for f in "$tmp"/clean/*.png; do
  n=$(basename "$f" .png)
  "$ipt" degrade --task derain --seed 1 "$f" -o "$tmp/$n-rain.png"
  "$ipt" derain -q --weights "$weights" --threads "$threads" "$tmp/$n-rain.png" -o "$tmp/$n-dr.png"
  printf '  %-16s %7.2f %7.2f\n' "$n" "$(score "$tmp/$n-dr.png" "$f" 0 psnr_y)" "$(score "$tmp/$n-rain.png" "$f" 0 psnr_y)"
done
