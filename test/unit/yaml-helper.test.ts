/** The YAML subset test/helpers/yaml.ts reads (the Kubernetes manifest's test relies on it). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseYamlDocuments } from '../helpers/yaml.js';

describe('YAML subset for the example manifests', () => {
  test('maps, sequences of scalars and of maps, flow sequences, quotes, numbers, comments, documents', () => {
    const text = [
      '# a comment',
      'kind: Deployment',
      'spec:',
      '  replicas: 3   # trailing comment',
      '  name: "a # not a comment"',
      "  quoted: 'it''s'",
      '  command: ["/bin/x", "--y=1", z]',
      '  args:',
      '    - "--bind=0.0.0.0:8000"',
      '    - server.js:app',
      '  ports:',
      '    - name: http',
      '      containerPort: 8000',
      '    - name: metrics',
      '      containerPort: 9000',
      '  same-column:',
      '  - a',
      '  on: true',
      '  off: null',
      '---',
      'kind: Service',
      'url: http://example.com:80/x',
    ].join('\n');
    assert.deepEqual(parseYamlDocuments(text), [
      {
        kind: 'Deployment',
        spec: {
          replicas: 3,
          name: 'a # not a comment',
          quoted: "it's",
          command: ['/bin/x', '--y=1', 'z'],
          args: ['--bind=0.0.0.0:8000', 'server.js:app'],
          ports: [
            { name: 'http', containerPort: 8000 },
            { name: 'metrics', containerPort: 9000 },
          ],
          'same-column': ['a'],
          on: true,
          off: null,
        },
      },
      { kind: 'Service', url: 'http://example.com:80/x' },
    ]);
  });

  test('outside the subset it throws instead of misreading', () => {
    assert.throws(() => parseYamlDocuments('a: |\n  text'), /not in the supported subset/);
    assert.throws(() => parseYamlDocuments('a: {b: 1}'), /not in the supported subset/);
    assert.throws(() => parseYamlDocuments('a: 1\n    b: 2'), /unexpected indentation/);
    assert.throws(() => parseYamlDocuments('a: 1\na: 2'), /duplicate key/);
    assert.throws(() => parseYamlDocuments('a:\n\t- b'), /tabs/);
  });
});
