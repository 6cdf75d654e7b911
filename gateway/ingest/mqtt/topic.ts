import { GatewayError } from '../../errors.ts';

/** What a telemetry topic says about the readings published to it. */
export type TopicIds = Partial<Record<IdField, string>>;
type IdField = 'group_id' | 'device_id';

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const PLACEHOLDER = /^\{(group_id|device_id)\}$/;

/**
 * The telemetry topic template (`mqtt.topic`, `iotgw/{group_id}/{device_id}/telemetry` by
 * default; config-schema.ts checks its shape). Its first level is the intake namespace: a topic
 * under it must match the template, or it is refused (a board with a wrong topic must hear about
 * it, not have its readings vanish); any other topic is none of intake's business.
 */
export class TopicTemplate {
  private readonly levels: readonly string[];

  constructor(readonly template: string) {
    this.levels = template.split('/');
  }

  /** The first level, which every intake topic starts with. */
  get namespace(): string {
    return this.levels[0];
  }

  /** The subscription filter that matches every telemetry topic: `iotgw/+/+/telemetry`. */
  get filter(): string {
    return this.levels.map((l) => (PLACEHOLDER.test(l) ? '+' : l)).join('/');
  }

  /** Whether intake takes publishes to this topic (it is under the namespace). */
  covers(topic: string): boolean {
    return topic === this.namespace || topic.startsWith(`${this.namespace}/`);
  }

  /**
   * The ids a telemetry topic carries. Throws `invalid_topic`, naming the level, when the topic
   * does not match the template or a placeholder's level is not a valid id.
   */
  parse(topic: string): TopicIds {
    const parts = topic.split('/');
    if (parts.length !== this.levels.length) throw mismatch(topic, this.template);
    const ids: TopicIds = {};
    for (let i = 0; i < parts.length; i++) {
      const field = PLACEHOLDER.exec(this.levels[i])?.[1] as IdField | undefined;
      if (!field) {
        if (parts[i] !== this.levels[i]) throw mismatch(topic, this.template);
        continue;
      }
      if (!ID_PATTERN.test(parts[i])) {
        throw new GatewayError('invalid_topic', `topic "${topic}": level ${i + 1} ("${parts[i]}") is not a valid ${field}: must be 1-64 characters of A-Z a-z 0-9 . _ : -`, 400);
      }
      ids[field] = parts[i];
    }
    return ids;
  }
}

const mismatch = (topic: string, template: string): GatewayError =>
  new GatewayError('invalid_topic', `topic "${topic}" does not match the telemetry topic ${template}`, 400);
