# Sourced by the benchmark scripts: the helpers their JSON records share.

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# The arguments as a JSON list: [a,b,c].
json_list() { local IFS=,; echo "[$*]"; }
# This machine as a JSON object, for the record.
machine_json() {
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    echo "{\"cpu\": \"$cpu\", \"cores\": $(nproc), \"kernel\": \"$(uname -r)\", \"memory_kib\": $(awk '/MemTotal/ {print $2}' /proc/meminfo)}"
}
