#!/usr/bin/env bash
# Checks that the kernels declared bit-exact (tests/ptx/kernels.txt) hold no arithmetic that
# rounds differently from the CPU reference: each kernel source with exact kernels is compiled to
# PTX with the build's own compile command for it (compile_commands.json, which CMake writes for
# nstyle_cuda), once per architecture of that command, and ptx_rules.awk reads the PTX.
#   check_ptx.sh BUILD_DIR SOURCE_DIR CMAKE      (ctest's test_ptx_exact)
#   check_ptx.sh --skip REASON                   (a build without nvcc: prints REASON, exits 77)
# Only -c, -o, the dependency-file options and the architecture options of the command change:
# -ptx -arch=compute_XX take their place. The rules need source lines, so each PTX is made twice,
# as built and with -lineinfo; the two must hold the same instructions, and the second is read.
# First a self-check: probe.cu's planted multiply-add (with -fmad=true) must be reported and its
# fmodf call excused, so a change of nvcc's PTX cannot make this test pass by reading nothing.
# Exit: 0 pass, 1 fail, 77 skipped (with the reason printed).
set -euo pipefail

if [[ ${1:-} == --skip ]]; then
    echo "test_ptx_exact skipped: ${2:-no reason given}"
    exit 77
fi
build=$1 src=$2 cmake=$3
here=$src/tests/ptx
manifest=$here/kernels.txt
db=$build/compile_commands.json
work=$build/ptx-check
failed=0

fail() {
    echo "FAIL: $*"
    failed=1
}

if [[ ! -f $db ]]; then
    echo "test_ptx_exact skipped: $db is missing (this CMake generator writes no compile commands)"
    exit 77
fi
rm -rf "$work"
mkdir -p "$work"

rows() { # rows FILE CLASS: the kernel names of FILE's rows of that class, space-separated
    awk -v f="$1" -v c="$2" '!/^#/ && $1 == f && $3 == c { printf "%s ", $2 }' "$manifest"
}

