/**
 * query-cpu-model-expansion (and comparison/baseline, which QEMU 10.2.2 does not have for Arm) as the
 * oracle answers them under `-accel qtest`: only `full` expansion; of the features QEMU advertises,
 * the modelled CPUs (cortex-a53, cortex-a57, max) have `aarch64` (cannot be disabled without KVM) and
 * `pmu`; a requested feature the CPU lacks is `Property '<model>-arm-cpu.<name>' not found`.
 */
import { arg } from '../args.js';
import { isJsonObject, type JsonObject } from '../json-value.js';
import { QmpError } from '../messages.js';
import { qdictKeyOrder } from '../qdict-order.js';
import { defineCommand } from '../registry.js';

/** The features QEMU offers to query-cpu-model-expansion, in the order it sets and prints them. */
const ADVERTISED = [
  'aarch64', 'pmu', 'sve',
  'sve128', 'sve256', 'sve384', 'sve512', 'sve640', 'sve768', 'sve896', 'sve1024',
  'sve1152', 'sve1280', 'sve1408', 'sve1536', 'sve1664', 'sve1792', 'sve1920', 'sve2048',
  'kvm-no-adjvtime', 'kvm-steal-time',
  'pauth', 'pauth-impdef', 'pauth-qarma3', 'pauth-qarma5',
];

/** What a modelled CPU has of them under qtest (oracle: the same for all three models). */
const QTEST_FEATURES: ReadonlySet<string> = new Set(['aarch64', 'pmu']);

export const cpuModelCommands = [
  defineCommand({
    name: 'query-cpu-model-expansion',
    args: { type: arg.str(), model: arg.any() },
    run(args, { host }) {
      if (args.type !== 'full') throw QmpError.generic('The requested expansion type is not supported');
      const model = args.model as JsonObject;
      const name = model.name as string;
      if (name === 'host') throw QmpError.generic(`The CPU type '${name}' requires KVM`);
      if (!host.cpuModels().includes(name))
        throw QmpError.generic(`The CPU type '${name}' is not a recognized ARM CPU type`);
      const values: Record<string, boolean> = { aarch64: true, pmu: true };
      const props = model.props;
      if (props !== undefined) {
        if (!isJsonObject(props)) throw QmpError.generic("Invalid parameter type for 'model.props', expected: object");
        for (const feature of ADVERTISED) {
          if (!Object.prototype.hasOwnProperty.call(props, feature)) continue;
          if (!QTEST_FEATURES.has(feature)) throw QmpError.generic(`Property '${name}-arm-cpu.${feature}' not found`);
          const v = props[feature];
          if (typeof v !== 'boolean')
            throw QmpError.generic(`Invalid parameter type for 'model.props.${feature}', expected: boolean`);
          if (feature === 'aarch64' && !v)
            throw QmpError.generic(
              "'aarch64' feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported",
            );
          values[feature] = v;
        }
        const extra = qdictKeyOrder(Object.keys(props)).find((k) => !ADVERTISED.includes(k));
        if (extra !== undefined) throw QmpError.generic(`Parameter 'model.props.${extra}' is unexpected`);
      }
      const out: JsonObject = {};
      for (const feature of ADVERTISED) if (QTEST_FEATURES.has(feature)) out[feature] = values[feature]!;
      return { model: { name, props: out } };
    },
  }),
  defineCommand({
    name: 'query-cpu-model-comparison',
    args: { modela: arg.any(), modelb: arg.any() },
    run() {
      throw QmpError.generic('CPU model comparison is not supported on this target');
    },
  }),
  defineCommand({
    name: 'query-cpu-model-baseline',
    args: { modela: arg.any(), modelb: arg.any() },
    run() {
      throw QmpError.generic('CPU model baseline is not supported on this target');
    },
  }),
];
