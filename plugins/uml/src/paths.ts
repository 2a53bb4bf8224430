import { join } from 'node:path';

/**
 * The layout of the driver's own state directory:
 * `images/<ref>/` (the imported `rootfs.tar`, the read-only ext2 `base.img`, `image.json`),
 * `envs/<id>/` (`env.json`, the copy-on-write `cow.img` or a private `root.img`, `console.log`,
 * `uml.pid`, and `host/`, the directory the guest mounts through hostfs), `run/` (UML's umid
 * directories: pid and mconsole socket) and `lib/` (the ptrace shim).
 */
export class StateLayout {
  constructor(readonly root: string) {}

  /** Directory of all images. */
  get images(): string {
    return join(this.root, 'images');
  }

  /** Directory of one image. */
  image(ref: string): string {
    return join(this.images, ref);
  }

  /** Directory of all environments. */
  get envs(): string {
    return join(this.root, 'envs');
  }

  /** Directory of one environment. */
  env(id: string): string {
    return join(this.envs, id);
  }

  /** The shared directory of one environment (mounted at `/.rsp/host` in the guest). */
  host(id: string): string {
    return join(this.env(id), 'host');
  }

  /** UML's `uml_dir`: one umid directory per running guest. */
  get run(): string {
    return join(this.root, 'run');
  }

  /** The mconsole socket of a running guest. */
  mconsole(id: string): string {
    return join(this.run, id, 'mconsole');
  }

  /** Where the built ptrace shim lives. */
  get lib(): string {
    return join(this.root, 'lib');
  }
}
