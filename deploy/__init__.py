"""Deployment to AWS: CloudFormation template, Lambda packaging, IAM grant lists (README.md)."""
