import { Arg, Ctx, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { RspEvent } from '../../gateway/events/events';
import type { EnvironmentSample, HostSample, SiteSample } from '../../gateway/metrics/samples';
import { AlertEntity, AlertRuleEntity, AlertState } from '../../gateway/persistence/entities';
import type { SiteUsage } from '../../gateway/metrics/usage-accountant';
import { Event } from '../events/types';
import { CreateAlertRuleInput } from './inputs';
import { Alert, AlertRule, EnvironmentMetrics, GroupUsage, HostMetrics, MetricSeries, MetricTargetType, SiteMetrics } from './types';

/** The subscribe side of a subscription: the resolver data type-graphql passes. */
type SubscribeData<A> = { args: A; context: GatewayContext };

/** Live metrics and events, history, alert rules, alerts and usage. */
@Resolver()
export class MetricsResolver {
  @Subscription(() => HostMetrics, {
    subscribe: ({ args, context }: SubscribeData<{ hostId: string }>) => context.services.metrics.hostStream(context.actor, args.hostId),
    description: 'Live samples of a host (CPU, load, memory, swap, disks, filesystems, network), one per interval.',
  })
  hostMetrics(@Root() sample: HostSample, @Arg('hostId', () => ID) _hostId: string): HostSample {
    return sample;
  }

  @Subscription(() => EnvironmentMetrics, {
    subscribe: ({ args, context }: SubscribeData<{ environmentId: string }>) => context.services.metrics.environmentStream(context.actor, args.environmentId),
    description: "Live samples of an environment from its driver's stats (its group's members).",
  })
  environmentMetrics(@Root() sample: EnvironmentSample, @Arg('environmentId', () => ID) _environmentId: string): EnvironmentSample {
    return sample;
  }

  @Subscription(() => SiteMetrics, {
    subscribe: ({ args, context }: SubscribeData<{ siteId: string }>) => context.services.metrics.siteStream(context.actor, args.siteId),
    description: "Live totals of a site's hosts and environments.",
  })
  siteMetrics(@Root() sample: SiteSample, @Arg('siteId', () => ID) _siteId: string): SiteSample {
    return sample;
  }

  @Subscription(() => Event, {
    subscribe: ({ context }: SubscribeData<Record<string, never>>) => context.services.metrics.eventStream(context.actor),
    description: 'Operations, environment status changes, alerts and allocation approvals the caller may see, as they happen.',
  })
  events(@Root() event: RspEvent): RspEvent {
    return event;
  }

  @Query(() => MetricSeries, { description: 'A stored metric of a host, environment or site over [from, to], averaged per step seconds.' })
  async metricHistory(
    @Arg('targetType', () => MetricTargetType) targetType: MetricTargetType,
    @Arg('targetId', () => ID) targetId: string,
    @Arg('metric') metric: string,
    @Arg('from') from: Date,
    @Arg('to', () => Date, { nullable: true }) to: Date | undefined,
    @Arg('step', () => Int, { defaultValue: 60, description: 'Seconds per point.' }) step: number,
    @Ctx() ctx: GatewayContext,
  ): Promise<MetricSeries> {
    const series = await ctx.services.metrics.historyOf(ctx.actor, targetType, targetId, metric, from, to ?? new Date(), step);
    return { targetType, targetId, metric, resolutionSeconds: series.resolutionSeconds, stepSeconds: Math.max(step, series.resolutionSeconds), points: series.points };
  }

  @Query(() => [AlertRule], { description: "Alert rules: the caller's group's, and every site's for site admins." })
  alertRules(@Arg('groupId', () => ID, { nullable: true }) groupId: string | undefined, @Arg('siteId', () => ID, { nullable: true }) siteId: string | undefined, @Ctx() ctx: GatewayContext): Promise<AlertRuleEntity[]> {
    return ctx.services.metrics.rulesFor(ctx.actor, { groupId, siteId });
  }

  @Query(() => [Alert], { description: 'Alerts the caller may see, newest first.' })
  alerts(
    @Arg('state', () => AlertState, { nullable: true }) state: AlertState | undefined,
    @Arg('groupId', () => ID, { nullable: true }) groupId: string | undefined,
    @Arg('first', () => Int, { defaultValue: 100, description: 'How many alerts to return (1–500).' }) first: number,
    @Ctx() ctx: GatewayContext,
  ): Promise<AlertEntity[]> {
    return ctx.services.metrics.alertsFor(ctx.actor, { state, groupId }, first);
  }

  @Query(() => [GroupUsage], { description: 'What a group used per site in a month (YYYY-MM, default this month), against the usage policies.' })
  groupUsage(@Arg('groupId', () => ID) groupId: string, @Arg('month', () => String, { nullable: true }) month: string | undefined, @Ctx() ctx: GatewayContext): Promise<SiteUsage[]> {
    return ctx.services.metrics.usageOf(ctx.actor, groupId, month);
  }

  @Mutation(() => AlertRule, { description: "Adds an alert rule (group members for the group's environments, site admins for a site)." })
  createAlertRule(@Arg('input') input: CreateAlertRuleInput, @Ctx() ctx: GatewayContext): Promise<AlertRuleEntity> {
    return ctx.services.metrics.createRule(ctx.actor, input);
  }

  @Mutation(() => Boolean, { description: 'Removes an alert rule; its firing alerts are resolved.' })
  deleteAlertRule(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.metrics.deleteRule(ctx.actor, id);
  }
}
