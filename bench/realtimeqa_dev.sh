#!/usr/bin/env bash
# Reproduce the dev-split figures in docs/benchmarks.md: ingest the RealTimeQA dev archive into
# its own index (incremental: a second run skips the embedding), then evaluate all 299 questions.
# The default generator answers unless the repository has a models/ folder with a GGUF in it
# (then the first one there does), or --model names one.
# Usage: bash bench/realtimeqa_dev.sh [extra `newsqa eval` options, e.g. --limit 50]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/realtimeqa-dev
INDEX_DIR=${NEWSQA_INDEX_DIR:-indexes}
time newsqa ingest "$DATA/archive.jsonl" --index-dir "$INDEX_DIR" --index realtimeqa-dev
time newsqa eval "$DATA/questions.jsonl" --index-dir "$INDEX_DIR" --index realtimeqa-dev \
    --out runs/realtimeqa-dev "$@"
