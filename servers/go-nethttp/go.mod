module stackbench/go-nethttp

go 1.19

require github.com/lib/pq v1.10.7

// Offline builds: lib/pq comes from Debian's golang-github-lib-pq-dev.
replace github.com/lib/pq => /usr/share/gocode/src/github.com/lib/pq
