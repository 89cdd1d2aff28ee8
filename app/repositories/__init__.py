"""Repositories: the only code that knows item keys and DynamoDB expressions."""
