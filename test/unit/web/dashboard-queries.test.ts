import { committedSchema, documentsUsedIn, validationErrors } from '../../helpers/client-documents';

const schema = committedSchema();
const documents = documentsUsedIn('web/src');

describe("the dashboard's GraphQL documents", () => {
  test('there are documents for every view', () => {
    expect(documents.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'ViewerDocument',
        'OverviewDocument',
        'GroupsDocument',
        'SitesDocument',
        'HostDocument',
        'EnvironmentDocument',
        'CapacityDocument',
        'OperationsDocument',
        'AlertsDocument',
        'HostMetricsDocument',
        'EnvironmentMetricsDocument',
        'SiteMetricsDocument',
        'OperationUpdatedDocument',
        'EventsDocument',
        'StartEnvironmentDocument',
        'ReplicationDocument',
        'EnvironmentReplicationDocument',
        'ReplicateNowDocument',
        'HostHistoryDocument',
        'EnvironmentHistoryDocument',
        'SiteHistoryDocument',
        'FormChoicesDocument',
        'EnvCreateDocument',
        'PlacementCandidatesDocument',
        'DestroyEnvironmentDocument',
        'ImageRegisterDocument',
        'ImageDeleteDocument',
        'ReplicationPolicyCreateDocument',
        'ReplicaRestoreDocument',
        'AllocationsDocument',
        'AllocateDocument',
        'AllocationApproveDocument',
        'AllocationRejectDocument',
        'SharingDocument',
        'ShareGrantDocument',
        'ShareRevokeDocument',
        'OfferPublishDocument',
        'OfferAcceptDocument',
        'NeedPublishDocument',
        'NeedGrantDocument',
        'HostDrainDocument',
        'HostDeleteDocument',
      ]),
    );
  });

  test.each(documents)('%s is valid against the schema', (_name, document) => {
    expect(validationErrors(schema, document)).toEqual([]);
  });
});
