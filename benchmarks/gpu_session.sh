#!/usr/bin/env bash
# Issue #12's GPU checks in one command of at most 10 minutes on a bare H100/H200 machine,
# logs in $OUT (default ./gpu-out). Two steps:
#
#   benchmarks/gpu_session.sh fetch   # HERE, with a network, in the repository root: download
#                                     # the wheels the device lacks into .whl/ (git-ignored)
#   benchmarks/gpu_session.sh         # THERE (the device tool: carry .whl, timeout_s 600)
#
# There, in order, each under its own time limit so the later ones still run:
#   1. determinism.log  the gpu-marked tests: two cold runs of every explainer, metric and
#                       sonifier on CUDA give the same records (pytest -m gpu)
#   2. bench_gpu.log    training vs bare forward+backward (deterministic, fast, bf16), scoring
#                       vs bare forward, harness vs captum, projected paper wall time
#   3. train-*.log      paper preset, digit fold 0, full width on the full synthetic set:
#                       AlexNet with the paper's whole budget (10 000 steps), then AudioNet for
#                       what time is left (its 50 000 steps are projected from the rate)
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
mkdir -p "$OUT"
START=$SECONDS
left() { echo $((570 - (SECONDS - START))); }  # seconds left of a 600 s command

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD:$PWD/benchmarks PYTHONUNBUFFERED=1
export AUDIOXAI_BENCH_CACHE=/tmp/axb-cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/env.log" 2>&1
python3 -c "import torch, zennit, captum, pydantic; print(torch.__version__, torch.cuda.get_device_name())" >> "$OUT/env.log" 2>&1
cat "$OUT/env.log"

# data first, in the background: the full synthetic set, for the training step
(python3 -m audioxai_bench --quiet data synth --out /tmp/synth --workers 12 > "$OUT/synth.log" 2>&1) &
SYNTH=$!

timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu -rs \
    tests/run/test_reproducible_runs.py > "$OUT/determinism.log" 2>&1
echo "determinism: exit $? after $((SECONDS - START)) s"; tail -3 "$OUT/determinism.log"

timeout 170 python3 benchmarks/bench_gpu.py > "$OUT/bench_gpu.log" 2>&1
echo "bench_gpu: exit $? after $((SECONDS - START)) s"; cat "$OUT/bench_gpu.log"

wait $SYNTH
echo "synth: exit $? after $((SECONDS - START)) s"; tail -2 "$OUT/synth.log"
for model in alexnet audionet; do
    [ "$(left)" -gt 30 ] || break
    timeout "$(left)" python3 -m audioxai_bench --progress train --data /tmp/synth \
        --model $model --task digit --fold 0 --preset paper --device cuda \
        --out /tmp/$model-digit-0.pt > "$OUT/train-$model.log" 2>&1
    echo "train $model: exit $? after $((SECONDS - START)) s"; tail -c 600 "$OUT/train-$model.log"
done
