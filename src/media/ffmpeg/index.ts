export { clearFfmpegResolutionCache, ffmpegCandidates, ffmpegVersion, resolveFfmpeg, resolveFfprobe, SOURCE_LABELS } from './ffmpegBinary.js';
export type { BinarySource, FfmpegCandidate, ResolvedBinary, ResolveOptions } from './ffmpegBinary.js';
export { capabilityChecks, ffmpegCapabilities, requireUsableFfmpeg } from './capabilities.js';
export type { CapabilityCheck, FfmpegCapabilities } from './capabilities.js';
export { FfmpegProcess, runFfmpeg, runFfprobe } from './FfmpegProcess.js';
export type { FfmpegExit, FfmpegProcessEvents, FfmpegProcessOptions, FfmpegProgress, RunOptions, RunResult, StopOptions } from './FfmpegProcess.js';
export { pipeTransfersActive, watchPipeTransfer } from './pipeTransfers.js';
