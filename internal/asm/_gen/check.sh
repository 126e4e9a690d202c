#!/bin/sh
# check.sh regenerates internal/asm/sgemm_amd64.{s,go} with avo and
# sgemm_arm64.s with ./neon, and fails if they differ from the committed
# files. Run it from anywhere; it needs the Go module proxy (or a module
# cache holding avo v0.5.0).
set -eu
cd "$(dirname "$0")"
go run . -out ../sgemm_amd64.s -stubs ../sgemm_amd64.go -pkg asm
go run ./neon -out ../sgemm_arm64.s
cd ..
if ! git diff --exit-code -- sgemm_amd64.s sgemm_amd64.go sgemm_arm64.s; then
	echo "internal/asm: generated files are out of date; run go generate ./internal/asm and commit" >&2
	exit 1
fi
if git ls-files --error-unmatch sgemm_amd64.s sgemm_amd64.go sgemm_arm64.s >/dev/null 2>&1; then :; else
	echo "internal/asm: generated files are not committed" >&2
	exit 1
fi
