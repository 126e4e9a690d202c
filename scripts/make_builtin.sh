#!/usr/bin/env bash
# Makes the built-in models from training checkpoints and measures them:
#
#   scripts/make_builtin.sh CHECKPOINT                 # one model, named $NAME
#   scripts/make_builtin.sh NAME=CHECKPOINT...         # several, e.g. tiny-sr2=ft-sr2.safetensors
#
# For each model:
# 1. converts CHECKPOINT to f16 (the train.* optimiser state left out) as
#    internal/weights/builtin/NAME.safetensors;
# 2. runs ipt eval with that file for every row of issue 9's targets table
#    (Set5 ×2/×3/×4 and Set14 ×4 PSNR Y, CBSD68 σ50 (and σ30) PSNR RGB, Rain100L PSNR
#    Y) whose task the model serves (its "tasks" metadata; a denoiser for a
#    range of levels, dnA-B, at σ15, σ25 and σ70 of it instead), default tiler,
#    without and (ENSEMBLE=1) with --ensemble (and for derain --flips);
# 3. times each of its tasks, in seconds per megapixel of output, as a user runs it
#    (the whole command: load, decode, restore, encode), with THREADS
#    threads and the default tiler: sr2 on Set14's baboon (500×480 → 1000×960),
#    sr3 and sr4 on its ×2 bicubic shrink (250×240), dn30, dn50 and derain on
#    a 1000×960 image (baboon ×2 by the model, then degraded);
# Then it writes internal/weights/builtin/scores.json (all the models given;
# ipt models prints it) and removes the folder's other models, so the folder
# holds exactly the models of the run.
#
# The eval figures depend neither on THREADS nor on the machine; the times
# do. Commit the model file and scores.json together, and record the run in
# internal/weights/README.md (the recipe).
#
# Environment:
#   NAME=compact   model file name (NAME.safetensors) when one CHECKPOINT is given alone
#   DATA=DIR       test sets, laid out as ../shared/datasets (the default,
#                  else /work/shared/datasets)
#   THREADS=2      cores for eval and timing
#   ENSEMBLE=1     also eval with --ensemble (8× the work: about 35 minutes
#                  more on 2 cores at 10 s/MP); 0 skips it
#   SEED=0         seed of eval's noise (ipt eval --seed)
#   OUT=DIR        where the model and scores.json go
#                  (default internal/weights/builtin)
# Needs only Go (it builds ipt) and the test sets.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
threads=${THREADS:-2}
ensemble=${ENSEMBLE:-1}
seed=${SEED:-0}
out=${OUT:-internal/weights/builtin}
if [ -z "${DATA:-}" ]; then
  for d in ../shared/datasets /work/shared/datasets; do
    if [ -d "$d" ]; then DATA=$d; break; fi
  done
fi
data=${DATA:?no test sets: set DATA to a folder laid out as ../shared/datasets}
for set in Set5 Set14 CBSD68 Rain100L; do
  [ -d "$data/$set" ] || { echo "make_builtin: $data/$set: no such test set" >&2; exit 1; }
