"""Deployment to AWS: CloudFormation template, Lambda packaging, IAM derivation (README.md)."""
