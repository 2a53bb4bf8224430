import { IMAGE_HEAD_BYTES, imageFileRefusal } from '../../../client/image-format';

/**
 * Why `file` is not sent to a gateway whose drivers take `formats` (every driver's `imageFormats`,
 * as `drivers` answers them): its format, told from its first bytes as the gateway tells it, is
 * none a driver takes. Null when a driver may take it (the gateway then decides) or the file is
 * empty (the gateway refuses it). As `rsp image import` checks.
 */
export async function imageFileProblem(file: Blob & { name?: string }, formats: readonly string[]): Promise<string | null> {
  const head = new Uint8Array(await file.slice(0, IMAGE_HEAD_BYTES).arrayBuffer());
  return imageFileRefusal(file.name ?? 'The file', head, formats);
}
