#!/usr/bin/env bash
# cmake/NstVersion.cmake picks the version from its sources in order, on throwaway git
# repositories: no tag (0.1.0-N-gHASH), -dirty after an edit, a tag (v0.2.0-1-gHASH -> 0.2.0-1-g),
# -DNST_VERSION over git, the VERSION file without .git, project()'s version alone, a source
# folder inside another repository (not its checkout), and a version with a space refused.
#   test_version.sh CMAKE     (ctest's test_version; exit 77, saying why, without git)
set -uo pipefail
cmake=${1:?usage: test_version.sh CMAKE}
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v git > /dev/null; then
  echo "SKIPPED test_version: git is not installed"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org \
  GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
fail=0
version() { # version SOURCE_DIR [NST_VERSION]: what the module says, "<version> (<from>)"
  "$cmake" -DSOURCE_DIR="$1" -DPROJECT_VERSION=0.1.0 -DNST_VERSION="${2:-}" \
    -P "$root/cmake/NstVersion.cmake" 2>&1
}
expect() { # expect DESCRIPTION WANT GOT
  if [[ $3 == "$2" ]]; then
    echo "ok    $1: $3"
  else
    echo "FAIL  $1: want '$2', got '$3'"
    fail=1
  fi
}
src=$tmp/src
mkdir -p "$src"
git -C "$src" init -q
for i in 1 2 3; do
  echo "$i" > "$src/file"
  git -C "$src" add file
  git -C "$src" commit -qm "commit $i"
done
hash=$(git -C "$src" rev-parse --short HEAD)
expect "no tag" "0.1.0-3-g$hash (git, no tag)" "$(version "$src")"
echo edit >> "$src/file"
expect "an edit" "0.1.0-3-g$hash-dirty (git, no tag)" "$(version "$src")"
git -C "$src" checkout -q file
git -C "$src" tag v0.2.0 HEAD~1
expect "a tag one commit back" "0.2.0-1-g$hash (git describe)" "$(version "$src")"
expect "-DNST_VERSION over git" "9.9.9-pkg1 (-DNST_VERSION)" "$(version "$src" 9.9.9-pkg1)"
echo "1.2.3-archive" > "$src/VERSION"
expect "git over the VERSION file" "0.2.0-1-g$hash (git describe)" "$(version "$src")"
rm -rf "$src/.git"
expect "the VERSION file without .git" "1.2.3-archive (the VERSION file)" "$(version "$src")"
rm "$src/VERSION"
expect "nothing but project()" \
  "0.1.0 (project(): no -DNST_VERSION, git checkout or VERSION file)" "$(version "$src")"
outer=$tmp/outer
mkdir -p "$outer/nstyle-0.1.0"
git -C "$outer" init -q
touch "$outer/x" && git -C "$outer" add x && git -C "$outer" commit -qm outer
echo "0.1.0-7-gabcdef0" > "$outer/nstyle-0.1.0/VERSION"
expect "unpacked inside another repository" "0.1.0-7-gabcdef0 (the VERSION file)" \
  "$(version "$outer/nstyle-0.1.0")"
if out=$(version "$src" "1.0 beta"); then
  echo "FAIL  a version with a space was taken: $out"; fail=1
else
  expect "a version with a space refused" 1 "$(grep -c "may hold only letters" <<< "$out")"
fi
exit $fail
