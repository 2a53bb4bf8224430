import { BadInputError } from '../errors';

/** What a host agent's probe says of one of its drivers (the part host facts need). */
export interface ProbedDriver {
  technology: string;
  available: boolean;
}

/** A host's technologies: what its agent probed, the site admin's narrowing, and what placement offers. */
export interface HostTechnologies {
  /** Usable per the agent's last probe; null until the agent reported. */
  probedDrivers: string[] | null;
  /** The admin's narrowing, in order of preference; null: everything probed. */
  allowedDrivers: string[] | null;
  /** What placement offers (the `drivers` column). */
  drivers: string[];
}

/** The technologies a probe found usable, each once, in the probe's order. */
export function usableTechnologies(reports: readonly ProbedDriver[]): string[] {
  return [...new Set(reports.filter((r) => r.available).map((r) => r.technology))];
}

/**
 * What placement offers on a host: once its agent reported, the probed technologies narrowed to
 * the allowed ones (in the admin's order); while it never did, the admin's list as declared.
 */
export function effectiveTechnologies(probed: readonly string[] | null, allowed: readonly string[] | null): string[] {
  if (probed === null) return [...(allowed ?? [])];
  if (allowed === null) return [...probed];
  return allowed.filter((t) => probed.includes(t));
}

/**
 * A host's technologies when the admin allows `allowed` (null: all): BAD_USER_INPUT, naming what
 * the probe found, when the agent reported and `allowed` names a technology it cannot run.
 */
export function hostTechnologies(agent: string, probed: readonly string[] | null, asked: readonly string[] | null): HostTechnologies {
  const allowed = asked === null ? null : [...new Set(asked)];
  const missing = probed === null || allowed === null ? [] : allowed.filter((t) => !probed.includes(t));
  if (missing.length) {
    throw new BadInputError(`Host agent "${agent}" cannot run ${missing.join(', ')}: its probe found ${probed!.length ? probed!.join(', ') : 'no usable technology'}`, {
      agent,
      missing,
      probed: [...probed!],
    });
  }
  return { probedDrivers: probed === null ? null : [...probed], allowedDrivers: allowed, drivers: effectiveTechnologies(probed, allowed) };
}
