#!/bin/sh
# Writes the shell completion scripts that release archives ship:
# completions/ipt.bash, completions/ipt.zsh and completions/ipt.fish, each
# what "ipt completion SHELL" prints (goreleaser.yaml runs this first).
set -eu
cd "$(dirname "$0")/.."
rm -rf completions
mkdir completions
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/ipt" .
for shell in bash zsh fish; do
  "$tmp/ipt" completion "$shell" > "completions/ipt.$shell"
done
