#!/usr/bin/env bash
# The accelerator checks in one script, in three stages that need different inputs:
#
#   bash benchmarks/gpu_check.sh lattice OUTDIR   # kernels vs exact enumeration, updates/ns (<= 4 min)
#   bash benchmarks/gpu_check.sh model OUTDIR     # SmolLM2 generation tokens/s, text-criticality run
#   bash benchmarks/gpu_check.sh bf16 OUTDIR      # bfloat16 against float32 generation (<= 4 min)
#
# Each step has its own time limit and writes its log to OUTDIR, so a slow step costs only itself.
# The model stage runs the GPU preset (experiment=text_criticality criticality=gpu) unchanged
# except for the overrides in GPU_PRESET_ARGS (default: a reduced sequence count that fits a short
# device lease; empty for the full paper-scale run).
set -uo pipefail
stage=${1:?stage: lattice | model | bf16}
out=${2:?output folder}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
cd "$(dirname "$0")/.."

step() {  # step NAME SECONDS CMD...: run CMD under a time limit, log to OUTDIR/NAME.log
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$out/$name.log"
  echo "== $name: rc=$rc in $((SECONDS - t0)) s"
}

python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
nvidia-smi -L 2>/dev/null

case $stage in
lattice)
  # 230 s of step limits in all. First every kernel variant (multispin, Pallas compiled by
  # Triton, each word source) against exact enumeration on the device, slow cases included
  step pytest_kernels 95 python3 -m pytest -q -x -n 8 -p no:cacheprovider -m "slow or not slow" \
    tests/test_kernels.py tests/test_samplers_exact.py tests/test_labelling.py
  # every kernel x word source at one size: which is fastest on this backend
  step bench_variants 60 python3 benchmarks/bench_samplers.py --quick --repeat 2 --variants \
    --lattices 2:2048 --only metropolis/multispin/fused,metropolis/multispin/bulk,metropolis/multispin/philox,metropolis/xla/fused,metropolis/xla/bulk,metropolis/xla/philox,metropolis/pallas,heatbath/pallas
  # ours (defaults) and the kernel it replaced, next to the naive kernel, at every size
  step bench_sizes 75 python3 benchmarks/bench_samplers.py --quick --repeat 2 \
    --lattices 2:512,2:2048,2:8192,3:128,3:256 \
    --only metropolis,metropolis/xla,heatbath,swendsen_wang,wolff --cluster-max-sites 262144
  ;;
model)
  step bench_generate 120 python3 benchmarks/bench_generate.py --rows 512 --tokens 128
  # shellcheck disable=SC2086
  step text_criticality_gpu ${GPU_PRESET_LIMIT:-330} python3 -m experiments.sweep \
    experiment=text_criticality criticality=gpu \
    ${GPU_PRESET_ARGS-criticality.n_sequences=500 criticality.chunk=500 criticality.bootstrap=100 criticality.toy.n_therm=300 criticality.toy.n_measure=500}
  run=$(ls -td outputs/text_criticality/*/ 2>/dev/null | head -n 1)
  for f in fss.csv toy_fit.csv generation.csv criticality.png; do
    [ -f "$run/$f" ] && cp "$run/$f" "$out/"
  done
  ;;
bf16)
  # bfloat16 against float32 at five times the CPU comparison's sequences per temperature
  # (docs/text_criticality.md); the presets switch to bfloat16 only if every |z| stays below 3
  step bench_bf16 240 python3 benchmarks/bench_bf16_generation.py --sequences 1024 --tokens 256 \
    --T 0.8 1.0 1.2
  ;;
*) echo "unknown stage $stage"; exit 2 ;;
esac
