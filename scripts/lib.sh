# Shared helpers for the project's scripts (sourced, not run).
if [ -t 1 ]; then B=$'\e[1m'; G=$'\e[32m'; R=$'\e[31m'; Z=$'\e[0m'; else B= G= R= Z=; fi
step() { printf '%s==> %s%s\n' "$B" "$*" "$Z"; }
ok() { printf '%s ok %s %s\n' "$G" "$Z" "$*"; }
die() { printf '%serror:%s %s\n' "$R" "$Z" "$*" >&2; exit 1; }
# size_gate <file> <bytes> <gzip bytes> <gate>: prints the figure; fails above the gate.
size_gate() {
  local file=$1 bytes=$2 gz=$3 gate=$4
  if [ "$gz" -gt "$gate" ]; then
    die "size gate: $file is $gz bytes gzip -9, over its gate of $gate ($((gate / 1024)) KiB)"
  fi
  ok "size gate: $file $bytes bytes, $gz gzip -9 (gate $gate, $((gate - gz)) to spare)"
}
