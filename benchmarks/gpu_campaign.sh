#!/usr/bin/env bash
# The GPU campaign on a bare GPU machine (make gpu-check): install the carried wheels, point the
# data root at the carried MNIST, run the campaign, copy results/gpu to $OUT when it is set.
#   make gpu-prepare            # here: writes .gpu/ (MNIST IDX + wheels); carry it with the tree
#   bash benchmarks/gpu_campaign.sh [campaign options]       # there, e.g. --stages env,throughput
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -d .gpu/wheels ] && ! $PY -c "import pytorch_msssim" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/colddiff-site .gpu/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/colddiff-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 CI=true
[ -d .gpu/data/MNIST/raw ] && export COLDDIFF_DATA=$PWD/.gpu/data
PARTS=()
[ -d .gpu/fid1 ] && PARTS=(--fid-parts .gpu/fid1,.gpu/fid2)     # the FID weights, if carried (gpu-prepare)
$PY -m benchmarks.gpu_campaign "${PARTS[@]}" "$@"
rc=$?
if [ -n "${OUT:-}" ] && [ -d results/gpu ]; then
  mkdir -p "$OUT/gpu" && find results/gpu -maxdepth 1 -type f -exec cp {} "$OUT/gpu/" \;
fi
exit $rc
