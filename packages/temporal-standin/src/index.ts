export { startTemporalStandin, type RunningTemporalStandin, type TemporalStandinOptions } from './server';
