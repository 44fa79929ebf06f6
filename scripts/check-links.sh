#!/usr/bin/env bash
# Checks that every relative link in README.md, docs/*.md and the servers'
# READMEs resolves: the file exists, and a `#fragment` names one of its
# headings (as GitHub makes anchors: lower case, punctuation dropped, spaces
# as hyphens). Run by the test command; exits 1 listing each broken link.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - README.md docs/*.md servers/*/README.md <<'EOF'
import os, re, sys

def anchors(path):
    found, fenced = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found

broken = []
for page in sys.argv[1:]:
    text = open(page, encoding="utf-8").read()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, fragment = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file else page
        if not os.path.exists(resolved):
            broken.append(f"{page}: {target}: no such file")
        elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
            broken.append(f"{page}: {target}: no such heading in {resolved}")
for line in broken:
    print("check-links:", line, file=sys.stderr)
sys.exit(1 if broken else 0)
EOF
