/**
 * Node.js flags the gateway's process runs with (`npm start` passes them; `bench/placement` and
 * `bench/contention` re-run themselves with them (bench/gateway-flags), so they measure the
 * gateway as it is served).
 *
 * `--max-semi-space-size=32` (MiB; Node 20's default is 16): every in-flight request's objects
 * survive the young-generation collection that catches them, so each scavenge copies about the
 * same few MiB whatever its size; a larger young generation runs fewer of them. Measured in
 * `bench/placement`'s single-allocate phase: scavenge time 1.89 s → 1.42 s; 64 MiB halved the
 * count again but made each pause ~23 ms, which the latency tail felt.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
