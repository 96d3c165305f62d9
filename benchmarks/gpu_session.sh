#!/usr/bin/env bash
# Issue #12's GPU checks in one command of at most 10 minutes on a bare H100/H200 machine,
# logs in $OUT (default ./gpu-out; at most 8 files come back from the device). Two steps:
#
#   benchmarks/gpu_session.sh fetch   # HERE, with a network, in the repository root: download
#                                     # the wheels the device lacks into .whl/ (git-ignored)
#   benchmarks/gpu_session.sh         # THERE (the device tool: carry .whl, timeout_s 600)
#
# There: first, alone on the device, bench_gpu.log (training vs bare forward+backward in the
# deterministic, fast and bf16 modes, scoring vs bare forward, harness vs captum, the projected
# paper wall time). Then, sharing the device until the time is up (processes on one GPU take
# turns: three trainings at once each ran at a third of one's rate on an H200):
#   train-<model>-<task>.log  paper preset, fold 0, full width on the full synthetic set, for
#                             each of $TRAIN (default: audionet-digit, whose 50 000 steps take
#                             ~6.5 min alone; session 23 trained alexnet-digit and alexnet-sex;
#                             TRAIN= trains none);
#                             a log cut by the time limit keeps its last validation accuracy
#   quickstart.log            two cold quickstart runs on the device, compared cell by cell
#                             (QUICKSTART=0 leaves them out)
#   determinism.log           the gpu-marked tests, pytest -m gpu (DETERMINISM=0 leaves them out)
#   paper-fold0.log           PAPER_FOLD=digit (or sex): paper-<task> on fold 0 alone, end to
#                             end; a second call while the machine is warm continues it (--resume)
# BENCH=0 leaves the bench out; BENCH_ARGS="--compile" adds torch.compile's training rate. SMOKE=1 DEVICE=cpu tries the whole script on a CPU at toy sizes.
set -u -o pipefail
cd "$(dirname "$0")/.."

WHEELS=(zennit==0.5.1 captum==0.9.0 soundfile==0.14.0 cffi==2.0.0 pycparser==3.0
        espeakng-loader==0.2.4 pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0
        typing-inspection==0.4.2 typing-extensions==4.15.0)

if [ "${1:-}" = fetch ]; then
    exclude="$(git rev-parse --git-common-dir)/info/exclude"
    mkdir -p "$(dirname "$exclude")"
    grep -qsx '/.whl/' "$exclude" || echo /.whl/ >> "$exclude"
    for wheel in "${WHEELS[@]}"; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$wheel" || exit 1
    done
    ls -la .whl
    exit 0
fi

OUT=${OUT:-gpu-out}
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-}
WORK=${WORK:-/tmp/gpu-session}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/session.log") 2>&1
START=$SECONDS
left() { echo $((${BUDGET:-570} - (SECONDS - START))); }  # seconds left of a 600 s command
stamp() { echo "[$((SECONDS - START)) s] $*"; }

