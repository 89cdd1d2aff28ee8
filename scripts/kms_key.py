"""The customer master key of ``encryption=kms`` on a local KMS (the embedded server's): made once.

In AWS the template creates the key and its alias; locally ``make run`` and the tests call
``ensure_key``, which creates a key and points the alias at it unless the alias exists.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from app.ddb import open_client
from app.settings import Settings


async def ensure_key(settings: Settings) -> bool:
    """Create the key named by ``settings.kms_key_id`` (an alias) if missing; True if created."""
    alias = settings.kms_key_id
    if not alias.startswith("alias/"):
        raise ValueError(f"a local key is made for an alias, not {alias!r}")
    async with AsyncExitStack() as stack:
        kms = await open_client(settings, stack, "kms")
        paginator = kms.get_paginator("list_aliases")
        async for page in paginator.paginate():
            if any(entry["AliasName"] == alias for entry in page.get("Aliases", [])):
                return False
        key = await kms.create_key(Description="cruddur-messaging message text (local)")
        key_id = key["KeyMetadata"]["KeyId"]
        await kms.enable_key_rotation(KeyId=key_id)
        await kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        return True
