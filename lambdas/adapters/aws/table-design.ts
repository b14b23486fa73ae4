/**
 * The single DynamoDB table's key schema, shared by the CDK storage stack,
 * the local stand-ins and the metadata store adapter so they cannot drift.
 *
 * | attribute | holds                                             |
 * |-----------|---------------------------------------------------|
 * | pk        | item partition, e.g. `flow#42`                    |
 * | sk        | item sort key inside the partition, e.g. `meta`   |
 * | gsi1pk    | collection name, e.g. `flows#tenant-a` (optional) |
 * | gsi1sk    | order inside the collection, then pk for ties     |
 *
 * Access patterns: get/put/delete one item by (pk, sk); list one partition by
 * sk prefix (Query on the table); list a collection in order (Query on
 * `gsi1`); counters are items updated with ADD. No Scan serves a request.
 */
export const tableDesign = {
  partitionKey: 'pk',
  sortKey: 'sk',
  collectionIndex: { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;
