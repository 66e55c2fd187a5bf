#!/usr/bin/env bash
# One GPU lease, several calls of at most 10 minutes each (the device tool's limit).  The first call
# starts the whole campaign in the background, in its own copy of the tree (/tmp/colddiff-run), so that
# later calls (which re-send the tree) cannot disturb it; every call brings the FID weight parts it
# carried (.gpu/fid1, .gpu/fid2: see `make gpu-prepare`), waits up to WAIT seconds, and copies what
# exists so far to $OUT (at most 8 files come back).
#   bash benchmarks/gpu_session.sh WAIT [campaign options, first call only]
set -u
cd "$(dirname "$0")/.."
RUN=/tmp/colddiff-run PARTS=/tmp/colddiff-fid LOG=/tmp/colddiff.log RC=/tmp/colddiff.rc
WAIT=${1:-560}; shift || true
mkdir -p $PARTS
for d in .gpu/fid1 .gpu/fid2; do [ -d "$d" ] && cp -n "$d"/* $PARTS/; done
if [ ! -d $RUN ]; then
  mkdir -p $RUN && cp -a . $RUN/ && touch $RUN/.started
  (cd $RUN && env -u OUT setsid nohup bash -c "bash benchmarks/gpu_campaign.sh --fid-parts $PARTS $*; echo \$? > $RC" \
     > $LOG 2>&1 < /dev/null &)
  echo "campaign started: $*"
fi
t0=$SECONDS
while [ ! -f $RC ] && [ $((SECONDS - t0)) -lt "$WAIT" ]; do sleep 5; done
[ -f $RC ] && echo "campaign finished, rc $(cat $RC)" || echo "campaign still running after ${WAIT}s"
if [ -n "${OUT:-}" ]; then
  cp $LOG "$OUT/campaign.log"
  (cd $RUN/results && tar czf "$OUT/gpu-tables.tgz" --exclude='gpu/checkpoints' --exclude='gpu/samples-*' gpu 2>/dev/null)
  (cd $RUN/results && find cpu/weights -name '*.pt' -newer $RUN/.started 2>/dev/null | xargs -r tar cf "$OUT/cpu-weights.tar")   # trained here
  (cd $RUN/results/gpu && ls samples-*.npz 2>/dev/null | xargs -r tar cf "$OUT/samples.tar")   # one file: few come back
fi
tail -n 40 $LOG
