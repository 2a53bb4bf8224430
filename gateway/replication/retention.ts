/**
 * The replicas to prune so that only the newest `keep` stay: every replica beyond the newest
 * `keep` (by creation time, then id), oldest last.
 */
export function replicasBeyondKeep<T extends { id: string; createdAt: Date }>(replicas: T[], keep: number): T[] {
  const newestFirst = [...replicas].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id));
  return newestFirst.slice(Math.max(0, keep));
}
