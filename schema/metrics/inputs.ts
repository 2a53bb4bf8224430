import { Field, Float, ID, InputType, Int } from 'type-graphql';
import { AlertComparison } from '../../gateway/persistence/entities';
import { MetricTargetType } from './types';

/** A new alert rule. */
@InputType({ description: "A new alert rule: give groupId (the group's environments) or siteId (the site's hosts, itself or environments)." })
export class CreateAlertRuleInput {
  @Field()
  name: string;

  @Field(() => ID, { nullable: true })
  groupId?: string;

  @Field(() => ID, { nullable: true })
  siteId?: string;

  @Field(() => MetricTargetType)
  targetType: MetricTargetType;

  @Field(() => ID, { nullable: true, description: 'One target; omit for every target in scope.' })
  targetId?: string;

  @Field({ description: 'A metric name, e.g. cpu.usage, memory.usedRatio, network.rxBytesPerSecond.' })
  metric: string;

  @Field(() => AlertComparison, { defaultValue: AlertComparison.ABOVE })
  comparison: AlertComparison;

  @Field(() => Float)
  threshold: number;

  @Field(() => Int, { defaultValue: 0, description: 'How long the condition must hold before the alert fires.' })
  durationSeconds: number;
}
