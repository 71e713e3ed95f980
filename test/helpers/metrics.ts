/** An in-memory metric reader for the tests, and the data points of one metric. */
import { type DataPoint, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

/** A pull reader that only collects when asked. */
export class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Every data point of metric `name`, with its attributes. */
export async function points(reader: TestReader, name: string): Promise<Array<DataPoint<unknown>>> {
  const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
  return resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .filter((metric) => metric.descriptor.name === name)
    .flatMap((metric) => metric.dataPoints as Array<DataPoint<unknown>>);
}
