import { GraphQLRequestError, request } from '../../api/graphql';
import { DriversDocument, ImageDeleteDocument, ImageRegisterDocument } from '../../api/queries';
import { uploadImage } from '../../api/upload';
import { h, replace } from '../../ui/dom';
import { bytes } from '../../ui/format';
import { field, form, input, select, valueOf } from '../../ui/form';
import { imageFileProblem } from '../../ui/image-file';
import { progressBar } from '../../ui/widgets';
import type { ViewContext } from '../context';

/** The groups a form may act for: the caller's own first (site admins: every group). */
export function groupOptions(ctx: ViewContext): Array<[string, string]> {
  const all = [...ctx.groupNames].map(([id, name]): [string, string] => [id, name]);
  const own = all.filter(([id]) => id === ctx.viewer.groupId);
  return own.length && !ctx.viewer.siteAdmin ? own : [...own, ...all.filter(([id]) => id !== ctx.viewer.groupId)];
}

/**
 * Upload an image: registers it in the catalog (registerImage) for a group, then sends its file
 * (a root filesystem tarball, or any format the gateway's drivers take) with a progress bar.
 * A file of a format no driver takes is refused before anything is registered. A refused upload deletes the registration again, so nothing is
 * left half-made; `uploaded` is called once the image has its content.
 */
export function imageUploadForm(ctx: ViewContext, technologies: string[], uploaded: (imageId: string) => void): HTMLFormElement {
  const progress = h('div', { class: 'upload-progress', 'aria-live': 'polite' });
  const file = input('file', { type: 'file', required: true });
  const list = h('datalist', { id: 'image-technologies' }, technologies.map((t) => h('option', { value: t })));
  return form({
    label: 'Upload an image',
    submit: 'Upload',
    body: [
      field('Group', select('group', groupOptions(ctx), ctx.viewer.groupId ?? undefined), 'The vendor group: its members may use and delete the image.'),
      field('Name', input('name', { required: true, placeholder: 'busybox', autocomplete: 'off' })),
      field('Version', input('version', { required: true, placeholder: '1', autocomplete: 'off' })),
      field('Technology', input('technology', { required: true, list: 'image-technologies', placeholder: technologies[0] ?? 'docker', autocomplete: 'off' }), 'Hosts run it with a driver of this technology.'),
      field('Visibility', select('visibility', [['PRIVATE', 'Private to the group'], ['PUBLIC', 'Public to federated sites']])),
      h('div', { class: 'field-wide' }, field('Image file', file, "A .tar of the root filesystem, or a file of another format the gateway's drivers take (a host's Drivers list them), as `rsp image import` takes.")),
      list,
      h('div', { class: 'field-wide' }, progress),
    ],
    onSubmit: async (el) => {
      const chosen = file.files?.[0];
      if (!chosen) throw new GraphQLRequestError('Choose an image file to upload', 'BAD_USER_INPUT');
      // A file of a format no driver of the gateway takes is said before anything is registered.
      const { drivers } = await request(DriversDocument, {});
      const problem = await imageFileProblem(chosen, drivers.flatMap((d) => d.imageFormats));
      if (problem) throw new GraphQLRequestError(problem, 'BAD_USER_INPUT');
      const { registerImage: image } = await request(ImageRegisterDocument, {
        input: { vendorGroupId: valueOf(el, 'group'), name: valueOf(el, 'name'), version: valueOf(el, 'version'), technology: valueOf(el, 'technology'), visibility: valueOf(el, 'visibility') as 'PRIVATE' | 'PUBLIC', sizeBytes: chosen.size },
      });
      const label = h('span', { class: 'muted small' });
      const show = (sent: number) => {
        replace(progress, progressBar(sent, sent >= 1 ? 'SUCCEEDED' : 'RUNNING'), label);
        replace(label, `${image.name}:${image.version} — ${bytes(sent * chosen.size)} of ${bytes(chosen.size)} sent`);
        progress.dataset.sent = String(Math.round(sent * 100));
      };
      show(0);
      try {
        const done = await uploadImage(image.id, chosen, show);
        uploaded(image.id);
        el.reset();
        return `${image.name}:${image.version} uploaded (${bytes(done.sizeBytes)}, ${done.digest.slice(0, 19)}…)`;
      } catch (e) {
        replace(progress);
        await request(ImageDeleteDocument, { id: image.id }).catch(() => undefined);
        throw e;
      }
    },
  });
}
