# k3lb for the side-by-side harness in ../shared/bench-anchors (copy this file into its
# proxies.d/, then PROXY=k3lb ./bench.sh). Same topology as the anchors: three listeners,
# two servers each, round robin, no health checks, logging at warn.
# K3LB_BIN: the binary (default: k3lb on PATH). K3LB_BENCH_EXTRA: more top-level YAML.
start_k3lb() {
    local dir=$1
    cat > "$dir/k3lb.yaml" <<CFG
admin: {listen: off}
log: {level: warn}
maxconn: $MAXCONN
${K3LB_BENCH_EXTRA:-}
frontends:
  - {name: http,  listen: ["127.0.0.1:$LISTEN_HTTP"],  backend: http}
  - {name: iperf, listen: ["127.0.0.1:$LISTEN_IPERF"], backend: iperf}
  - {name: idle,  listen: ["127.0.0.1:$LISTEN_IDLE"],  backend: idle}
backends:
  - {name: http,  servers: ["$BE_HTTP1", "$BE_HTTP2"], health: {kind: none}}
  - {name: iperf, servers: ["$BE_IPERF1"], health: {kind: none}}
  - {name: idle,  servers: ["$BE_IDLE1", "$BE_IDLE2"], health: {kind: none}}
CFG
    spawn "$dir" "${K3LB_BIN:-k3lb}" serve -c "$dir/k3lb.yaml"
}
version_k3lb() { "${K3LB_BIN:-k3lb}" version; }
