export { startTemporalStandin, type RunningTemporalStandin, type TemporalStandinOptions } from './server';
export { type HttpApiHandler, type HttpApiOptions } from './http-api';
