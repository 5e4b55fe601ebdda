#!/bin/bash
# The generated completions (build/share: what cmake --install installs) in the real shells:
# flags by prefix, the values of --graph and --progress, directories after -d, and the step
# names after -s/--steps read by `brr --list-steps` from the file -d and -f name.
set -u
: "${BRR:?}" "${BRR_BINARY_DIR:?}"
share=$BRR_BINARY_DIR/share
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BRR_MASTER_CONFIG= BRR_USER_CONFIG= PATH="$(dirname "$BRR"):$PATH"
fail=0
expect() {  # shell, line, got, want
  if [ "$3" != "$4" ]; then echo "FAIL [$1] '$2': got '$3', want '$4'"; fail=1; fi
}
p=$tmp/proj
mkdir -p "$p/subdir"
printf 'steps:\n  alpha:\n    run: {image: busybox}\n  beta:\n    run: {image: busybox}\n' >"$p/buildrunner.yaml"
printf 'steps:\n  gamma:\n    run: {image: busybox}\n' >"$p/other.yaml"

# ---- bash: call the completion function as readline would ----
bash_complete() {  # words... (the last one is being completed)
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _brr
           [ ${#COMPREPLY[@]} = 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$share/brr.bash" "$@"
}
expect bash "--steps" "$(bash_complete brr -d "$p" --steps '')" "alpha beta "
expect bash "-f -s" "$(bash_complete brr -d "$p" -f other.yaml -s '')" "gamma "
expect bash "--directory= -s b" "$(bash_complete brr --directory="$p" -s b)" "beta "
expect bash "-s alpha," "$(bash_complete brr -d "$p" -s alpha,)" "alpha,alpha alpha,beta "
expect bash "--graph=m" "$(bash_complete brr --graph=m)" "--graph=mermaid "
expect bash "--graph = (split at =)" "$(bash_complete brr --graph = '')" "dot json mermaid text "
expect bash "--progress" "$(bash_complete brr --progress '')" "auto ci json plain tty "
expect bash "--no-col" "$(bash_complete brr --no-col)" "--no-color "
expect bash "-d sub" "$(cd "$p" && bash_complete brr -d sub)" "subdir "
expect bash "no steps file" "$(bash_complete brr -d "$tmp/none" -s '')" ""

# ---- fish: complete -C ----
fish_complete() { fish -c "source '$share/brr.fish'; complete -C '$1'" | cut -f1 | sort | tr '\n' ' '; }
expect fish "--steps" "$(fish_complete "brr -d $p --steps ")" "alpha beta "
expect fish "-f -s" "$(fish_complete "brr -d $p -f other.yaml -s ")" "gamma "
expect fish "-s alpha," "$(fish_complete "brr -d $p -s alpha,")" "alpha,alpha alpha,beta "
expect fish "--progress" "$(fish_complete "brr --progress ")" "auto ci json plain tty "
expect fish "--graph=m" "$(fish_complete "brr --graph=m")" "--graph=mermaid "
expect fish "--no-col" "$(fish_complete "brr --no-col")" "--no-color "

# ---- zsh: an interactive zsh on a pty, with compadd wrapped to record what is offered ----
cat >"$tmp/drive.zsh" <<'ZSH'
zmodload zsh/zpty
share=$1 out=$2 line=$3
zpty z zsh -f -i
zpty -w z "PS1='' PROMPT='' RPROMPT=''; fpath=($share \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "compadd() { local -a __h; builtin compadd -O __h \"\$@\"; print -rl -- \"\${(@)__h}\" >> $out; builtin compadd \"\$@\"; }"
zpty -w z "zstyle ':completion:*' menu no; print READY"
zpty -r z l '*READY*'
zpty -w -n z "$line"$'\t'
zpty -w -n z $'\t'
for i in {1..100}; do [[ -s $out ]] && break; sleep 0.1; done
sleep 0.5
zpty -d z
ZSH
mkdir -p "$tmp/zfunc"
cp "$share/_brr" "$tmp/zfunc/_brr"
zsh_complete() {
  rm -f "$tmp/zout"
  timeout 30 zsh -f "$tmp/drive.zsh" "$tmp/zfunc" "$tmp/zout" "$1" >/dev/null 2>&1
  sort -u "$tmp/zout" 2>/dev/null | grep -v '^$' | tr '\n' ' '
}
expect zsh "--steps" "$(zsh_complete "brr -d $p --steps ")" "alpha beta "
expect zsh "-f -s" "$(zsh_complete "brr -d $p -f other.yaml -s ")" "gamma "
expect zsh "--progress=" "$(zsh_complete "brr --progress=")" "auto ci json plain tty "
expect zsh "--graph=" "$(zsh_complete "brr --graph=")" "dot json mermaid text "
expect zsh "--no-col" "$(zsh_complete "brr --no-col")" "--no-color "
exit $fail
