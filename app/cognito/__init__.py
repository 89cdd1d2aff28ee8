"""Amazon Cognito user-pool triggers, deployed as AWS Lambda functions."""
