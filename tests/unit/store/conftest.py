"""Every token-store test here starts with no Fernet key, no provider options and no cached store."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(isolated_store_config: None) -> None:
    """See :func:`tests.support.stores.isolated_store_config`."""
