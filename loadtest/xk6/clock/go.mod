// A monotonic, sub-millisecond clock for k6 scripts (import { now } from "k6/x/grey/clock"):
// k6's own JavaScript has only Date.now(), whose whole milliseconds hide a local read's latency.
module grey.local/xk6-clock

go 1.23.0

require go.k6.io/k6 v1.8.1
