#!/usr/bin/env bash
# One prepared run on a GPU machine (the device tool): the CUDA tests, every verb with
# --device cuda, CPU-vs-CUDA tallies, then bench_dissect and bench_visualize on the GPU.
#   bash benchmarks/device_check.sh OUT_DIR [quick|again]
# quick: no benchmarks; again: a shorter smoke test, then the benchmarks without the profile.
# Needs the machine's python3 with torch+CUDA; Lucent (pure Python) is read from ./.lucent
# (`pip install --no-deps --target .lucent torch-lucent==0.1.8 kornia==0.4.1 decorator`).
set -uo pipefail
OUT=${1:-/tmp/unitscope-device}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 UNITSCOPE_LUCENT_DIR=$PWD/.lucent
PY=${PYTHON:-python3}
US="$PY -m unitscope.cli --quiet"
W=/tmp/unitscope-world
R=/tmp/unitscope-runs
TIMEFORMAT='   took %R s'

step() { echo; echo "== $*"; time "$@"; echo "   rc=$?"; }

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv
$PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__,
torch.cuda.get_device_name(), 'cpus', __import__('os').cpu_count())"
step $US concepts $W --n 2000 --size 128 > /dev/null
step $PY -m pytest -q -p no:cacheprovider tests/test_devices.py

echo; echo "#### every verb on --device cuda (toy, 2000 concept-world images)"
step $US examples toy $W conv5 fc8 --top-k 6 --device cuda --out $R/gpu
step $US dissect toy $W conv1,conv2,conv3,conv4,conv5 --baseline random --rotation 1 --device cuda --out $R/gpu
if [ "${2:-}" != again ]; then
  step $US visualize toy conv5 fc8 --steps 256 --negative --device cuda --out $R/gpu
  step $US compose toy "$(ls $W/images/concepts/000001.jpg)" --device cuda --out $R/gpu
  step $US graph toy $W --images 64 --device cuda --out $R/gpu
  step $US explore $R/gpu
fi

echo; echo "#### the same tally on the CPU and on CUDA (fp32 and bf16)"
for p in fp32 $([ "${2:-}" = again ] || echo bf16); do
  step $US dissect toy $W conv5 --precision $p --device cpu --out $R/cpu-$p
  step $US dissect toy $W conv5 --precision $p --device cuda --out $R/cuda-$p
  cmp $R/cpu-$p/dissect/conv5/tally.csv $R/cuda-$p/dissect/conv5/tally.csv && echo "   $p tally.csv identical"
  $PY - "$R/cpu-$p" "$R/cuda-$p" <<'EOF'
import sys, pandas as pd
a, b = (pd.read_csv(f"{d}/dissect/conv5/tally.csv") for d in sys.argv[1:])
same = (a["label"] == b["label"]).mean()
print(f"   labels equal for {same:.1%} of units; max |IoU difference| {(a['score'] - b['score']).abs().max():.2e}")
EOF
done

if [ "${2:-}" != quick ]; then
  echo; echo "#### bench_dissect on CUDA"
  step $PY benchmarks/bench_dissect.py --device cuda --models toy,resnet18 --images 4000 --repeat 1 \
       --no-reference --rss '' --scratch /tmp
  step $PY benchmarks/bench_dissect.py --device cuda --models toy --images 4000 --repeat 1 --workers 0 \
       --no-reference --rss '' --scratch /tmp
  echo; echo "#### bench_visualize on CUDA"
  step $PY benchmarks/bench_visualize.py --device cuda --layers layer3 --channels 64 --steps 256 --size 224 \
       --repeat 1 --lucent-single 2 $([ "${2:-}" = again ] || echo --profile)
fi
