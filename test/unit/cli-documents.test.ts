import { committedSchema, documentsUsedIn, validationErrors } from '../helpers/client-documents';

const schema = committedSchema();
const documents = documentsUsedIn('gateway/cli');

describe("the CLI's GraphQL documents", () => {
  test('every command sends generated documents (a sample of them is found)', () => {
    expect(documents.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'LoginDocument',
        'TokenGroupDocument',
        'OperationDocument',
        'OperationUpdatedDocument',
        'EnvCreateDocument',
        'EnvListDocument',
        'StartEnvironmentDocument',
        'DestroyEnvironmentDocument',
        'HostShowDocument',
        'AllocateDocument',
        'PlacementCandidatesDocument',
        'LayerUpdateDocument',
        'ShareGrantDocument',
        'SatisfiableNeedsDocument',
        'ReplicateNowDocument',
        'ReplicaRestoreDocument',
        'EventsDocument',
        'TopTargetsDocument',
        'HostMetricsDocument',
        'EnvironmentMetricsDocument',
        'SiteMetricsDocument',
      ]),
    );
  });

  test.each(documents)('%s is valid against the schema', (_name, document) => {
    expect(validationErrors(schema, document)).toEqual([]);
  });
});