if [ -z "$SMOKE" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD:$PWD/benchmarks
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
fi
export PYTHONPATH=${PYTHONPATH:-$PWD:$PWD/benchmarks} PYTHONUNBUFFERED=1
export AUDIOXAI_BENCH_CACHE=$WORK/cache
python3 -c "import torch, zennit, captum, pydantic; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
if [ -n "$SMOKE" ]; then
    REPS=(--reps 1); TRAIN_LIMIT=30
    BENCH_ARGS=(--device "$DEVICE" --iterations 5 --samples 8 --seconds 1 --repeats 1)
else
    REPS=(); read -r -a BENCH_ARGS <<< "${BENCH_ARGS:-}"
fi

# data in the background (CPU only), the bench alone on the device
stamp "synth and bench_gpu"
(python3 -m audioxai_bench --quiet data synth --out "$WORK/synth" --workers 12 "${REPS[@]}") &
SYNTH=$!
if [ "${BENCH:-1}" = 1 ]; then
    timeout 240 python3 benchmarks/bench_gpu.py "${BENCH_ARGS[@]}" > "$OUT/bench_gpu.log" 2>&1
    stamp "bench_gpu: exit $?"; cat "$OUT/bench_gpu.log"
fi
wait $SYNTH
stamp "synth: exit $?"
python3 -c "from audioxai_bench.data.dataset import load_audiomnist as l; print(len(l('$WORK/synth', workers=14).relpaths), 'clips decoded')"

# paper-preset training of each of $TRAIN in the background, until the time is up
TRAINERS=()
for run in ${TRAIN-audionet-digit}; do
    model=${run%-*} task=${run#*-}
    timeout "${TRAIN_LIMIT:-$(left)}" python3 -m audioxai_bench --progress train --data "$WORK/synth" \
            --model $model --task $task --fold 0 --preset paper --device "$DEVICE" \
            --out "$WORK/$model-$task-0.pt" > "$OUT/train-$model-$task.log" 2>&1 &
    TRAINERS+=($!)
done

# one fold of a paper benchmark end to end (training, explain, score); continued when called again
if [ -n "${PAPER_FOLD:-}" ]; then
    sed -e 's/^folds: .*/folds: [0]/' "benchmarks/paper-$PAPER_FOLD.yaml" > "$WORK/paper-fold0.yaml"
    again=(); [ -d "$WORK/paper-fold0" ] && again=(--resume)
    timeout "$(left)" python3 -m audioxai_bench --progress run "$WORK/paper-fold0.yaml" \
        --device "$DEVICE" --out "$WORK/paper-fold0" "${again[@]}" >> "$OUT/paper-fold0.log" 2>&1
    stamp "paper-$PAPER_FOLD fold 0: exit $?"; tail -5 "$OUT/paper-fold0.log"
fi

# two cold quickstart runs (separate caches), compared cell by cell
DEFINITION=quickstart
if [ -n "$SMOKE" ]; then
    DEFINITION=$WORK/smoke.yaml
    sed -e 's/^samples: .*/samples: 4/' -e 's/^batch_size: .*/batch_size: 4/' \
        -e 's/^folds: .*/folds: [0]/' -e 's/iterations: 500/iterations: 20/' \
        -e 's/^  - {name: model-randomisation-check.*//' \
        benchmarks/quickstart.yaml > "$DEFINITION"
fi
for i in 0 1; do
    [ "${QUICKSTART:-1}" = 1 ] && [ "$(left)" -gt 60 ] || break
    stamp "quickstart $i" >> "$OUT/quickstart.log"
    AUDIOXAI_BENCH_CACHE=$WORK/qs-cache$i timeout $(( $(left) > 200 ? 200 : $(left) )) \
        python3 -m audioxai_bench --quiet run "$DEFINITION" --device "$DEVICE" \
        --out "$WORK/qs$i" >> "$OUT/quickstart.log" 2>&1
    stamp "quickstart $i: exit $?" | tee -a "$OUT/quickstart.log"
done
[ -d "$WORK/qs1" ] && python3 benchmarks/compare_runs.py "$WORK/qs0" "$WORK/qs1" 2>&1 \
    | tee -a "$OUT/quickstart.log"

if [ "${DETERMINISM:-1}" = 1 ] && [ "$(left)" -gt 40 ]; then
    timeout "$(( $(left) - 10 ))" python3 -m pytest -q -p no:cacheprovider -m gpu -rs \
        tests > "$OUT/determinism.log" 2>&1
    stamp "determinism: exit $?"; tail -3 "$OUT/determinism.log"
fi

for pid in "${TRAINERS[@]}"; do wait "$pid"; done
stamp "training done"
for log in "$OUT"/train-*.log; do
    [ -e "$log" ] || continue
    echo "== $log"; tr '\r' '\n' < "$log" | grep -v '^\s*$' | tail -3
done
