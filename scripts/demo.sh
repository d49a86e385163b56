#!/usr/bin/env bash
# One-shot pull of a bundled test video over loopback: a platform waits for a client,
# pulls test_videos/main_bframes.h264 frame by frame, verifies its SHA-256 and prints the
# report; the client serves this repository's test_videos/.
#
# Usage: scripts/demo.sh [FILE [MODE]]   (after `cargo build --release`)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VSTREAM:-target/release/vstream}
FILE=${1:-test_videos/main_bframes.h264}
MODE=${2:-frame}
PORT=${PORT:-18080}
OUT=${OUT:-$(mktemp -d)}
CERT="$OUT/platform.pem"

"$BIN" platform --listen "127.0.0.1:$PORT" --out "$OUT" --write-cert "$CERT" \
    --pull "$FILE" --mode "$MODE" --timeout 60 &
PLATFORM=$!
for _ in $(seq 100); do [ -s "$CERT" ] && break; sleep 0.1; done
"$BIN" client --server "127.0.0.1:$PORT" --server-name localhost --ca "$CERT" \
    --dir . --register test_videos &
CLIENT=$!
trap 'kill "$CLIENT" 2>/dev/null || true' EXIT
wait "$PLATFORM"
wait "$CLIENT"
echo "received files are in $OUT"
