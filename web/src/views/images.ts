import { request } from '../api/graphql';
import { FormChoicesDocument, ImageDeleteDocument } from '../api/queries';
import { h, link } from '../ui/dom';
import { bytes } from '../ui/format';
import { confirmButton, disclosure } from '../ui/form';
import { chip, loading, panel, table } from '../ui/widgets';
import { groupName, loadInto } from './common';
import type { View } from './context';
import { imageUploadForm } from './forms/image-upload';

/**
 * `/images`: the images the token may see, each with "New environment" and Delete (confirmed;
 * the gateway refuses while an environment uses it), and the upload form with its progress bar.
 */
export const imagesView: View = (ctx) => {
  const list = h('div', null, loading());
  const upload = h('div', null);
  let formShown = false;
  const reload = loadInto(ctx.scope, list, () => request(FormChoicesDocument, {}), (d) => {
    if (!formShown) {
      formShown = true;
      const technologies = [...new Set(d.hosts.nodes.flatMap((x) => x.drivers))].sort();
      upload.append(disclosure('Upload an image', imageUploadForm(ctx, technologies, () => reload())));
    }
    return table(
      ['Image', 'Technology', 'Group', 'Size', 'Format', 'Digest', 'Visibility', ''],
      d.images.map((i) => [
        h('strong', { dataset: { image: `${i.name}:${i.version}` } }, `${i.name}:${i.version}`),
        i.technology,
        groupName(ctx.groupNames, i.vendorGroupId),
        i.sizeBytes ? bytes(i.sizeBytes) : '—',
        i.format ?? (i.digest ? h('span', { class: 'muted', title: 'Stored before image formats were kept' }, 'unknown') : '—'),
        i.digest ? h('code', { title: i.digest }, `${i.digest.slice(0, 19)}…`) : chip('no content yet'),
        i.visibility.toLowerCase(),
        h(
          'div',
          { class: 'actions' },
          link(`/environments/new?image=${i.id}`, 'New environment'),
          confirmButton({
            label: 'Delete',
            name: `Delete image ${i.name}:${i.version}`,
            question: `Delete ${i.name}:${i.version} from the catalog?`,
            run: async () => {
              await request(ImageDeleteDocument, { id: i.id });
              reload();
            },
          }),
        ),
      ]),
      'No images yet: upload a root filesystem tarball below.',
    );
  });
  return h('div', null, h('h1', null, 'Images'), panel('Catalog', list), upload, h('p', null, link('/environments/new', 'Create an environment →')));
};
