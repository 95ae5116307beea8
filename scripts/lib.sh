# Shared helpers for the project's scripts (sourced, not run).
if [ -t 1 ]; then B=$'\e[1m'; G=$'\e[32m'; R=$'\e[31m'; Z=$'\e[0m'; else B= G= R= Z=; fi
step() { printf '%s==> %s%s\n' "$B" "$*" "$Z"; }
ok() { printf '%s ok %s %s\n' "$G" "$Z" "$*"; }
die() { printf '%serror:%s %s\n' "$R" "$Z" "$*" >&2; exit 1; }
