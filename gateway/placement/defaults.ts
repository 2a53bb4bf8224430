/**
 * How old (ms) the shared placement picture may grow between two background checks when
 * `RSP_PLACEMENT_SNAPSHOT_MS` is not set (0 turns the picture off). Writes through any gateway
 * reach the picture at once (`inventoryChanged`); the checks only catch what no gateway told of.
 */
export const DEFAULT_PLACEMENT_SNAPSHOT_MS = 2000;