done
# models: "NAME CHECKPOINT" lines.
models=""
for arg in "$@"; do
  case $arg in
    *=*) name=${arg%%=*} ckpt=${arg#*=} ;;
    *) [ $# -eq 1 ] || { echo "make_builtin: several checkpoints need NAME=CHECKPOINT each" >&2; exit 2; }
       name=${NAME:-compact} ckpt=$arg ;;
  esac
  [ -f "$ckpt" ] || { echo "make_builtin: $ckpt: no such file" >&2; exit 1; }
  models="$models$name $ckpt
"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/make_builtin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ipt=$tmp/ipt
echo "== build"
go build -o "$ipt" .

# json_num KEY FILE prints a number of ipt's one-line JSON output.
json_num() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }
# tasks_of FILE prints the "tasks" metadata of a safetensors file (its JSON
# header follows an 8-byte little-endian length).
tasks_of() {
  local n
  n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
  head -c $((8 + n)) "$1" | tail -c "$n" | grep -o '"tasks":"[^"]*"' | cut -d'"' -f4
}
# serves TASKS TASK: whether a model trained for TASKS (comma-separated)
# serves TASK: named there, or a level dnN within a range dnA-B named there.
serves() {
  case ",$1," in *",$2,"*) return 0 ;; esac
  local n=${2#dn} t a b
  [ "$n" != "$2" ] && [ -n "$n" ] && [ -z "${n//[0-9]/}" ] || return 1
  for t in ${1//,/ }; do
    case $t in
      dn*-*) a=${t#dn}; b=${a#*-}; a=${a%-*}
        [ "$n" -ge "$a" ] && [ "$n" -le "$b" ] && return 0 ;;
    esac
  done
  return 1
}

# rows: task, test set, metric, as issue 9's targets table, and for a
# denoiser of a range of levels (dnA-B) the levels in it that no specialist
# serves.
rows="sr2 Set5 psnr_y
sr3 Set5 psnr_y
sr4 Set5 psnr_y
sr4 Set14 psnr_y
dn15 CBSD68 psnr_rgb
dn25 CBSD68 psnr_rgb
dn30 CBSD68 psnr_rgb
dn50 CBSD68 psnr_rgb
dn70 CBSD68 psnr_rgb
derain Rain100L psnr_y"

# The timing inputs: sr2 on Set14's baboon (500×480 → 1000×960), sr3 and
# sr4 on its ×2 bicubic shrink (250×240), dn30, dn50 and derain on a
# 1000×960 clean image: baboon ×2 by the first of the models that serves
# sr2 (else the built-in one; the content hardly changes the time), then
# degraded.
baboon=$data/Set14/HR/baboon.png
"$ipt" degrade --task sr2 "$baboon" -o "$tmp/small.png"
while read -r name ckpt; do
  if [ -n "$name" ] && serves "$(tasks_of "$ckpt")" sr2; then
    "$ipt" sr -x2 -q --weights "$ckpt" --threads "$threads" "$baboon" -o "$tmp/big.png"
    break
  fi
done <<< "$models"
[ -f "$tmp/big.png" ] || "$ipt" sr -x2 -q --weights builtin --threads "$threads" "$baboon" -o "$tmp/big.png"
for task in dn30 dn50 derain; do
  "$ipt" degrade --task "$task" --seed 1 "$tmp/big.png" -o "$tmp/$task.png"
done

mkdir -p "$tmp/models"
models_json=""
while read -r name ckpt; do
  [ -n "$name" ] || continue
  model=$tmp/models/$name.safetensors
  echo "== $name: convert $ckpt to f16"
  # A copy first: a training run may rewrite its checkpoint meanwhile.
  cp "$ckpt" "$tmp/ckpt.safetensors"
  "$ipt" convert --dtype f16 --force "$tmp/ckpt.safetensors" "$model"
  tasks=$(tasks_of "$model")
  [ -n "$tasks" ] || { echo "make_builtin: $ckpt: no tasks metadata (not a checkpoint of ipt train or finetune?)" >&2; exit 1; }

  echo "== $name ($tasks): eval (threads $threads, default tiler, seed $seed)"
  rows_json=""
  while read -r task set metric; do
    serves "$tasks" "$task" || continue
    # A range model is scored at the levels it serves, not at 30 and 50,
    # which the specialists take (unless it is named for them).
    case ",$tasks," in *",$task,"*) ;; *) case $task in dn30|dn50) continue ;; esac ;; esac
    f=$tmp/$name-$task-$set.json
    "$ipt" eval --task "$task" --weights "$model" --data "$data/$set" --threads "$threads" --seed "$seed" --json > "$f"
    psnr=$(json_num "mean_$metric" "$f")
    line="{\"task\": \"$task\", \"data\": \"$set\", \"metric\": \"$metric\", \"psnr\": $psnr"
    if [ "$ensemble" = 1 ]; then
      "$ipt" eval --task "$task" --weights "$model" --data "$data/$set" --threads "$threads" --seed "$seed" --json --ensemble > "$f.ens"
      ens=$(json_num "mean_$metric" "$f.ens")
      line="$line, \"psnr_ensemble\": $ens"
      if [ "$task" = derain ]; then
        # The rain is near-vertical: --flips keeps it so, --ensemble's transposes do not.
        "$ipt" eval --task "$task" --weights "$model" --data "$data/$set" --threads "$threads" --seed "$seed" --json --flips > "$f.flips"
        flips=$(json_num "mean_$metric" "$f.flips")
        line="$line, \"psnr_flips\": $flips"
        ens="$ens  flips $flips"
      fi
    else
      ens=-
    fi
    printf '  %-7s %-9s %-9s %8s  ensemble %s\n' "$task" "$set" "$metric" "$psnr" "$ens"
    rows_json="$rows_json${rows_json:+,
    }$line}"
  done <<< "$rows"

  echo "== $name: seconds per output megapixel (threads $threads, default tiler)"
  times_json=""
  timed=""
  for task in sr2 sr3 sr4 dn30 dn50 derain; do
    serves "$tasks" "$task" || continue
    # One denoising time per model: a range model serves both levels alike.
    case $task in dn*) case $timed in *dn*) continue ;; esac ;; esac
    timed="$timed $task"
    case $task in
      sr2) in=$baboon cmd=(sr -x 2) ;;
      sr*) in=$tmp/small.png cmd=(sr -x "${task#sr}") ;;
      dn*) in=$tmp/$task.png cmd=(denoise --sigma "${task#dn}") ;;
      derain) in=$tmp/derain.png cmd=(derain) ;;
    esac
    start=$(date +%s.%N)
    "$ipt" "${cmd[@]}" -q --weights "$model" --threads "$threads" "$in" -o "$tmp/out-$task.png" --force
    end=$(date +%s.%N)
    # Output megapixels from the PNG header (width and height, bytes 17-24).
    mp=$(od -An -tu1 -j16 -N8 "$tmp/out-$task.png" | awk '{w=$1*16777216+$2*65536+$3*256+$4; h=$5*16777216+$6*65536+$7*256+$8; print w*h/1e6}')
    spmp=$(awk -v s="$start" -v e="$end" -v mp="$mp" 'BEGIN{printf "%.2f", (e-s)/mp}')
    printf '  %-7s %5.2f MP out  %6s s/MP\n' "$task" "$mp" "$spmp"
    times_json="$times_json${times_json:+, }\"$task\": $spmp"
  done
  models_json="$models_json${models_json:+,
}\"$name.safetensors\": {
  \"measured\": \"MEASURED\",
  \"rows\": [
    $rows_json
  ],
  \"seconds_per_mp\": {$times_json}
}"
done <<< "$models"

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//; s/"//g' || true)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
measured="$(date -u +%F), commit $commit, ${cpu:-unknown CPU}, $threads threads, default tiler, eval seed $seed"
printf '{%s}\n' "${models_json//MEASURED/$measured}" > "$tmp/models/scores.json"

# The folder now holds exactly this run's models and their scores.
mkdir -p "$out"
find "$out" -maxdepth 1 -name '*.safetensors' -delete
mv "$tmp"/models/* "$out"/
echo "== wrote $(cd "$out" && ls -1 *.safetensors | tr '\n' ' ')and $out/scores.json ($(cat "$out"/*.safetensors | wc -c) bytes of models)"
IPT_BUILTIN=$out "$ipt" models | sed -n '/^built in/,$p'
