/** The drop count a bounded stream stamps on what it delivers (absent: none dropped). */
export function droppedOf(payload: unknown): number {
  return (payload as { droppedCount?: number }).droppedCount ?? 0;
}
