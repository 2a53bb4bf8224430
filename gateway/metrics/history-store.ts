import type { DataSource, Repository } from 'typeorm';
import { BadInputError } from '../errors';
import { MetricSampleEntity } from '../persistence/entities';
import type { MetricTarget } from './samples';

/** One level of history: samples averaged to `resolutionSeconds`, kept for `retentionSeconds`. */
export interface HistoryLevel {
  resolutionSeconds: number;
  retentionSeconds: number;
}

/** 1 s for an hour, 1 min for a week, 1 h for a year. */
export const DEFAULT_HISTORY_LEVELS: readonly HistoryLevel[] = [
  { resolutionSeconds: 1, retentionSeconds: 3600 },
  { resolutionSeconds: 60, retentionSeconds: 7 * 86400 },
  { resolutionSeconds: 3600, retentionSeconds: 365 * 86400 },
];

/** Most points one history query may return. */
export const MAX_HISTORY_POINTS = 10_000;

/** One point of a queried series. */
export interface HistoryPoint {
  at: Date;
  value: number;
}

interface Bucket {
  start: number;
  count: number;
  sums: Record<string, number>;
}

/**
 * Metric history with downsampling: every live sample feeds one running average per level; a
 * level's bucket is written when the next one starts. Queries read the finest level that still
 * covers the range and average it to the asked step. Retention deletes what each level no longer keeps.
 */
export class HistoryStore {
  private readonly repo: Repository<MetricSampleEntity>;
  private readonly buckets = new Map<string, Bucket>();
  private pending: MetricSampleEntity[] = [];

  constructor(
    private readonly dataSource: DataSource,
    readonly levels: readonly HistoryLevel[] = DEFAULT_HISTORY_LEVELS,
  ) {
    this.repo = dataSource.getRepository(MetricSampleEntity);
  }

  /** Adds one live sample of a target (written by the next `flush`). */
  record(targetType: MetricTarget, targetId: string, atMs: number, metrics: Record<string, number>): void {
    for (const level of this.levels) {
      const size = level.resolutionSeconds * 1000;
      const start = Math.floor(atMs / size) * size;
      const key = `${targetType}|${targetId}|${level.resolutionSeconds}`;
      let bucket = this.buckets.get(key);
      if (bucket && bucket.start !== start) {
        this.pending.push(this.point(targetType, targetId, level.resolutionSeconds, bucket));
        bucket = undefined;
      }
      if (!bucket) {
        bucket = { start, count: 0, sums: {} };
        this.buckets.set(key, bucket);
      }
      bucket.count += 1;
      for (const [name, value] of Object.entries(metrics)) if (Number.isFinite(value)) bucket.sums[name] = (bucket.sums[name] ?? 0) + value;
    }
  }

  /** Writes every finished bucket. Another replica writing the same point is not an error. */
  async flush(): Promise<number> {
    const rows = this.pending;
    this.pending = [];
    for (let i = 0; i < rows.length; i += 500) {
      await this.repo.createQueryBuilder().insert().into(MetricSampleEntity).values(rows.slice(i, i + 500)).orIgnore().execute();
    }
    return rows.length;
  }

  /** Deletes the points each level no longer keeps; returns how many went. */
  async enforceRetention(now = Date.now()): Promise<number> {
    let deleted = 0;
    for (const level of this.levels) {
      const r = await this.repo
        .createQueryBuilder()
        .delete()
        .from(MetricSampleEntity)
        .where('"resolutionSeconds" = :res AND "at" < :before', { res: level.resolutionSeconds, before: new Date(now - level.retentionSeconds * 1000) })
        .execute();
      deleted += r.affected ?? 0;
    }
    return deleted;
  }

  /** The level a query of `[from, to]` at `stepSeconds` reads: the finest at most `step` that still covers `from`. */
  levelFor(from: Date, stepSeconds: number, now = Date.now()): HistoryLevel {
    const covering = this.levels.filter((l) => now - l.retentionSeconds * 1000 <= from.getTime());
    const fitting = covering.filter((l) => l.resolutionSeconds <= stepSeconds);
    return fitting[fitting.length - 1] ?? covering[0] ?? this.levels[this.levels.length - 1]!;
  }

  /** A metric of a target over `[from, to]`, averaged per `stepSeconds`, oldest first. */
  async query(targetType: MetricTarget, targetId: string, metric: string, from: Date, to: Date, stepSeconds: number): Promise<{ resolutionSeconds: number; points: HistoryPoint[] }> {
    if (!(to.getTime() > from.getTime())) throw new BadInputError('to must be after from', { from, to });
    if (!Number.isInteger(stepSeconds) || stepSeconds < 1) throw new BadInputError('step must be a whole number of seconds ≥ 1', { step: stepSeconds });
    const points = (to.getTime() - from.getTime()) / 1000 / stepSeconds;
    if (points > MAX_HISTORY_POINTS) throw new BadInputError(`the range holds ${Math.ceil(points)} steps; at most ${MAX_HISTORY_POINTS}: use a larger step`, { step: stepSeconds });
    const level = this.levelFor(from, stepSeconds);
    const step = Math.max(stepSeconds, level.resolutionSeconds);
    const rows: Array<{ bucket: string | number; value: string | number | null }> = await this.dataSource.query(
      `SELECT floor(extract(epoch FROM "at") / $1) * $1 AS bucket, avg(("metrics" ->> $2)::float8) AS value
         FROM "metric_sample"
        WHERE "targetType" = $3 AND "targetId" = $4 AND "resolutionSeconds" = $5 AND "at" >= $6 AND "at" <= $7 AND "metrics" ? $2
        GROUP BY bucket ORDER BY bucket`,
      [step, metric, targetType, targetId, level.resolutionSeconds, from, to],
    );
    return { resolutionSeconds: level.resolutionSeconds, points: rows.map((r) => ({ at: new Date(Number(r.bucket) * 1000), value: Number(r.value) })) };
  }

  private point(targetType: string, targetId: string, resolutionSeconds: number, b: Bucket): MetricSampleEntity {
    const metrics: Record<string, number> = {};
    for (const [name, sum] of Object.entries(b.sums)) metrics[name] = sum / b.count;
    return Object.assign(new MetricSampleEntity(), { targetType, targetId, resolutionSeconds, at: new Date(b.start), metrics });
  }
}
