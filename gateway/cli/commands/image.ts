import type { Command } from 'commander';
import { emit, humanBytes, table } from '../output';
import { contextOf, groupOf } from './context';

interface Image {
  id: string;
  name: string;
  version: string;
  technology: string;
  vendorGroupId: string;
  digest: string | null;
  sizeBytes: number | null;
  visibility: string;
}
const IMAGE_FIELDS = 'id name version technology vendorGroupId digest sizeBytes visibility';

/** `rsp image import|list`. */
export function registerImage(program: Command): void {
  const image = program.command('image').description('images environments are built from');

  image
    .command('import <name> <version> <technology> <tar>')
    .description('register an image and upload its root filesystem tarball')
    .option('--group <id>', "the vendor group (default: your token's group)")
    .option('--visibility <v>', 'PRIVATE, SHARED or PUBLIC')
    .option('--description <text>', 'what it is')
    .action(async (name: string, version: string, technology: string, tar: string, opts: { group?: string; visibility?: string; description?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const input = { vendorGroupId: await groupOf(ctx, opts.group), name, version, technology, ...(opts.visibility ? { visibility: opts.visibility.toUpperCase() } : {}), ...(opts.description ? { description: opts.description } : {}) };
      const { registerImage: registered } = await ctx.client.request<{ registerImage: Image }>(`mutation ($i: RegisterImageInput!) { registerImage(input: $i) { ${IMAGE_FIELDS} } }`, { i: input });
      const uploaded = await ctx.client.uploadImage(registered.id, tar);
      const result = { ...registered, digest: uploaded.digest, sizeBytes: uploaded.sizeBytes };
      emit(ctx.json, result, () => `Imported ${name}:${version} (${technology}) as ${result.id}, ${humanBytes(result.sizeBytes)} ${result.digest}\n`);
    });

  image
    .command('list')
    .description('list the images you may use')
    .option('--technology <tech>', 'only for this technology')
    .action(async (opts: { technology?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { images } = await ctx.client.request<{ images: Image[] }>(`query ($t: String) { images(technology: $t) { ${IMAGE_FIELDS} } }`, { t: opts.technology ?? null });
      emit(ctx.json, images, () =>
        table(images, [
          { header: 'ID', value: (i) => i.id },
          { header: 'NAME', value: (i) => i.name },
          { header: 'VERSION', value: (i) => i.version },
          { header: 'TECHNOLOGY', value: (i) => i.technology },
          { header: 'SIZE', value: (i) => (i.sizeBytes == null ? null : humanBytes(i.sizeBytes)) },
          { header: 'VISIBILITY', value: (i) => i.visibility },
          { header: 'VENDOR', value: (i) => i.vendorGroupId },
        ]),
      );
    });
}
