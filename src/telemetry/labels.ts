/**
 * Bounded host labels for metric attributes: the first `maxHosts` hosts seen are named (`server.address`,
 * `server.port`), the rest share `_other`, so that calling many hosts cannot explode a metric's series.
 */
import type { Attributes } from '@opentelemetry/api';
import { addressOf, portOf } from '../hosts/key.ts';
import * as semconv from './semconv.ts';

/**
 * One bounded host label (a named host, or `_other`): its metric attributes, made once, and its
 * attempts waiting for their headers per scheme.
 */
export interface Label {
  readonly metric: Readonly<Attributes>;
  /** Absent for a scheme never used: only schemes used are observed. */
  readonly active: { http?: number; https?: number };
}

/** What every attempt to one host shares: computed once per named host, not per attempt. */
export interface HostAttributes {
  readonly address: string;
  readonly port: number;
  readonly label: Label;
}

const OTHER = '_other';

export class HostLabels {
  readonly #maxHosts: number;
  /** Hosts named in metric attributes, each with its own label. */
  readonly #named = new Map<string, HostAttributes>();
  readonly other: Label = { metric: Object.freeze({ [semconv.ATTR_SERVER_ADDRESS]: OTHER }), active: {} };

  constructor(maxHosts: number) {
    this.#maxHosts = maxHosts;
  }

  /** The attributes of `host`; beyond `maxHosts`, its address and port are computed per use. */
  attributesOf(host: string): HostAttributes {
    const known = this.#named.get(host);
    if (known !== undefined) return known;
    const address = addressOf(host);
    const port = portOf(host);
    if (this.#named.size >= this.#maxHosts) return { address, port, label: this.other };
    const metric = Object.freeze({
      [semconv.ATTR_SERVER_ADDRESS]: address,
      [semconv.ATTR_SERVER_PORT]: port,
    });
    const attributes: HostAttributes = { address, port, label: { metric, active: {} } };
    this.#named.set(host, attributes);
    return attributes;
  }

  /** The metric attributes of `host`'s label. */
  metricOf(host: string): Readonly<Attributes> {
    return this.attributesOf(host).label.metric;
  }

  /** Every label in use: the named hosts', then `_other`. */
  *labels(): IterableIterator<Label> {
    for (const host of this.#named.values()) yield host.label;
    yield this.other;
  }
}
