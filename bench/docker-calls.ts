import Modem from 'docker-modem';

/** A Docker Engine API call as counted: method and path, container and image ids and query left out. */
function callOf(options: Modem.DialOptions): string {
  const path = String(options.path ?? '')
    .split('?')[0]!
    .replace(/\/(containers|images|exec|networks|volumes)\/(?!json$|create$)[^/]+/, '/$1/{id}');
  return `${options.method ?? 'GET'} ${path}`;
}

/**
 * Counts the Docker Engine API calls every dockerode client of this process makes (the bench's
 * driver and the gateway's in-process agent alike), by the path (`label`) being measured: which
 * calls a path makes that another does not. Installed once, over docker-modem's `dial`.
 */
export class DockerCallCounter {
  /** The path the calls made now are counted for; none: not counted. */
  label: string | undefined;
  private readonly counts = new Map<string, Map<string, number>>();

  constructor() {
    const dial = Modem.prototype.dial;
    const count = (options: Modem.DialOptions) => {
      if (this.label === undefined) return;
      const of = this.counts.get(this.label) ?? new Map<string, number>();
      const call = callOf(options);
      of.set(call, (of.get(call) ?? 0) + 1);
      this.counts.set(this.label, of);
    };
    Modem.prototype.dial = function (this: Modem, options: Modem.DialOptions, callback?: Modem.RequestCallback) {
      count(options);
      return dial.call(this, options, callback);
    };
  }

  /** Lines to print: each label's calls per `per` (environment), most frequent first. */
  lines(per: number): string[] {
    const lines: string[] = [];
    for (const [label, of] of this.counts) {
      const total = [...of.values()].reduce((a, b) => a + b, 0);
      lines.push(`  Docker Engine calls per environment, ${label}: ${(total / per).toFixed(1)}`);
      for (const [call, n] of [...of].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) lines.push(`    ${(n / per).toFixed(1).padStart(5)}  ${call}`);
    }
    return lines;
  }
}
