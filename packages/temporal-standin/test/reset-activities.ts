/** Activities of the reset conformance tests: one that waits for the test to open a gate, and counts its runs. */
let openGate: () => void = () => undefined;
let gate = Promise.resolve();
export const gatedRuns = { started: 0, finished: 0 };

/** Closes the gate: `gated` calls wait until `open()`. */
export function closeGate(): { open(): void } {
  gate = new Promise<void>((resolve) => (openGate = resolve));
  return { open: () => openGate() };
}

export async function gated(name: string): Promise<string> {
  gatedRuns.started++;
  await gate;
  gatedRuns.finished++;
  return `gated ${name}`;
}
