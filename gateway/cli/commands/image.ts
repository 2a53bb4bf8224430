import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { DriversDocument, ImageDeleteDocument, ImageListDocument, ImageRegisterDocument, ImageVisibility, RegisterImageInput } from '../../../client/generated/graphql';
import { IMAGE_HEAD_BYTES, imageFileRefusal } from '../../../client/image-format';
import { CliError, ExitCode } from '../exit-codes';
import { emit, humanBytes, printable, table } from '../output';
import { type CommandContext, contextOf, enumOption, groupOf } from './context';

/** `rsp image import|list|delete`. */
export function registerImage(program: Command): void {
  const image = program.command('image').description('images environments are built from');

  image
    .command('import <name> <version> <technology> <file>')
    .description("register an image and upload its bits: a root filesystem tarball (rootfs-tar), or any format the gateway's drivers take (rsp drivers: IMAGE FORMATS)")
    .option('--group <id>', "the vendor group (default: your token's group)")
    .option('--visibility <v>', 'PRIVATE, SHARED or PUBLIC')
    .option('--description <text>', 'what it is')
    .action(async (name: string, version: string, technology: string, file: string, opts: { group?: string; visibility?: string; description?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // A file that is not there, or of a format no driver of the gateway takes, is said before anything is registered.
      readableFile(file);
      await requireTakenFormat(ctx, file);
      const input: RegisterImageInput = { vendorGroupId: await groupOf(ctx, opts.group), name, version, technology, ...(opts.visibility ? { visibility: enumOption<ImageVisibility>(opts.visibility) } : {}), ...(opts.description ? { description: opts.description } : {}) };
      const { registerImage: registered } = await ctx.client.request(ImageRegisterDocument, { input });
      // A refused or failed upload takes its registration back, so the same import can be run again.
      const uploaded = await ctx.client.uploadImage(registered.id, file).catch(async (e: unknown) => {
        await ctx.client.request(ImageDeleteDocument, { id: registered.id }).catch(() => undefined);
        throw e;
      });
      const result = { ...registered, digest: uploaded.digest, sizeBytes: uploaded.sizeBytes, format: uploaded.format ?? null };
      emit(ctx.json, result, () => `Imported ${name}:${version} (${technology}) as ${result.id}, ${humanBytes(result.sizeBytes)}${result.format ? ` ${printable(result.format)}` : ''} ${result.digest}\n`);
    });

  image
    .command('list')
    .description('list the images you may use')
    .option('--technology <tech>', 'only for this technology')
    .action(async (opts: { technology?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { images } = await ctx.client.request(ImageListDocument, { technology: opts.technology ?? null });
      emit(ctx.json, images, () =>
        table(images, [
          { header: 'ID', value: (i) => i.id },
          { header: 'NAME', value: (i) => i.name },
          { header: 'VERSION', value: (i) => i.version },
          { header: 'TECHNOLOGY', value: (i) => i.technology },
          { header: 'SIZE', value: (i) => (i.sizeBytes == null ? null : humanBytes(i.sizeBytes)) },
          { header: 'FORMAT', value: (i) => i.format ?? (i.digest ? 'unknown' : null) },
          { header: 'VISIBILITY', value: (i) => i.visibility },
          { header: 'VENDOR', value: (i) => i.vendorGroupId },
        ]),
      );
    });

  image
    .command('delete <id>')
    .description('delete an image; refused while any environment uses it')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { deleteImage } = await ctx.client.request(ImageDeleteDocument, { id });
      emit(ctx.json, { deleted: deleteImage }, () => `Deleted image ${id}\n`);
    });
}

/** Checks that `path` is a file this process can open; a usage error naming it otherwise. */
function readableFile(path: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
  if (!isFile) throw new CliError(`cannot read ${path}: not a file (the image's bits, e.g. a root filesystem tarball made with tar -C rootfs -cf rootfs.tar .)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
}

/**
 * Refuses a file of a format no driver of the gateway takes (told from its first bytes as the
 * gateway tells it; the drivers' `imageFormats` asked once), before anything is registered.
 * What a driver may take is left to the gateway, which decides per technology; so is an empty file.
 */
async function requireTakenFormat(ctx: CommandContext, path: string): Promise<void> {
  const block = Buffer.alloc(IMAGE_HEAD_BYTES);
  const fd = openSync(path, 'r');
  let length: number;
  try {
    length = readSync(fd, block, 0, block.length, 0);
  } finally {
    closeSync(fd);
  }
  if (length === 0) return;
  const { drivers } = await ctx.client.request(DriversDocument, {});
  const refusal = imageFileRefusal(path, block.subarray(0, length), drivers.flatMap((d) => d.imageFormats));
  if (refusal) throw new CliError(refusal, 'BAD_USAGE', ExitCode.BAD_USAGE);
}
