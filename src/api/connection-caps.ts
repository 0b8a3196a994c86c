/**
 * Caps on long-lived connections (the live-progress SSE streams). Each holds a socket, a file descriptor and a timer
 * for as long as its client likes, so without a cap one client, or a crowd, could exhaust the process. Counted per
 * client address and in total; a slot is taken before any work and given back exactly once.
 */
import { isIPv6 } from 'node:net';

export type CapRefusal = 'total' | 'address';

export class ConnectionCaps {
  private open = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly limits: { total: number; perAddress: number }) {}

  /** Takes a slot for `address`: the function that gives it back (idempotent), or which cap refused it. */
  acquire(address: string): { release: () => void } | { refused: CapRefusal } {
    const key = addressKey(address);
    const fromAddress = this.perAddress.get(key) ?? 0;
    if (this.open >= this.limits.total) return { refused: 'total' };
    if (fromAddress >= this.limits.perAddress) return { refused: 'address' };
    this.open += 1;
    this.perAddress.set(key, fromAddress + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.open -= 1;
        const left = (this.perAddress.get(key) ?? 1) - 1;
        if (left === 0) this.perAddress.delete(key);
        else this.perAddress.set(key, left);
      },
    };
  }

  get openConnections(): number {
    return this.open;
  }
}

/**
 * One client's key: an IPv4 address as it is, an IPv6 address by its /64 (one subscriber is usually given a whole
 * /64, so counting single IPv6 addresses would let one client open a stream from each).
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('%')[0]!.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill('0'), ...tailParts] : headParts;
  return `${groups.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(':')}::/64`;
}
