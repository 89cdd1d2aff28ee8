"""cruddur-messaging: direct messages over a DynamoDB single-table design."""
