# Scans the PTX of one kernel source (compiled with -lineinfo) for arithmetic that would round
# differently from the CPU reference inside the kernels declared bit-exact. Run by check_ptx.sh:
#   awk -v exact="k1 k2" -v allowed="k3" -v libm="fmodf" -v tag="grid_sample.cu sm_90" \
#       -f ptx_rules.awk file.ptx file.ptx        (the file twice: pass 1 reads the .file table)
# exact / allowed: kernel names (the identifier, not the mangled name), or "*" for every kernel of
# the file. A float instruction in an exact kernel fails when it is
#   fma / mad (any rounding mode)            one rounding where the CPU rounds twice;
#   add / sub / mul with no rounding mode    ptxas may still fuse such a pair into an FMA;
#   .approx / .full / .ftz                   not IEEE division, square root or subnormals;
# unless its source line calls a function of `libm`, whose device implementation computes an
# exact or correctly rounded result with those instructions inside (the allowed list says why).
# Every kernel in the PTX must be named in exact or allowed, and every name there must be in the
# PTX, so a new or renamed kernel has to be classified. Exit status 1 on any failure.

function demangle(s,    n, rest, len) {
    if (s ~ /^_ZL?[0-9]/) {
        rest = s
        sub(/^_ZL?/, "", rest)
        len = rest
        sub(/[^0-9].*$/, "", len)
        n = len + 0
        return substr(rest, length(len) + 1, n)
    }
    return s
}

function source_text(id, line,    path, text, i) {
    if ((id, line) in text_cache)
        return text_cache[id, line]
    path = files[id]
    text = ""
    if (path != "" && line > 0) {
        i = 0
        while ((getline text < path) > 0)
            if (++i == line)
                break
        close(path)
        if (i != line)
            text = ""
    }
    gsub(/^[ \t]+|[ \t]+$/, "", text)
    text_cache[id, line] = text
    return text
}

BEGIN {
    n = split(exact, names, " ")
    for (i = 1; i <= n; i++)
        is_exact[names[i]] = 1
    n = split(allowed, names, " ")
    for (i = 1; i <= n; i++)
        is_allowed[names[i]] = 1
    libm_call = "(^|[^A-Za-z0-9_])(" libm ")[ \t]*\\("
    failed = 0
}

# pass 1: the source files of the .loc directives
FNR == NR {
    if ($1 == ".file") {
        path = $3
        sub(/,$/, "", path)
        gsub(/"/, "", path)
        files[$2] = path
    }
    next
}

/^[ \t]*(\.visible[ \t]+|\.weak[ \t]+|\.extern[ \t]+)*\.(entry|func)[ \t]/ {
    pending = ""
    if (match($0, /[A-Za-z_$][A-Za-z0-9_$]*\(/))
        pending = demangle(substr($0, RSTART, RLENGTH - 1))
    next
}

/^\{/ {
    if (pending != "") {
        fn = pending
        seen[fn] = 1
        mode = ("*" in is_exact || fn in is_exact) ? "exact" \
             : ("*" in is_allowed || fn in is_allowed) ? "allowed" : "unclassified"
        if (mode == "unclassified") {
            printf "%s: kernel %s is neither declared exact nor allowed (tests/ptx/kernels.txt)\n",
                   tag, fn
            failed = 1
        }
        if (mode == "exact")
            checked[fn] = 0
        loc_file = ""
        loc_line = 0
    }
    pending = ""
    next
}

/^\}/ {
    fn = ""
    mode = ""
    next
}

fn == "" || mode != "exact" { next }

$1 == ".loc" {
    loc_file = $2
    loc_line = $3 + 0
    next
}

{
    op = $1
    if (op ~ /^@/)
        op = $2
    if (op !~ /^[a-z]/ || op !~ /\.f(32|64)$/)
        next
    checked[fn]++
    why = ""
    if (op ~ /^(fma|mad)\./)
        why = "fused multiply-add"
    else if (op ~ /^(add|sub|mul)\./ && op !~ /\.(rn|rz|rm|rp)\./)
        why = "no rounding mode (ptxas may fuse it)"
    else if (op ~ /\.(approx|full)\./)
        why = "approximate"
    else if (op ~ /\.ftz\./)
        why = "flushes subnormals"
    if (why == "")
        next
    text = source_text(loc_file, loc_line)
    if (libm != "" && text ~ libm_call) {
        excused[fn]++
        next
    }
    key = fn SUBSEP op SUBSEP loc_file SUBSEP loc_line
    if (!(key in count)) {
        order[++n_bad] = key
        reason[key] = why
    }
    count[key]++
}

END {
    for (name in is_exact)
        if (name != "*" && !(name in seen)) {
            printf "%s: kernel %s is declared exact but not in the PTX\n", tag, name
            failed = 1
        }
    for (name in is_allowed)
        if (name != "*" && !(name in seen)) {
            printf "%s: kernel %s is allowed but not in the PTX\n", tag, name
            failed = 1
        }
    for (i = 1; i <= n_bad; i++) {
        split(order[i], k, SUBSEP)
        path = files[k[3]]
        sub(/^.*\/src\//, "src/", path)
        printf "%s: %s: %s x%d (%s) at %s:%d: %s\n", tag, k[1], k[2], count[order[i]],
               reason[order[i]], path, k[4], source_text(k[3], k[4])
        failed = 1
    }
    for (name in checked)
        printf "%s: %s: %d float instructions checked%s\n", tag, name, checked[name],
               (name in excused) ? sprintf(", %d inside allowed library calls", excused[name]) : ""
    exit failed
}
