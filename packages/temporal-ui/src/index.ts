export { startTemporalUi, TEMPORAL_UI, type RunningTemporalUi, type TemporalUiOptions } from './server';