# every kernel source is classified, and every classified source exists
for f in "$src"/src/kernels/*.cu; do
    name=$(basename "$f")
    [[ -n $(rows "$name" exact)$(rows "$name" allowed) ]] ||
        fail "$name has no row in tests/ptx/kernels.txt (declare its kernels exact or allowed)"
done
while read -r name; do
    [[ $name == libm || -f $src/src/kernels/$name ]] ||
        fail "kernels.txt names $name, which is not in src/kernels/"
done < <(awk '!/^#/ && NF { print $1 }' "$manifest" | sort -u)
libm=$(awk '!/^#/ && $1 == "libm" && $3 == "allowed" { printf "%s%s", s, $2; s = "|" }' "$manifest")
mapfile -t exact_files < <(awk '!/^#/ && $1 != "libm" && $3 == "exact" { print $1 }' "$manifest" |
                           sort -u)

sources=()
for name in "${exact_files[@]}"; do
    sources+=("$src/src/kernels/$name")
done
"$cmake" -DDB="$db" -DSOURCES="$(IFS=';'; echo "${sources[*]}")" -DOUT_DIR="$work" \
    -P "$here/compile_command.cmake"

# Reads $work/NAME.args into: dir, own_source (the source as the command names it), nvcc, base
# (the command without -c, -o, the dependency-file and architecture options; the source stays
# where it was) and archs (compute_XX values).
parse_command() {
    local -a a
    mapfile -t a < "$work/$1.args"
    dir=${a[0]}
    own_source=${a[1]}
    nvcc=${a[2]}
    base=()
    archs=()
    local i=3 x
    while ((i < ${#a[@]})); do
        x=${a[i]}
        case $x in
        -c | -MD | -MMD) ;;
        -o | -MT | -MF | -MQ) i=$((i + 1)) ;;
        --generate-code=* | -gencode=* | -arch=* | --gpu-architecture=* | -code=* | --gpu-code=*)
            [[ $x =~ compute_([0-9]+[af]?) || $x =~ sm_([0-9]+[af]?) ]] &&
                archs+=("${BASH_REMATCH[1]}") ;;
        -gencode | --generate-code | -arch | --gpu-architecture | -code | --gpu-code)
            i=$((i + 1))
            [[ ${a[i]} =~ compute_([0-9]+[af]?) || ${a[i]} =~ sm_([0-9]+[af]?) ]] &&
                archs+=("${BASH_REMATCH[1]}") ;;
        *) base+=("$x") ;;
        esac
        i=$((i + 1))
    done
    mapfile -t archs < <(printf '%s\n' "${archs[@]}" | sort -u)
}

# The instructions of a PTX file: no comments, line directives, debug labels or debug sections.
instructions() {
    awk '/^[ \t]*\.section[ \t]+\.debug/ { exit }
         /^[ \t]*(\/\/|\.loc[ \t]|\.file[ \t]|$)/ || /^\$L__tmp[0-9]+:/ { next } { print }' "$1"
}

# ptx SOURCE OUT ARCH [extra nvcc options]: the PTX of SOURCE with the current base command
# (SOURCE replacing the command's own source), as built and with -lineinfo.
ptx() {
    local source=$1 out=$2 arch=$3
    shift 3
    local -a cmd=()
    local x
    for x in "${base[@]}"; do
        [[ $x == "$own_source" ]] && x=$source
        cmd+=("$x")
    done
    local -a target=()
    [[ -n $arch ]] && target=("-arch=compute_$arch")
    (cd "$dir" && "$nvcc" "${cmd[@]}" "$@" "${target[@]}" -ptx -o "$out") || return 1
    (cd "$dir" && "$nvcc" "${cmd[@]}" "$@" "${target[@]}" -lineinfo -ptx -o "$out.lines") ||
        return 1
    if ! cmp -s <(instructions "$out") <(instructions "$out.lines"); then
        echo "FAIL: $out: -lineinfo changed the instructions; the rules cannot read this PTX"
        return 1
    fi
}

rules() { # rules PTX TAG EXACT ALLOWED
    awk -v exact="$3" -v allowed="$4" -v libm="$libm" -v tag="$2" -f "$here/ptx_rules.awk" \
        "$1.lines" "$1.lines"
}

first=1
for name in "${exact_files[@]}"; do
    parse_command "$name"
    if [[ ! -x $nvcc ]] && ! command -v "$nvcc" > /dev/null; then
        echo "test_ptx_exact skipped: the build's CUDA compiler $nvcc is not here"
        exit 77
    fi
    printf '%s\n' "${base[@]}" | grep -qxF -- "$own_source" ||
        { fail "$name: the compile command does not name its source $own_source"; continue; }
    ((${#archs[@]})) || archs=("") # no architecture option: nvcc's default
    if ((first)); then
        first=0
        # the self-check, with this file's command and contraction forced on
        probe_base=()
        for x in "${base[@]}"; do
            [[ $x == -fmad=* || $x == --fmad=* ]] || probe_base+=("$x")
        done
        saved=("${base[@]}")
        base=("${probe_base[@]}")
        p=$work/probe.ptx
        if ! ptx "$here/probe.cu" "$p" "${archs[0]}" -fmad=true; then
            fail "probe.cu: nvcc failed"
        elif ! rules "$p" probe.cu nst_ptx_probe_fmodf nst_ptx_probe_contracted > "$p.fmodf"; then
            cat "$p.fmodf"
            fail "probe.cu: the rules report fmodf's library FMAs"
        elif rules "$p" probe.cu nst_ptx_probe_contracted nst_ptx_probe_fmodf > "$p.fma"; then
            fail "probe.cu: the rules miss the contracted multiply-add"
        elif ! grep -q "fma.rn.f32 x1 (fused multiply-add) at .*probe.cu:7:" "$p.fma"; then
            cat "$p.fma"
            fail "probe.cu: the rules report something else than the contracted multiply-add"
        else
            echo "self-check: probe.cu's planted multiply-add is reported, its fmodf call excused"
        fi
        base=("${saved[@]}")
    fi
    for arch in "${archs[@]}"; do
        tag="$name compute_${arch:-default}"
        out=$work/${name%.cu}.${arch:-default}.ptx
        if ! ptx "$own_source" "$out" "$arch"; then
            fail "$tag: could not make the PTX"
            continue
        fi
        rules "$out" "$tag" "$(rows "$name" exact)" "$(rows "$name" allowed)" || fail "$tag"
    done
done

if ((failed)); then
    echo "test_ptx_exact: FAILED (PTX and logs in $work)"
    exit 1
fi
echo "test_ptx_exact: passed"
