/**
 * What happens at a campaign's deadline, as pure functions: the workflow, the API and the tests all call these, so
 * the rule exists once. No I/O, no clock: safe inside workflow code.
 */
import { type FinancingModel, type PledgeStatus } from '../../db/schema';

export type Outcome = 'funded' | 'failed' | 'cancelled';

export interface OutcomeInput {
  model: FinancingModel;
  goalAmount: number;
  /** Sum of the pledges that count (authorized or captured), in minor units. */
  totalPledged: number;
  cancelled: boolean;
}

/** aon and hybrid fund iff the goal is reached; kia always funds; a cancelled campaign never does. */
export function decideOutcome({ model, goalAmount, totalPledged, cancelled }: OutcomeInput): Outcome {
  if (cancelled) return 'cancelled';
  if (model === 'kia') return 'funded';
  return totalPledged >= goalAmount ? 'funded' : 'failed';
}

export type SettlementAction = 'capture' | 'release' | 'refund' | 'none';

/**
 * What settlement does with one pledge. Funded: collect what is only authorized (kia pledges were charged at
 * pledge time). Not funded: release holds; a cancelled keep-it-all campaign refunds what it collected in full
 * (the most a campaign's refund terms can promise; the terms text is shown, not interpreted).
 */
export function settlementAction(outcome: Outcome, pledgeStatus: PledgeStatus): SettlementAction {
  if (outcome === 'funded') return pledgeStatus === 'authorized' ? 'capture' : 'none';
  if (pledgeStatus === 'authorized') return 'release';
  if (pledgeStatus === 'captured' && outcome === 'cancelled') return 'refund';
  return 'none';
}

export interface StretchGoalTarget {
  id: string;
  targetAmount: number;
  unlockedAt: Date | string | null;
}

/** Stretch goals that a change of the total from `before` to `after` crosses upward and that are still locked. */
export function crossedStretchGoals<T extends StretchGoalTarget>(goals: T[], before: number, after: number): T[] {
  return goals
    .filter((goal) => goal.unlockedAt === null && goal.targetAmount > before && goal.targetAmount <= after)
    .sort((a, b) => a.targetAmount - b.targetAmount);
}

/** Percent of the goal reached, floored to a whole percent (100 only when the goal is really met). */
export function percentFunded(raised: number, goal: number): number {
  return goal > 0 ? Math.floor((raised * 100) / goal) : 0;
}
