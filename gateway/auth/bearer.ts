/** Reads the secret of an `Authorization: Bearer <secret>` header (or a bare token in connection params). */
export function bearerSecret(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.trim()) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  return match ? match[1] : value.trim();
}
