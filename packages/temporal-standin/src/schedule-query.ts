/**
 * The `query` of ListSchedules, as the server takes it (frontend ListSchedules, scheduler.ValidateVisibilityQuery
 * and RewriteScheduleIDQuery): a visibility query (the language of `visibility.ts`) over the schedules' search
 * attributes. It may name the namespace's custom search attributes, `TemporalSchedulePaused` (Bool) and `ScheduleId`
 * (Keyword, the server's rewrite to the schedule's WorkflowId); any other system or Temporal-reserved attribute is
 * INVALID_ARGUMENT "invalid query filter for schedules: cannot filter on ...".
 */
import { invalidArgument, type Msg } from './proto';
import { type Column, compileQuery, isReservedAttribute, listFilter, type QueryAttributes, storedValue, unknownAttribute, VALUE_TYPE } from './visibility';

/** The values a schedule is filtered on: its id, paused state and custom search attributes. */
export interface ScheduleFields {
  scheduleId: string;
  paused: boolean;
  searchAttributes: Record<string, Msg> | undefined;
}

const PAUSED = 'TemporalSchedulePaused';
const SCHEDULE_ID = 'ScheduleId';
/** The field ScheduleId resolves to, as the server rewrites it. */
const SCHEDULE_ID_FIELD = 'WorkflowId';

/** The columns a schedule query may name, given the namespace's custom search attributes (name -> type). */
function scheduleAttributes(customAttributes: ReadonlyMap<string, number>): QueryAttributes<ScheduleFields> {
  return {
    resolve(alias: string): Column {
      const custom = customAttributes.get(alias);
      // A custom ScheduleId attribute is an ordinary one; otherwise ScheduleId stands for the schedule's id.
      if (custom !== undefined && !isReservedAttribute(alias)) return { alias, field: alias, type: custom };
      if (alias === PAUSED) return { alias, field: PAUSED, type: VALUE_TYPE.Bool };
      if (alias === SCHEDULE_ID) return { alias, field: SCHEDULE_ID_FIELD, type: VALUE_TYPE.Keyword };
      if (isReservedAttribute(alias)) throw invalidArgument(`invalid query filter for schedules: cannot filter on "${alias}"`);
      throw unknownAttribute(alias);
    },
    valueOf(schedule, column) {
      if (column.field === PAUSED) return schedule.paused;
      if (column.field === SCHEDULE_ID_FIELD) return schedule.scheduleId;
      return storedValue(schedule.searchAttributes?.[column.field], column.type);
    },
  };
}

/** Compiles `query` against the namespace's custom search attributes (name -> IndexedValueType). */
export function compileScheduleQuery(query: string | undefined, customAttributes: ReadonlyMap<string, number>): (fields: ScheduleFields) => boolean {
  return listFilter(compileQuery(query, scheduleAttributes(customAttributes)));
}
