"""Envelope encryption of message text: KMS data keys per conversation, AES-256-GCM values."""
