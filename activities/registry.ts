/**
 * Activities are declared in groups, each for the task queue its workflows run on, and put
 * together here. An activity's name is global: it is recorded in every workflow history that
 * scheduled it (and in the replay fixtures), and a workflow's `proxyActivities` finds it by name
 * alone. So the registry refuses, at worker start, a name declared by two groups (one would
 * silently replace the other), and it keeps new groups apart by a prefix.
 *
 * - The groups of the first release (booking, campaign, automation, housekeeping) keep their
 *   unprefixed names: renaming one would break running workflows and replay.
 * - Every other group declares a `prefix` (e.g. `tool.` for the agents' tools) and all its
 *   activities' names start with it.
 */
import type { TaskQueueName } from '../temporal.config';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ActivityFunction = (...args: any[]) => Promise<unknown>;

export interface ActivityGroup {
  /** The group's name (for messages and the prefix rule). */
  name: string;
  /** The task queue its workflows run on (their activities are scheduled there). */
  queue: TaskQueueName;
  /** Required for every group but the unprefixed ones below, e.g. `tool.`. */
  prefix?: string;
  activities: Record<string, ActivityFunction>;
}

/** Groups whose activity names were recorded without a prefix; no new group may join this list. */
export const UNPREFIXED_GROUPS: readonly string[] = ['booking', 'campaign', 'automation', 'housekeeping'];

const PREFIX = /^[a-z][a-z0-9-]*\.$/;

export class ActivityRegistrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ActivityRegistrationError';
  }
}

export interface ActivityRegistry {
  /** The activities a worker on this queue registers. */
  forQueue(queue: TaskQueueName): Record<string, ActivityFunction>;
  /** Which group declares each activity name. */
  readonly groupOf: ReadonlyMap<string, string>;
}

export function activityRegistry(groups: ActivityGroup[]): ActivityRegistry {
  const groupOf = new Map<string, string>();
  const byQueue = new Map<TaskQueueName, Record<string, ActivityFunction>>();
  const seenGroups = new Set<string>();
  for (const group of groups) {
    if (seenGroups.has(group.name)) throw new ActivityRegistrationError(`activity group "${group.name}" is declared twice`);
    seenGroups.add(group.name);
    if (group.prefix === undefined) {
      if (!UNPREFIXED_GROUPS.includes(group.name)) {
        throw new ActivityRegistrationError(`activity group "${group.name}" needs a prefix (e.g. "${group.name}."): only ${UNPREFIXED_GROUPS.join(', ')} keep unprefixed names`);
      }
    } else if (!PREFIX.test(group.prefix)) {
      throw new ActivityRegistrationError(`activity group "${group.name}" has prefix "${group.prefix}"; a prefix is lower-case and ends with a dot, e.g. "tool."`);
    }
    const queue = byQueue.get(group.queue) ?? {};
    byQueue.set(group.queue, queue);
    for (const [name, fn] of Object.entries(group.activities)) {
      if (typeof fn !== 'function') throw new ActivityRegistrationError(`activity "${name}" of group "${group.name}" is not a function`);
      if (group.prefix !== undefined && !name.startsWith(group.prefix)) {
        throw new ActivityRegistrationError(`activity "${name}" of group "${group.name}" must start with its prefix "${group.prefix}"`);
      }
      const other = groupOf.get(name);
      if (other !== undefined) throw new ActivityRegistrationError(`activity "${name}" is declared by both "${other}" and "${group.name}"; activity names must be unique across groups`);
      groupOf.set(name, group.name);
      queue[name] = fn;
    }
  }
  return {
    forQueue: (queue) => ({ ...(byQueue.get(queue) ?? {}) }),
    groupOf,
  };
}
