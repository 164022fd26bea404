import type { Redis } from 'ioredis';
import { keySlot } from './redis-cluster.ts';

/**
 * Watches every command a client sends (direct, pipelined, inside MULTI) and records any Lua
 * script or transaction whose keys are not all in one hash slot, and any script with no key:
 * Redis Cluster and Tair's proxy mode refuse both. Standalone Redis accepts them, so without
 * this a change could bring CROSSSLOT back unnoticed by the standalone tests.
 */
export interface SlotWatch {
  /** Scripts and transactions seen. */
  checked: number;
  violations: string[];
  watch<T extends Redis>(client: T): T;
}

type Cmd = { name: string; args: unknown[]; getKeys(): Array<string | Buffer> };

export function slotWatch(): SlotWatch {
  const w: SlotWatch = {
    checked: 0,
    violations: [],
    watch(client) {
      const tx = new WeakMap<object, { keys: string[]; names: string[] }>();
      const send = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
      const check = (what: string, keys: string[]) => {
        w.checked += 1;
        const slots = new Set(keys.map(keySlot));
        if (slots.size > 1) w.violations.push(`${what} touches ${slots.size} slots: ${keys.join(' ')}`);
      };
      (client as unknown as { sendCommand: unknown }).sendCommand = (command: Cmd, stream?: object, ...rest: unknown[]) => {
        const name = command.name.toLowerCase();
        const keys = command.getKeys().map(String);
        const open = stream ? tx.get(stream) : undefined;
        if (name === 'multi' && stream) tx.set(stream, { keys: [], names: [] });
        else if (name === 'exec' && open && stream) {
          tx.delete(stream);
          check(`MULTI (${open.names.join(' ')})`, open.keys);
        } else if (open) {
          open.keys.push(...keys);
          open.names.push(name);
        }
        if (name === 'eval' || name === 'evalsha') {
          if (keys.length === 0) w.violations.push(`${name} with no key`);
          check(`script ${String(command.args[0]).slice(0, 12)}`, keys);
        }
        return send(command, stream, ...rest);
      };
      return client;
    },
  };
  return w;
}
