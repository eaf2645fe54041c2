/** /metrics written by prom-client (daemon/metrics.ts): the engine's counters and histogram, collectors' samples, process metrics. */
import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {testDaemon} from '../support/api-daemon.js';

test('the engine\'s counters and duration histogram keep their names and values', async () => {
  const daemon = testDaemon();
  try {
    daemon.engine.metrics.started('power');
    daemon.engine.metrics.completed('power', 30);
    daemon.engine.metrics.completed('power', 700);
    daemon.engine.metrics.failed('power');
    const text = await daemon.metrics.render();
    assert.match(text, /^layercake_mutations_started_total\{module="power"\} 1$/m);
    assert.match(text, /^layercake_mutations_failed_total\{module="power"\} 1$/m);
    assert.match(text, /^# TYPE layercake_mutation_duration_seconds histogram$/m);
    assert.match(text, /^layercake_mutation_duration_seconds_bucket\{module="power",le="0.05"\} 1$/m);
    assert.match(text, /^layercake_mutation_duration_seconds_bucket\{module="power",le="\+Inf"\} 2$/m);
    assert.match(text, /^layercake_mutation_duration_seconds_sum\{module="power"\} 0.73$/m);
    assert.match(text, /^layercake_mutation_duration_seconds_count\{module="power"\} 2$/m);
    assert.match(text, /^layercake_nodes 0$/m);
  } finally {
    daemon.close();
  }
});

test('a collector\'s samples are written with their type and escaped labels, and follow its values', async () => {
  const daemon = testDaemon();
  try {
    let dropped = 3;
    daemon.metrics.addCollector(() => [
      {name: 'layercake_test_dropped_total', help: 'Dropped', type: 'counter', labels: {reason: 'a "quoted"\\path'}, value: dropped},
      {name: 'layercake_test_peers', help: 'Peers', type: 'gauge', value: 2},
    ]);
    let text = await daemon.metrics.render();
    assert.match(text, /^# TYPE layercake_test_dropped_total counter$/m);
    assert.ok(text.includes('layercake_test_dropped_total{reason="a \\"quoted\\"\\\\path"} 3'), text);
    assert.match(text, /^layercake_test_peers 2$/m);
    dropped = 5;
    text = await daemon.metrics.render();
    assert.ok(text.includes('layercake_test_dropped_total{reason="a \\"quoted\\"\\\\path"} 5'));
  } finally {
    daemon.close();
  }
});

test('the process metrics come with them', async () => {
  const daemon = testDaemon();
  try {
    const text = await daemon.metrics.render();
    assert.match(text, /^# TYPE process_resident_memory_bytes gauge$/m);
    assert.match(text, /^# TYPE nodejs_eventloop_lag_seconds gauge$/m);
  } finally {
    daemon.close();
  }
});

test.run();
